// SPDX-License-Identifier: MIT
/// @file
/// Making and binding listening sockets the way Node (libuv) does, with errors that name the
/// system call.
#ifndef COCLUSTER_DETAIL_NET_SOCKET_OPS_HPP
#define COCLUSTER_DETAIL_NET_SOCKET_OPS_HPP

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "cocluster/config.hpp"
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

inline bool is_udp(address_type type) {
  return type == address_type::udp4 || type == address_type::udp6;
}

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

/// The shorter of `absolute` and its path relative to the current directory, if it fits in
/// `sun_path` (Node's primary does this: test-cluster-net-listen-relative-path).
inline std::optional<std::string> fitting_unix_path(const std::string& absolute) {
  constexpr std::size_t limit = sizeof(sockaddr_un{}.sun_path) - 1;
  std::string best = absolute;
  std::error_code ec;
  const auto cwd = std::filesystem::current_path(ec);
  if (!ec) {
    const auto relative = std::filesystem::path(absolute).lexically_relative(cwd).string();
    if (!relative.empty() && relative.size() < best.size())
      best = relative;
  }
  if (best.size() > limit)
    return std::nullopt;
  return best;
}

namespace socket_ops {

inline bind_failure failure(const char* syscall) {
  return {std::error_code(errno, std::system_category()), syscall};
}

inline bool set_flag(int fd, int level, int option) {
  const int one = 1;
  return ::setsockopt(fd, level, option, &one, sizeof one) == 0;
}

} // namespace socket_ops

/// Binds (and listens when `spec.backlog` is set). Every descriptor is close-on-exec and
/// non-blocking.
inline bound_socket bind_socket(const bind_spec& spec, std::optional<bind_failure>& failure) {
  using namespace socket_ops;
  bound_socket result;
  failure.reset();
  const bool udp = is_udp(spec.type);

  if (spec.fd) {
    const int fd = ::fcntl(*spec.fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
      failure = socket_ops::failure("dup");
      return result;
    }
    result.fd.reset(fd);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  } else if (spec.type == address_type::unix_socket) {
    const auto path = fitting_unix_path(spec.path);
    if (!path) {
      failure = bind_failure{std::make_error_code(std::errc::filename_too_long), "bind"};
      return result;
    }
    result.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!result.fd) {
      failure = socket_ops::failure("socket");
      return result;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path->c_str(), path->size() + 1);
    if (::bind(result.fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      failure = socket_ops::failure("bind");
      result.fd.reset();
      return result;
    }
    result.unlink_path = *path;
    if (spec.readable_all || spec.writable_all) {
      mode_t mode = S_IRUSR | S_IWUSR;
      if (spec.readable_all)
        mode |= S_IRGRP | S_IROTH;
      if (spec.writable_all)
        mode |= S_IWGRP | S_IWOTH;
      ::chmod(path->c_str(), mode);
    }
  } else {
    // TCP or UDP over IPv4/IPv6. No address: "::" dual-stack, falling back to 0.0.0.0.
    bool v6 = spec.type == address_type::ipv6 || spec.type == address_type::udp6;
    std::optional<asio::ip::address> ip;
    if (spec.address) {
      error_code parse_error;
      ip = asio::ip::make_address(*spec.address, parse_error);
      if (parse_error) {
        failure = bind_failure{std::make_error_code(std::errc::invalid_argument), "bind"};
        return result;
      }
      v6 = ip->is_v6();
    } else if (!udp) {
      v6 = true;
    }
    const int type = (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK;
    result.fd.reset(::socket(v6 ? AF_INET6 : AF_INET, type, 0));
    if (!result.fd && v6 && !spec.address && errno == EAFNOSUPPORT) {
      v6 = false;
      result.fd.reset(::socket(AF_INET, type, 0));
    }
    if (!result.fd) {
      failure = socket_ops::failure("socket");
      return result;
    }
    const int fd = result.fd.get();
    if (!udp || spec.reuse_address)
      set_flag(fd, SOL_SOCKET, SO_REUSEADDR);
    if (spec.reuse_port && !set_flag(fd, SOL_SOCKET, SO_REUSEPORT)) {
      failure = socket_ops::failure("setsockopt(SO_REUSEPORT)");
      result.fd.reset();
      return result;
    }
    if (v6) {
      const int v6_only = spec.ipv6_only ? 1 : 0;
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof v6_only);
    }
    sockaddr_storage storage{};
    socklen_t length;
    const auto port = static_cast<std::uint16_t>(spec.port);
    if (v6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(port);
      if (ip) {
        const auto bytes = ip->to_v6().to_bytes();
        std::memcpy(&in6->sin6_addr, bytes.data(), bytes.size());
        in6->sin6_scope_id = ip->to_v6().scope_id();
      } else {
        in6->sin6_addr = in6addr_any;
      }
      length = sizeof(sockaddr_in6);
    } else {
      auto* in = reinterpret_cast<sockaddr_in*>(&storage);
      in->sin_family = AF_INET;
      in->sin_port = htons(port);
      if (ip) {
        const auto bytes = ip->to_v4().to_bytes();
        std::memcpy(&in->sin_addr, bytes.data(), bytes.size());
      } else {
        in->sin_addr.s_addr = htonl(INADDR_ANY);
      }
      length = sizeof(sockaddr_in);
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
      failure = socket_ops::failure("bind");
      result.fd.reset();
      return result;
    }
  }

  if (spec.backlog && !udp && ::listen(result.fd.get(), *spec.backlog) != 0) {
    failure = socket_ops::failure("listen");
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
