// SPDX-License-Identifier: MIT
/// @file
/// What a bind is asked for (`bind_spec`), what it gives (`bound_socket`) and why it failed
/// (`bind_failure`, naming the system call as Node does).
#ifndef COCLUSTER_DETAIL_NET_BIND_SPEC_HPP
#define COCLUSTER_DETAIL_NET_BIND_SPEC_HPP

#include <cerrno>
#include <optional>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/listen_address.hpp"

namespace cocluster::detail {

/// What to bind.
struct bind_spec {
  address_type type = address_type::ipv4;
  std::optional<std::string> address; // null: any
  int port = 0;
  std::string path; // unix sockets
  bool ipv6_only = false;
  bool reuse_address = false; // UDP's reuseAddr (TCP listeners always get SO_REUSEADDR)
  bool reuse_port = false;
  bool readable_all = false;
  bool writable_all = false;
  std::optional<int> fd; // use this descriptor (duplicated)
  /// Listen with this backlog; nothing: bind only.
  std::optional<int> backlog;
};

/// A bound (maybe listening) socket.
struct bound_socket {
  unique_fd fd;
  /// Node's `sockname`: {address, family, port} for TCP; null for Unix sockets.
  nlohmann::json sockname;
  int port = 0;
  /// The Unix socket file to remove when the socket is closed.
  std::string unlink_path;
};

/// Why a bind failed: the error and the call that failed ("bind", "listen", "socket").
struct bind_failure {
  std::error_code code;
  std::string syscall;
};

/// The failure of `syscall`, which has just set `errno`.
inline bind_failure errno_failure(const char* syscall) {
  return {std::error_code(errno, std::system_category()), syscall};
}

/// Whether `type` is a datagram socket.
inline bool is_udp(address_type type) {
  return type == address_type::udp4 || type == address_type::udp6;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_BIND_SPEC_HPP
