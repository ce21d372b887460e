// SPDX-License-Identifier: MIT
/// @file
/// How the primary starts workers: Node's `cluster.settings`.
#ifndef COCLUSTER_SETTINGS_HPP
#define COCLUSTER_SETTINGS_HPP

#include <fcntl.h>
#include <sys/types.h>

#include <csignal>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "cocluster/detail/process/signal_names.hpp"

namespace cocluster {

/// One entry of a worker's stdio array (Node's `stdio` option); entry i becomes descriptor i of
/// the worker.
struct stdio_entry {
  /// What the descriptor is.
  enum class kind {
    inherit, ///< the primary's descriptor of the same number
    ignore,  ///< `/dev/null`
    pipe,    ///< a pipe whose other end the primary reads or writes (`worker::stdio_pipe`)
    ipc,     ///< the IPC channel (exactly one entry must be this)
    fd,      ///< a given descriptor of the primary
  };

  /// What the descriptor is (default: the primary's own).
  kind type = kind::inherit;
  /// For `kind::fd`: the primary's descriptor.
  int fd = -1;

  /// The primary's descriptor of the same number (Node's `"inherit"`).
  /// @return an entry of `kind::inherit`.
  static stdio_entry inherit() { return {kind::inherit, -1}; }
  /// `/dev/null` (Node's `"ignore"`).
  /// @return an entry of `kind::ignore`.
  static stdio_entry ignore() { return {kind::ignore, -1}; }
  /// A pipe to the primary (Node's `"pipe"`).
  /// @return an entry of `kind::pipe`.
  static stdio_entry pipe() { return {kind::pipe, -1}; }
  /// The IPC channel (Node's `"ipc"`).
  /// @return an entry of `kind::ipc`.
  static stdio_entry ipc() { return {kind::ipc, -1}; }
  /// The primary's descriptor `descriptor` (Node's integer entry).
  /// @param descriptor an open descriptor of the primary; it is duplicated into the worker at
  ///   fork. `settings::validate` rejects a negative or closed one.
  /// @return an entry of `kind::fd`.
  static stdio_entry from_fd(int descriptor) { return {kind::fd, descriptor}; }

  friend bool operator==(const stdio_entry&, const stdio_entry&) = default;
};

/// Settings for starting workers. A field left empty keeps its earlier or default value, as a
/// key left out of Node's `setupPrimary(settings)` does.
struct settings {
  /// The program to run. Default: this process's executable. A name without a slash is looked
  /// up in PATH; the program is run directly (no shell).
  std::optional<std::string> exec{};
  /// Its arguments (argv[1..]). Default: this process's arguments.
  std::optional<std::vector<std::string>> args{};
  /// Its working directory. Default: the primary's.
  std::optional<std::string> cwd{};
  /// Variables added to (or replacing those of) the primary's environment.
  std::optional<std::map<std::string, std::string>> env{};
  /// Pipe the worker's stdin, stdout and stderr to the primary instead of sharing the primary's.
  /// Default false.
  std::optional<bool> silent{};
  /// The worker's descriptors, overriding `silent`: exactly one `ipc` entry; at least three
  /// entries (missing ones become `ignore`).
  std::optional<std::vector<stdio_entry>> stdio{};
  /// The user the worker runs as.
  std::optional<uid_t> uid{};
  /// The group the worker runs as.
  std::optional<gid_t> gid{};
  /// The signal a worker gets if the primary dies (Linux's PR_SET_PDEATHSIG), so no worker
  /// outlives a killed primary, even a busy one; 0 for none. Default SIGKILL. It is sent when the
  /// thread that forked the worker ends: fork from the thread that runs the cluster.
  std::optional<int> parent_death_signal{};

  /// These settings with every field that `newer` sets replaced (Node's `{...old, ...new}`).
  /// @param newer the settings that win; a field it leaves empty keeps this one's value (a set
  ///   `env` replaces the whole map, it is not merged key by key).
  /// @return the merged settings; neither input changes.
  settings merged_with(const settings& newer) const {
    settings result = *this;
    if (newer.exec)
      result.exec = newer.exec;
    if (newer.args)
      result.args = newer.args;
    if (newer.cwd)
      result.cwd = newer.cwd;
    if (newer.env)
      result.env = newer.env;
    if (newer.silent)
      result.silent = newer.silent;
    if (newer.stdio)
      result.stdio = newer.stdio;
    if (newer.uid)
      result.uid = newer.uid;
    if (newer.gid)
      result.gid = newer.gid;
    if (newer.parent_death_signal)
      result.parent_death_signal = newer.parent_death_signal;
    return result;
  }

  /// Throws `std::invalid_argument` (or `std::system_error` for a descriptor that is not open)
  /// naming the first bad setting.
  void validate() const {
    if (exec) {
      if (exec->empty())
        bad("exec", "is empty");
      no_nul("exec", *exec);
    }
    if (args)
      for (std::size_t i = 0; i < args->size(); ++i)
        no_nul("args[" + std::to_string(i) + "]", (*args)[i]);
    if (cwd) {
      if (cwd->empty())
        bad("cwd", "is empty");
      no_nul("cwd", *cwd);
    }
    if (env)
      for (const auto& [name, value] : *env) {
        if (name.empty() || name.find('=') != std::string::npos)
          bad("env", "has a bad variable name '" + name + "'");
        no_nul("env[" + name + "]", name + value);
      }
    if (stdio) {
      int ipc_entries = 0;
      for (std::size_t i = 0; i < stdio->size(); ++i) {
        const auto& entry = (*stdio)[i];
        if (entry.type == stdio_entry::kind::ipc)
          ++ipc_entries;
        if (entry.type == stdio_entry::kind::fd) {
          if (entry.fd < 0)
            bad("stdio[" + std::to_string(i) + "]", "has a negative descriptor");
          if (::fcntl(entry.fd, F_GETFD) < 0)
            throw std::system_error(errno, std::system_category(),
                                    "cocluster: settings.stdio[" + std::to_string(i) +
                                        "]: descriptor " + std::to_string(entry.fd) +
                                        " is not open");
        }
      }
      if (ipc_entries != 1)
        bad("stdio", "must have exactly one ipc entry, has " + std::to_string(ipc_entries));
    }
    if (uid && *uid == static_cast<uid_t>(-1))
      bad("uid", "is -1");
    if (gid && *gid == static_cast<gid_t>(-1))
      bad("gid", "is -1");
    if (parent_death_signal && *parent_death_signal != 0 &&
        !detail::is_valid_signal(*parent_death_signal))
      bad("parent_death_signal", "is not a signal number");
  }

  /// The stdio array in effect: `stdio` if set, else from `silent`, padded to three entries.
  /// @return entry i for the worker's descriptor i: `stdio` as given, or three pipes (silent) or
  ///   three inherited descriptors, then the IPC channel as descriptor 3.
  std::vector<stdio_entry> effective_stdio() const {
    std::vector<stdio_entry> result;
    if (stdio)
      result = *stdio;
    else if (silent.value_or(false))
      result = {stdio_entry::pipe(), stdio_entry::pipe(), stdio_entry::pipe(), stdio_entry::ipc()};
    else
      result = {stdio_entry::inherit(), stdio_entry::inherit(), stdio_entry::inherit(),
                stdio_entry::ipc()};
    while (result.size() < 3)
      result.push_back(stdio_entry::ignore());
    return result;
  }

  friend bool operator==(const settings&, const settings&) = default;

private:
  [[noreturn]] static void bad(const std::string& setting, const std::string& what) {
    throw std::invalid_argument("cocluster: settings." + setting + " " + what);
  }

  static void no_nul(const std::string& setting, std::string_view text) {
    if (text.find('\0') != std::string_view::npos)
      bad(setting, "contains a NUL character");
  }
};

} // namespace cocluster

#endif // COCLUSTER_SETTINGS_HPP
