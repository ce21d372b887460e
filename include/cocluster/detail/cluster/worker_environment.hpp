// SPDX-License-Identifier: MIT
/// @file
/// Reads (and removes) the variables that make a process a cluster worker.
#ifndef COCLUSTER_DETAIL_CLUSTER_WORKER_ENVIRONMENT_HPP
#define COCLUSTER_DETAIL_CLUSTER_WORKER_ENVIRONMENT_HPP

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/ipc/routing.hpp"

namespace cocluster::detail {

/// What Node's `child_process.fork` gives a cluster worker.
struct worker_environment {
  int id = 0;
  int channel_fd = -1;
  std::string serialization_mode = "json";
  /// The primary is a cocluster primary (`routing::env_primary` names this worker's id): it
  /// routes worker-to-worker messages.
  bool cocluster_primary = false;
};

inline std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

/// Returns nothing when `NODE_UNIQUE_ID` is not set (this process is a primary). Otherwise reads
/// `NODE_UNIQUE_ID`, `NODE_CHANNEL_FD` and `NODE_CHANNEL_SERIALIZATION_MODE` (and cocluster's
/// `COCLUSTER_PRIMARY`), removes them from the environment (so this worker's own children do not inherit them, as in Node), checks
/// that the channel is a stream socket, and makes it close-on-exec.
/// @throws std::invalid_argument or std::system_error naming what is wrong.
inline std::optional<worker_environment> take_worker_environment() {
  const char* unique_id = std::getenv(protocol::env_unique_id);
  if (unique_id == nullptr)
    return std::nullopt;
  worker_environment result;
  const std::string id_text = unique_id;
  const char* fd_text = std::getenv(protocol::env_channel_fd);
  const std::string channel_text = fd_text ? fd_text : "";
  const char* mode_text = std::getenv(protocol::env_serialization_mode);
  if (mode_text != nullptr && *mode_text != '\0')
    result.serialization_mode = mode_text;
  const char* primary_text = std::getenv(routing::env_primary);
  result.cocluster_primary = primary_text != nullptr && id_text == primary_text;
  ::unsetenv(routing::env_primary);
  ::unsetenv(protocol::env_unique_id);
  ::unsetenv(protocol::env_channel_fd);
  ::unsetenv(protocol::env_serialization_mode);

  const auto id = parse_int(id_text);
  if (!id || *id < 0)
    throw std::invalid_argument("cocluster: NODE_UNIQUE_ID is not a worker id: '" + id_text + "'");
  result.id = *id;
  if (fd_text == nullptr)
    throw std::invalid_argument(
        "cocluster: NODE_UNIQUE_ID is set but NODE_CHANNEL_FD is not: this process was not "
        "started as a cluster worker");
  const auto fd = parse_int(channel_text);
  if (!fd || *fd < 0)
    throw std::invalid_argument("cocluster: NODE_CHANNEL_FD is not a descriptor: '" + channel_text +
                                "'");
  struct stat info{};
  if (::fstat(*fd, &info) != 0)
    throw std::system_error(errno, std::system_category(),
                            "cocluster: NODE_CHANNEL_FD " + channel_text);
  int type = 0;
  socklen_t length = sizeof(type);
  if (!S_ISSOCK(info.st_mode) || ::getsockopt(*fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 ||
      type != SOCK_STREAM)
    throw std::invalid_argument("cocluster: NODE_CHANNEL_FD " + channel_text +
                                " is not a stream socket");
  ::fcntl(*fd, F_SETFD, FD_CLOEXEC);
  result.channel_fd = *fd;
  return result;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CLUSTER_WORKER_ENVIRONMENT_HPP
