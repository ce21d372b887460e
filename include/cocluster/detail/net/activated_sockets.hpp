// SPDX-License-Identifier: MIT
/// @file
/// The sockets systemd passed this process (socket activation), adopted by the primary: read
/// from the environment once, the variables unset, every descriptor made close-on-exec and
/// described by the kernel, so that a worker's listen on the same address (or for the same
/// `FileDescriptorName=`) gets the activated socket. Implemented here rather than with
/// libsystemd's `sd_listen_fds`, so that the library stays header-only with no link dependency.
#ifndef COCLUSTER_DETAIL_NET_ACTIVATED_SOCKETS_HPP
#define COCLUSTER_DETAIL_NET_ACTIVATED_SOCKETS_HPP

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cocluster/detail/net/listen_request.hpp"
#include "cocluster/detail/systemd/activation.hpp"
#include "cocluster/detail/systemd/handover.hpp"
#include "cocluster/listen_address.hpp"

namespace cocluster::detail {

/// The activated sockets of this process.
class activated_sockets {
public:
  /// The process's sockets: the environment is read (and LISTEN_PID, LISTEN_FDS and
  /// LISTEN_FDNAMES unset) on the first call, from the primary's first cluster. The descriptors
  /// stay open for the life of the process: listeners use duplicates, so a port whose last
  /// worker leaves keeps its socket, and connections wait in it as under systemd.
  static const activated_sockets& adopted() {
    static const activated_sockets sockets = from_environment();
    return sockets;
  }

  /// Reads and unsets the variables; adopts the descriptors they name. A primary started by a
  /// hot upgrade finds its predecessor's sockets in cocluster's variables instead
  /// (detail/systemd/handover.hpp: meant for the child of COCLUSTER_LISTEN_PARENT, which stays
  /// set for the supervisor's ready pipe); systemd's were spent by the first primary.
  static activated_sockets from_environment() {
    activated_sockets result;
    const auto handed = parse_listen_fds(std::getenv(handover_parent_variable),
                                         std::getenv(handover_fds_variable),
                                         std::getenv(handover_names_variable),
                                         static_cast<long long>(::getppid()));
    const auto passed = handed
                            ? handed
                            : parse_listen_fds(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"),
                                               std::getenv("LISTEN_FDNAMES"), ::getpid());
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    ::unsetenv(handover_fds_variable);
    ::unsetenv(handover_names_variable);
    if (!passed)
      return result;
    for (int i = 0; i < passed->count; ++i) {
      const int fd = listen_fds_start + i;
      const int flags = ::fcntl(fd, F_GETFD);
      if (flags < 0)
        continue; // not open: nothing to adopt
      ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
      auto described = describe(fd, passed->names[static_cast<std::size_t>(i)]);
      (taken_by_name_only(described.name) ? result.by_name_only_ : result.sockets_)
          .push_back(std::move(described));
    }
    return result;
  }

  /// The sockets, in the order systemd passed them.
  std::span<const activated_socket> sockets() const noexcept { return sockets_; }

  /// A socket a hot upgrade passed to be taken by its name only (`taken_by_name_only`), or
  /// null.
  const activated_socket* named(std::string_view name) const {
    for (const auto& s : by_name_only_)
      if (s.name == name)
        return &s;
    return nullptr;
  }

  /// The descriptor a listen takes (`match_activated`), or nothing: it binds as without
  /// activation. A descriptor listen (`tcp_listen_options::fd`) is never matched.
  /// A socket a hot upgrade passed for the listener `key` (`handover_key_name`) comes first.
  std::optional<int> find(const listen_request& request, std::string_view key = {}) const {
    if (sockets_.empty() || request.descriptor())
      return std::nullopt;
    if (!key.empty())
      for (const auto& s : sockets_)
        if (s.name == handover_key_name(key))
          return s.fd;
    listen_wish wish;
    wish.kind = is_udp(request.type)                        ? activated_kind::udp
                : request.type == address_type::unix_socket ? activated_kind::unix_stream
                                                            : activated_kind::tcp;
    if (wish.kind == activated_kind::unix_stream)
      wish.path = request.address.value_or("");
    else
      wish.address = request.address;
    wish.port = request.port;
    wish.name = request.systemd_name;
    const auto index = match_activated(wish, sockets_);
    if (!index)
      return std::nullopt;
    return sockets_[*index].fd;
  }

  /// Whether `fd` is a socket in the listening state (SO_ACCEPTCONN).
  static bool is_listening(int fd) {
    int accepting = 0;
    socklen_t length = sizeof accepting;
    return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting;
  }

private:
  // What the kernel says the descriptor is.
  static activated_socket describe(int fd, std::string name) {
    activated_socket s;
    s.fd = fd;
    s.name = std::move(name);
    int type = 0;
    socklen_t type_length = sizeof type;
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0)
      return s; // not a socket: `other`
    char text[INET6_ADDRSTRLEN] = {};
    if (storage.ss_family == AF_INET || storage.ss_family == AF_INET6) {
      if (type != SOCK_STREAM && type != SOCK_DGRAM)
        return s;
      s.kind = type == SOCK_STREAM ? activated_kind::tcp : activated_kind::udp;
      if (storage.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
        ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        s.port = ntohs(in->sin_port);
      } else {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        s.port = ntohs(in6->sin6_port);
      }
      s.address = text;
    } else if (storage.ss_family == AF_UNIX && type == SOCK_STREAM) {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage);
      const std::size_t offset = offsetof(sockaddr_un, sun_path);
      if (length > offset && un->sun_path[0] != '\0') {
        s.kind = activated_kind::unix_stream;
        s.path.assign(un->sun_path, ::strnlen(un->sun_path, length - offset));
      }
    }
    return s;
  }

  std::vector<activated_socket> sockets_;
  std::vector<activated_socket> by_name_only_; // (a hot upgrade's, under reuse_port)
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_ACTIVATED_SOCKETS_HPP
