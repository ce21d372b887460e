// SPDX-License-Identifier: MIT
/// @file
/// Turns cluster settings into a started worker process with its IPC socket and stdio: the glue
/// between the cluster's settings, Node's environment variables (the wire protocol's) and the
/// process layer's spawn, which knows none of them.
#ifndef COCLUSTER_DETAIL_CLUSTER_LAUNCH_HPP
#define COCLUSTER_DETAIL_CLUSTER_LAUNCH_HPP

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/ipc/routing.hpp"
#include "cocluster/detail/process/environment.hpp"
#include "cocluster/detail/process/spawn.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/events.hpp"
#include "cocluster/settings.hpp"

namespace cocluster::detail {

/// A started (or failed) worker process.
struct launched_worker {
  pid_t pid = -1;
  unique_fd pidfd;
  /// The primary's end of the IPC socket (non-blocking is set by the channel).
  unique_fd channel;
  /// The primary's ends of `pipe` stdio entries.
  std::map<int, unique_fd> pipes;
  /// Set when the process could not be started; `pid` is then > 0 if the child exists (it
  /// exited with 127 and must be reaped), -1 otherwise.
  worker_error failure;
};

inline unique_fd socket_pair_end(unique_fd& other) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
    throw std::system_error(errno, std::system_category(), "cocluster: fork: socketpair");
  other.reset(ends[1]);
  return unique_fd(ends[0]);
}

/// Starts worker `id` as `current` says. `current` must be complete (defaults filled in) and
/// valid; `extra_env` is `fork(env)`'s argument. Errors of the primary's own resources
/// (socketpair, /dev/null) throw `std::system_error`; errors of the child's start are reported in
/// `failure`.
inline launched_worker launch_worker(const settings& current,
                                     const std::map<std::string, std::string>& extra_env, int id,
                                     std::string_view serialization_mode) {
  launched_worker result;
  spawn_request request;

  // Descriptors: the IPC socket and stdio (child ends are closed here when this returns).
  std::vector<unique_fd> child_ends;
  unique_fd dev_null;
  int channel_index = -1;
  const auto stdio = current.effective_stdio();
  for (std::size_t i = 0; i < stdio.size(); ++i) {
    const int index = static_cast<int>(i);
    const auto& entry = stdio[i];
    switch (entry.type) {
    case stdio_entry::kind::ipc: {
      unique_fd child;
      result.channel = socket_pair_end(child);
      request.fds.emplace_back(index, child.get());
      child_ends.push_back(std::move(child));
      channel_index = index;
      break;
    }
    case stdio_entry::kind::pipe: {
      unique_fd child;
      result.pipes.emplace(index, socket_pair_end(child));
      request.fds.emplace_back(index, child.get());
      child_ends.push_back(std::move(child));
      break;
    }
    case stdio_entry::kind::fd: request.fds.emplace_back(index, entry.fd); break;
    case stdio_entry::kind::inherit:
      if (::fcntl(index, F_GETFD) >= 0) {
        request.fds.emplace_back(index, index);
        break;
      }
      [[fallthrough]]; // the primary has no such descriptor: give the child /dev/null
    case stdio_entry::kind::ignore:
      if (!dev_null) {
        dev_null.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (!dev_null)
          throw std::system_error(errno, std::system_category(), "cocluster: fork: /dev/null");
      }
      request.fds.emplace_back(index, dev_null.get());
      break;
    }
  }

  // Environment: the primary's, then settings.env, then fork(env), then Node's variables.
  auto env = current_environment();
  if (current.env)
    for (const auto& [name, value] : *current.env)
      env[name] = value;
  for (const auto& [name, value] : extra_env)
    env[name] = value;
  env[protocol::env_unique_id] = std::to_string(id);
  env[protocol::env_channel_fd] = std::to_string(channel_index);
  env[protocol::env_serialization_mode] = std::string(serialization_mode);
  env[routing::env_primary] = std::to_string(id); // this primary routes worker-to-worker messages
  for (const auto& [name, value] : env)
    request.env.push_back(name + "=" + value);

  const std::string& exec = current.exec.value();
  auto path_it = env.find("PATH");
  const auto path = find_executable(exec, path_it == env.end() ? "" : path_it->second);
  if (!path) {
    result.failure = {std::make_error_code(std::errc::no_such_file_or_directory),
                      "cocluster: worker " + std::to_string(id) + ": exec '" + exec +
                          "': not found in PATH"};
    return result;
  }
  request.path = *path;
  request.argv.push_back(exec);
  if (current.args)
    request.argv.insert(request.argv.end(), current.args->begin(), current.args->end());
  request.cwd = current.cwd;
  request.uid = current.uid;
  request.gid = current.gid;
  request.parent_death_signal = current.parent_death_signal.value_or(SIGKILL);

  auto spawned = spawn(request);
  result.pid = spawned.pid;
  result.pidfd = std::move(spawned.pidfd);
  if (spawned.error) {
    std::string what = "cocluster: worker " + std::to_string(id) + ": " +
                       to_string(spawned.failed_step);
    if (spawned.failed_step == spawn_step::exec)
      what += " " + request.path;
    else if (spawned.failed_step == spawn_step::chdir)
      what += " " + request.cwd.value_or("");
    what += ": " + spawned.error.message();
    result.failure = {spawned.error, std::move(what)};
  }
  return result;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CLUSTER_LAUNCH_HPP
