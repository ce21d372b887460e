// SPDX-License-Identifier: MIT
/// @file
/// What a worker listens on: the payload of the `listening` event, and the address type of
/// Node's messages.
///
/// It sits in the foundation layer, not in net/: the worker layer (whose `listening` event
/// carries it) and the net layer (which makes it) are of one rank and may not include each
/// other, so a plain type both need lives below both. It depends on nothing but the standard
/// library.
#ifndef COCLUSTER_LISTEN_ADDRESS_HPP
#define COCLUSTER_LISTEN_ADDRESS_HPP

#include <optional>
#include <string>

namespace cocluster {

/// Node's `addressType`: 4, 6, -1 (Unix socket), "udp4" or "udp6".
enum class address_type { ipv4 = 4, ipv6 = 6, unix_socket = -1, udp4 = 104, udp6 = 106 };

/// What a worker listens on (Node's `listening` event argument: address, port, addressType,
/// fd). `address` is the one the worker asked for (empty for "any"), not the bound one.
struct listen_address {
  /// The host the worker asked for (unset for any address); for a Unix socket, its absolute
  /// path; unset for a descriptor.
  std::optional<std::string> address;
  /// The port listened on (the one picked when 0 was asked for); -1 for a Unix socket or a
  /// descriptor.
  int port = 0;
  /// The kind of socket: TCP over IPv4 or IPv6, Unix (also for a descriptor, as Node reports
  /// it), or UDP.
  address_type type = address_type::ipv4;
  /// The primary's descriptor, for a server that listens on one (`tcp_listen_options::fd`).
  std::optional<int> fd;

  friend bool operator==(const listen_address&, const listen_address&) = default;
};

} // namespace cocluster

#endif // COCLUSTER_LISTEN_ADDRESS_HPP
