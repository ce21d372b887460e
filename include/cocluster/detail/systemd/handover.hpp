// SPDX-License-Identifier: MIT
/// @file
/// The hot upgrade of a primary, the decisions: what the old primary passes the new one (its
/// listening sockets as descriptors from 3, named in variables that mirror socket activation's,
/// and a pipe on which the new one says it is ready), and how the new one reads them. Pure
/// functions, no I/O: the supervisor starts the process, the listeners adopt the sockets.
///
/// The variables are cocluster's own rather than LISTEN_FDS/LISTEN_PID: LISTEN_PID must hold
/// the new process's pid, known only after the fork, and cocluster's spawn prepares the whole
/// environment before it (no code of ours runs in the child between fork and exec). Instead
/// COCLUSTER_LISTEN_PARENT names the old primary, and the new one adopts the descriptors only
/// when that is its parent: a worker or any later process that inherits stale variables has
/// another parent, as a process that is not LISTEN_PID ignores systemd's.
#ifndef COCLUSTER_DETAIL_SYSTEMD_HANDOVER_HPP
#define COCLUSTER_DETAIL_SYSTEMD_HANDOVER_HPP

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cocluster/detail/systemd/activation.hpp"

namespace cocluster::detail {

/// How many sockets the old primary passes, from `listen_fds_start` (as LISTEN_FDS).
inline constexpr const char* handover_fds_variable = "COCLUSTER_LISTEN_FDS";
/// Their names, ':'-separated (as LISTEN_FDNAMES).
inline constexpr const char* handover_names_variable = "COCLUSTER_LISTEN_FDNAMES";
/// The old primary's pid: the variables are for its child only.
inline constexpr const char* handover_parent_variable = "COCLUSTER_LISTEN_PARENT";
/// The descriptor of the pipe on which the new primary writes `handover_ready_message`.
inline constexpr const char* handover_ready_variable = "COCLUSTER_UPGRADE_READY_FD";
/// What the new primary writes once its pool is ready.
inline constexpr std::string_view handover_ready_message = "READY=1\n";

/// One socket to pass: the descriptor in the old primary and its name.
struct handover_socket {
  /// The descriptor in the old primary.
  int fd = -1;
  /// Its name (systemd's `FileDescriptorName=`, or "unknown").
  std::string name = "unknown";
};

/// The name of a variable entry ("NAME=value" -> "NAME").
inline std::string_view variable_name(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

/// Whether a variable of the old primary's environment stays out of the new one's: systemd's
/// activation variables (spent: the sockets now come as the old primary's), WATCHDOG_PID (the
/// old primary's pid; without it the watchdog is the new primary's, as `sd_watchdog_enabled`
/// reads it) and earlier hand-over variables.
inline bool dropped_at_handover(std::string_view name) {
  for (std::string_view dropped :
       {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID", handover_fds_variable,
        handover_names_variable, handover_parent_variable, handover_ready_variable})
    if (name == dropped)
      return true;
  return false;
}

/// The new primary's environment: `current` ("NAME=value" entries) without what
/// `dropped_at_handover` names, plus the hand-over variables for `names.size()` sockets (none
/// when there is no socket) and the ready pipe at descriptor `ready_fd`. A name holding ':'
/// (the separator) or empty is passed as "unknown".
inline std::vector<std::string> handover_environment(std::span<const std::string> current,
                                                     std::span<const std::string> names,
                                                     int ready_fd, long long parent_pid) {
  std::vector<std::string> env;
  for (const auto& entry : current)
    if (!dropped_at_handover(variable_name(entry)))
      env.push_back(entry);
  if (!names.empty()) {
    std::string joined;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i != 0)
        joined += ':';
      const bool usable = !names[i].empty() && names[i].find(':') == std::string::npos;
      joined += usable ? names[i] : std::string("unknown");
    }
    env.push_back(std::string(handover_fds_variable) + "=" + std::to_string(names.size()));
    env.push_back(std::string(handover_names_variable) + "=" + joined);
  }
  env.push_back(std::string(handover_parent_variable) + "=" + std::to_string(parent_pid));
  env.push_back(std::string(handover_ready_variable) + "=" + std::to_string(ready_fd));
  return env;
}

/// The new primary's descriptors, as (descriptor in the child, descriptor in the old primary):
/// stdin, stdout and stderr as they are, the sockets from `listen_fds_start` in order, and the
/// ready pipe right after them (its number is returned in `ready_target`).
inline std::vector<std::pair<int, int>> handover_descriptors(std::span<const int> sockets,
                                                             int ready_pipe, int& ready_target) {
  std::vector<std::pair<int, int>> fds{{0, 0}, {1, 1}, {2, 2}};
  int target = listen_fds_start;
  for (int fd : sockets)
    fds.emplace_back(target++, fd);
  ready_target = target;
  fds.emplace_back(target, ready_pipe);
  return fds;
}

/// In the new primary: the ready pipe's descriptor, when the variables are for this process
/// (`parent` is our parent's pid, `our_parent`) and the descriptor is above stderr; else
/// nothing.
inline std::optional<int> parse_handover_ready(const char* fd, const char* parent,
                                               long long our_parent) {
  if (!fd || !parent)
    return std::nullopt;
  const auto from = parse_decimal(parent);
  const auto number = parse_decimal(fd);
  if (!from || *from != our_parent || !number || *number <= 2 || *number > 1 << 30)
    return std::nullopt;
  return static_cast<int>(*number);
}

/// The indexes of `keys` to keep, the first of each key (two descriptors of one socket, such
/// as systemd's and a listener's duplicate of it, are passed once).
inline std::vector<std::size_t> first_of_each(std::span<const unsigned long long> keys) {
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    bool seen = false;
    for (std::size_t k : kept)
      seen = seen || keys[k] == keys[i];
    if (!seen)
      kept.push_back(i);
  }
  return kept;
}

/// The name under which a listener's socket is passed: its key in the primary's table, so that
/// the new primary's same listen takes it even when the port was 0 (an ephemeral port, which no
/// address match finds). ':' (the names' separator) and '%' are escaped as %3A and %25.
inline std::string handover_key_name(std::string_view key) {
  std::string name = "cocluster-listener=";
  for (char c : key) {
    if (c == '%')
      name += "%25";
    else if (c == ':')
      name += "%3A";
    else
      name += c;
  }
  return name;
}

/// Under reuse_port, the primary's reservation of a listener's port: the new primary reserves
/// the same port (it matters for port 0) and never adopts this socket.
inline std::string handover_port_name(std::string_view key) {
  return "cocluster-port=" + handover_key_name(key).substr(19);
}

/// Under reuse_port, a pool slot's socket: the new primary's worker in that slot listens on
/// it, so that nothing queued in it is lost when the old worker closes it.
inline std::string handover_slot_name(std::string_view key, int slot) {
  return "cocluster-slot=" + std::to_string(slot) + "=" + handover_key_name(key).substr(19);
}

/// Whether a passed socket is taken only by its name (a reservation or a slot's socket under
/// reuse_port), never by an address match.
inline bool taken_by_name_only(std::string_view name) {
  return name.starts_with("cocluster-port=") || name.starts_with("cocluster-slot=");
}

/// The program to run at an upgrade from the command this process was started with: argv[0]
/// made absolute against `cwd` (the directory at startup) without resolving symbolic links, so
/// that a link switched to a new release is followed, and a binary replaced at its path is the
/// new one (`/proc/self/exe` would still name the old, deleted file); leading "./" are dropped.
/// Nothing for a name without a '/' (the caller searches PATH, as the shell did) or an empty
/// one.
inline std::optional<std::string> upgrade_program(std::string_view argv0, std::string_view cwd) {
  if (argv0.empty() || argv0.find('/') == std::string_view::npos)
    return std::nullopt;
  if (argv0.front() == '/')
    return std::string(argv0);
  while (argv0.starts_with("./"))
    argv0.remove_prefix(2);
  std::string path(cwd);
  if (path.empty() || path.back() != '/')
    path += '/';
  path += argv0;
  return path;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SYSTEMD_HANDOVER_HPP
