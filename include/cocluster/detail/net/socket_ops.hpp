// SPDX-License-Identifier: MIT
/// @file
/// Making and binding listening sockets the way Node (libuv) does, with errors that name the
/// system call: `bind_socket` takes a descriptor given (`dup`), or binds a Unix socket
/// (`bind_unix.hpp`) or an inet one (`bind_inet.hpp`), then listens when asked.
#ifndef COCLUSTER_DETAIL_NET_SOCKET_OPS_HPP
#define COCLUSTER_DETAIL_NET_SOCKET_OPS_HPP

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cocluster/detail/net/bind_inet.hpp"
#include "cocluster/detail/net/bind_spec.hpp"
#include "cocluster/detail/net/bind_unix.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/listen_address.hpp"

namespace cocluster::detail {

/// Node's `sockname` object for a socket.
inline nlohmann::json sockname_of(int fd, int* port_out = nullptr) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0)
    return nullptr;
  char text[INET6_ADDRSTRLEN] = {};
  int port = 0;
  std::string family;
  if (storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    port = ntohs(in->sin_port);
    family = "IPv4";
  } else if (storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    port = ntohs(in6->sin6_port);
    family = "IPv6";
  } else {
    return nullptr;
  }
  if (port_out)
    *port_out = port;
  return {{"address", text}, {"family", family}, {"port", port}};
}

/// The local port of a socket, or 0.
inline int local_port(int fd) {
  int port = 0;
  sockname_of(fd, &port);
  return port;
}

/// A close-on-exec, non-blocking duplicate of `fd` (a descriptor the user or systemd gave).
inline bound_socket duplicate_socket(int fd, std::optional<bind_failure>& failure) {
  bound_socket result;
  result.fd.reset(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!result.fd) {
    failure = errno_failure("dup");
    return result;
  }
  ::fcntl(result.fd.get(), F_SETFL, ::fcntl(result.fd.get(), F_GETFL) | O_NONBLOCK);
  return result;
}

/// Binds (and listens when `spec.backlog` is set, for a stream socket). Every descriptor is
/// close-on-exec and non-blocking. On failure `failure` says why (the error and the call), the
/// result holds no descriptor, and no Unix socket file is left behind.
inline bound_socket bind_socket(const bind_spec& spec, std::optional<bind_failure>& failure) {
  failure.reset();
  auto result = spec.fd                                  ? duplicate_socket(*spec.fd, failure)
                : spec.type == address_type::unix_socket ? bind_unix(spec, failure)
                                                         : bind_inet(spec, failure);
  if (failure)
    return result;
  if (spec.backlog && !is_udp(spec.type) && ::listen(result.fd.get(), *spec.backlog) != 0) {
    failure = errno_failure("listen");
    if (!result.unlink_path.empty())
      ::unlink(result.unlink_path.c_str());
    result.fd.reset();
    return result;
  }
  result.sockname = sockname_of(result.fd.get(), &result.port);
  return result;
}

/// "bind 127.0.0.1:8000" / "bind /tmp/x.sock": how Node names a bind error.
inline std::string describe_bind(const std::string& syscall,
                                 const std::optional<std::string>& address, int port,
                                 address_type type, const std::string& path) {
  if (type == address_type::unix_socket)
    return syscall + " " + path;
  std::string host = address.value_or(type == address_type::ipv6 || type == address_type::udp6
                                          ? "::"
                                          : "0.0.0.0");
  if (host.find(':') != std::string::npos)
    host = "[" + host + "]";
  return syscall + " " + host + ":" + std::to_string(port);
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_SOCKET_OPS_HPP
