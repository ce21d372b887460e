// SPDX-License-Identifier: MIT
/// @file
/// Binding a TCP or UDP socket over IPv4 or IPv6, as libuv does: no address is "::"
/// dual-stack (0.0.0.0 where IPv6 is missing), TCP always with SO_REUSEADDR.
#ifndef COCLUSTER_DETAIL_NET_BIND_INET_HPP
#define COCLUSTER_DETAIL_NET_BIND_INET_HPP

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <system_error>

#include "cocluster/config.hpp"
#include "cocluster/detail/net/bind_spec.hpp"

namespace cocluster::detail {

namespace bind_inet_detail {

inline bool set_flag(int fd, int level, int option, int value = 1) {
  return ::setsockopt(fd, level, option, &value, sizeof value) == 0;
}

// The address to bind: `spec.address`, or "any" of the family the type asks for (IPv6 for TCP,
// dual-stack). Nothing when the address does not parse.
inline std::optional<asio::ip::address> address_of(const bind_spec& spec) {
  if (spec.address) {
    error_code parse_error;
    auto ip = asio::ip::make_address(*spec.address, parse_error);
    if (parse_error)
      return std::nullopt;
    return ip;
  }
  const bool v6 = spec.type == address_type::ipv6 || spec.type == address_type::udp6 ||
                  !is_udp(spec.type);
  return v6 ? asio::ip::address(asio::ip::address_v6::any())
            : asio::ip::address(asio::ip::address_v4::any());
}

} // namespace bind_inet_detail

/// Binds a close-on-exec, non-blocking TCP (`spec.type` ipv4/ipv6) or UDP (udp4/udp6) socket to
/// `spec.address` (or any) and `spec.port`, with SO_REUSEADDR (always for TCP; UDP's
/// `reuse_address`), SO_REUSEPORT (`reuse_port`) and IPV6_V6ONLY (`ipv6_only`) as asked. On
/// failure `failure` says why and the result holds no descriptor.
inline bound_socket bind_inet(const bind_spec& spec, std::optional<bind_failure>& failure) {
  using bind_inet_detail::set_flag;
  bound_socket result;
  auto ip = bind_inet_detail::address_of(spec);
  if (!ip) {
    failure = bind_failure{std::make_error_code(std::errc::invalid_argument), "bind"};
    return result;
  }
  const bool udp = is_udp(spec.type);
  const int type = (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK;
  result.fd.reset(::socket(ip->is_v6() ? AF_INET6 : AF_INET, type, 0));
  if (!result.fd && ip->is_v6() && !spec.address && errno == EAFNOSUPPORT) {
    ip = asio::ip::address_v4::any(); // no IPv6 here: "any" is 0.0.0.0
    result.fd.reset(::socket(AF_INET, type, 0));
  }
  if (!result.fd) {
    failure = errno_failure("socket");
    return result;
  }
  const int fd = result.fd.get();
  if (!udp || spec.reuse_address)
    set_flag(fd, SOL_SOCKET, SO_REUSEADDR);
  if (spec.reuse_port && !set_flag(fd, SOL_SOCKET, SO_REUSEPORT)) {
    failure = errno_failure("setsockopt(SO_REUSEPORT)");
    result.fd.reset();
    return result;
  }
  if (ip->is_v6())
    set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY, spec.ipv6_only ? 1 : 0);
  // (the sockaddr of a TCP endpoint, the same for UDP; an IPv6 address keeps its scope id)
  const asio::ip::tcp::endpoint endpoint(*ip, static_cast<std::uint16_t>(spec.port));
  if (::bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) {
    failure = errno_failure("bind");
    result.fd.reset();
  }
  return result;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_BIND_INET_HPP
