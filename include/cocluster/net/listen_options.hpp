// SPDX-License-Identifier: MIT
/// @file
/// Where a server listens: TCP, Unix socket, or UDP (Node's `server.listen(options)` and
/// `socket.bind(options)`).
///
/// These are built with constructors and `with_*` setters rather than designated initializers:
/// g++ 12 destroys a braced aggregate temporary twice when it appears in a `co_await`
/// expression, and `co_await cluster.listen(tcp_listen_options(8000))` is the natural way to
/// write a listen.
#ifndef COCLUSTER_NET_LISTEN_OPTIONS_HPP
#define COCLUSTER_NET_LISTEN_OPTIONS_HPP

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

namespace cocluster {

/// A TCP server. In a worker, every worker's server on the same address and port shares it
/// (and each worker's i-th concurrent `port = 0` server shares one port).
///
/// @par Example
/// A worker's share of port 8000 on the loopback address, with Node's `maxConnections`; under
/// systemd socket activation, the passed socket of a name (`examples/http_cluster/`):
/// @code
/// cocluster::tcp_listen_options listen(8000, "127.0.0.1");
/// listen.with_max_connections(1000); // one more is refused, handed to another worker
/// if (socket_name)
///   listen.with_systemd_name(*socket_name);
/// cocluster::tcp_server server = co_await cluster.listen(listen);
/// @endcode
struct tcp_listen_options {
  /// 0 picks a free port (the same one for every worker).
  int port = 0;
  /// An IPv4 or IPv6 address, or a host name resolved first. Empty: any address — `::`
  /// (dual-stack), or `0.0.0.0` where IPv6 is unavailable.
  std::optional<std::string> host;
  /// With an IPv6 address: IPv6 only (no IPv4-mapped connections).
  bool ipv6_only = false;
  /// The listen backlog (the first worker's wins, as in Node).
  int backlog = 511;
  /// Listen on this descriptor of the primary instead (Node's `listen({fd})`).
  std::optional<int> fd;
  /// Bind in the worker itself, shared with no one (Node's `exclusive: true`).
  bool exclusive = false;
  /// Refuse connections while this many are open (Node's `server.maxConnections`): a
  /// round-robin connection refused goes back to the primary and on to another worker.
  std::optional<std::size_t> max_connections;
  /// Under systemd socket activation: take the passed socket of this name
  /// (`FileDescriptorName=` of the .socket unit) whatever its address. Without one, or with a
  /// name no passed socket has, a listen takes the passed socket of its address, if any, and
  /// otherwise binds as without systemd.
  std::optional<std::string> systemd_name;

  /// A server on `listen_port` (0: a free port) of `listen_host` (empty: any address).
  /// @param listen_port the port, 0 to 65535 (not checked here); 0 asks for a free one, the
  ///   same for every worker.
  /// @param listen_host an IPv4 or IPv6 address or a host name; empty: `::` (dual-stack), or
  ///   `0.0.0.0` without IPv6.
  explicit tcp_listen_options(int listen_port = 0, std::optional<std::string> listen_host = {})
      : port(listen_port), host(std::move(listen_host)) {}

  /// Sets `host`; returns `*this`, as every `with_*` setter does.
  /// @param value an IPv4 or IPv6 address ("127.0.0.1", "::1") or a host name, resolved when the
  ///   listen starts.
  /// @return `*this`, for the next setter.
  tcp_listen_options& with_host(std::string value) {
    host = std::move(value);
    return *this;
  }
  /// Sets `ipv6_only`.
  /// @param value true for IPv6 only (with an IPv6 `host`; ignored with IPv4) (default true).
  /// @return `*this`, for the next setter.
  tcp_listen_options& with_ipv6_only(bool value = true) {
    ipv6_only = value;
    return *this;
  }
  /// Sets `backlog`.
  /// @param value the listen backlog passed to listen(2); the kernel caps it at `somaxconn`.
  /// @return `*this`, for the next setter.
  tcp_listen_options& with_backlog(int value) {
    backlog = value;
    return *this;
  }
  /// Sets `fd`.
  /// @param value an open listening socket of the primary, used instead of binding `host` and
  ///   `port`.
  /// @return `*this`, for the next setter.
  tcp_listen_options& with_fd(int value) {
    fd = value;
    return *this;
  }
  /// Sets `exclusive`.
  /// @param value true to bind in this worker alone, false to share with the cluster (default
  ///   true).
  /// @return `*this`, for the next setter.
  tcp_listen_options& with_exclusive(bool value = true) {
    exclusive = value;
    return *this;
  }
  /// Sets `max_connections`.
  /// @param value the open connections at which new ones are refused (0 refuses all).
  /// @return `*this`, for the next setter.
  tcp_listen_options& with_max_connections(std::size_t value) {
    max_connections = value;
    return *this;
  }
  /// Sets `systemd_name`.
  /// @param value the `FileDescriptorName=` of the passed socket to take.
  /// @return `*this`, for the next setter.
  tcp_listen_options& with_systemd_name(std::string value) {
    systemd_name = std::move(value);
    return *this;
  }
};

/// A Unix stream socket server. Paths longer than `sun_path` work: the primary binds the
/// path relative to its working directory when that is short enough, as Node does.
struct unix_listen_options {
  /// The socket's path in the file system (Node's `path`).
  std::string path;
  /// The listen backlog (the first worker's wins, as in Node).
  int backlog = 511;
  /// Make the socket readable by all users (Node's `readableAll`).
  bool readable_all = false;
  /// Make the socket writable by all users (Node's `writableAll`).
  bool writable_all = false;
  /// Bind in the worker itself, shared with no one (Node's `exclusive: true`).
  bool exclusive = false;
  /// Refuse connections while this many are open (Node's `server.maxConnections`).
  std::optional<std::size_t> max_connections;
  /// Under systemd socket activation: take the passed socket of this name
  /// (`FileDescriptorName=` of the .socket unit) whatever its address. Without one, or with a
  /// name no passed socket has, a listen takes the passed socket of its address, if any, and
  /// otherwise binds as without systemd.
  std::optional<std::string> systemd_name;

  /// A server on the socket at `socket_path`.
  /// @param socket_path the socket's path; a relative one is made absolute in the worker
  ///   (Node's `path.resolve`), since the primary may have another working directory.
  explicit unix_listen_options(std::string socket_path) : path(std::move(socket_path)) {}

  /// Sets `backlog`; returns `*this`, as every `with_*` setter does.
  /// @param value the listen backlog passed to listen(2); the kernel caps it at `somaxconn`.
  /// @return `*this`, for the next setter.
  unix_listen_options& with_backlog(int value) {
    backlog = value;
    return *this;
  }
  /// Sets `readable_all`.
  /// @param value true to make the socket file readable by every user (default true).
  /// @return `*this`, for the next setter.
  unix_listen_options& with_readable_all(bool value = true) {
    readable_all = value;
    return *this;
  }
  /// Sets `writable_all`.
  /// @param value true to make the socket file writable by every user (default true).
  /// @return `*this`, for the next setter.
  unix_listen_options& with_writable_all(bool value = true) {
    writable_all = value;
    return *this;
  }
  /// Sets `exclusive`.
  /// @param value true to bind in this worker alone, false to share with the cluster (default
  ///   true).
  /// @return `*this`, for the next setter.
  unix_listen_options& with_exclusive(bool value = true) {
    exclusive = value;
    return *this;
  }
  /// Sets `max_connections`.
  /// @param value the open connections at which new ones are refused (0 refuses all).
  /// @return `*this`, for the next setter.
  unix_listen_options& with_max_connections(std::size_t value) {
    max_connections = value;
    return *this;
  }
  /// Sets `systemd_name`.
  /// @param value the `FileDescriptorName=` of the passed socket to take.
  /// @return `*this`, for the next setter.
  unix_listen_options& with_systemd_name(std::string value) {
    systemd_name = std::move(value);
    return *this;
  }
};

/// A UDP socket. In a worker it is always the primary's socket, shared (Node's dgram in a
/// cluster): datagrams go to whichever worker reads first.
struct udp_bind_options {
  /// 0 picks a free port.
  int port = 0;
  /// Empty: any address of the family.
  std::optional<std::string> address;
  /// `udp6` instead of `udp4`.
  bool ipv6 = false;
  /// With `ipv6`: IPv6 only (Node's `ipv6Only`).
  bool ipv6_only = false;
  /// SO_REUSEADDR (Node's `reuseAddr`).
  bool reuse_address = false;
  /// Bind in the worker itself, shared with no one (Node's `exclusive: true`).
  bool exclusive = false;
  /// Under systemd socket activation: take the passed socket of this name
  /// (`FileDescriptorName=` of the .socket unit) (`ListenDatagram=`) whatever its address.
  /// Without one, or with a name no passed socket has, a bind takes the passed socket of its
  /// address, if any, and otherwise binds as without systemd.
  std::optional<std::string> systemd_name;

  /// A socket on `bind_port` (0: a free port) of `bind_address` (empty: any address).
  /// @param bind_port the port, 0 to 65535 (not checked here); 0 asks for a free one.
  /// @param bind_address an address of the socket's family (`ipv6`); empty: any address.
  explicit udp_bind_options(int bind_port = 0, std::optional<std::string> bind_address = {})
      : port(bind_port), address(std::move(bind_address)) {}

  /// Sets `ipv6`; returns `*this`, as every `with_*` setter does.
  /// @param value true for an IPv6 (`udp6`) socket, false for IPv4 (`udp4`) (default true).
  /// @return `*this`, for the next setter.
  udp_bind_options& with_ipv6(bool value = true) {
    ipv6 = value;
    return *this;
  }
  /// Sets `ipv6_only`.
  /// @param value true for IPv6 only (with `ipv6`; no IPv4-mapped datagrams) (default true).
  /// @return `*this`, for the next setter.
  udp_bind_options& with_ipv6_only(bool value = true) {
    ipv6_only = value;
    return *this;
  }
  /// Sets `reuse_address`.
  /// @param value true to set SO_REUSEADDR before binding (default true).
  /// @return `*this`, for the next setter.
  udp_bind_options& with_reuse_address(bool value = true) {
    reuse_address = value;
    return *this;
  }
  /// Sets `exclusive`.
  /// @param value true to bind in this worker alone, false to share the primary's socket
  ///   (default true).
  /// @return `*this`, for the next setter.
  udp_bind_options& with_exclusive(bool value = true) {
    exclusive = value;
    return *this;
  }
  /// Sets `systemd_name`.
  /// @param value the `FileDescriptorName=` of the passed socket to take.
  /// @return `*this`, for the next setter.
  udp_bind_options& with_systemd_name(std::string value) {
    systemd_name = std::move(value);
    return *this;
  }
};

} // namespace cocluster

#endif // COCLUSTER_NET_LISTEN_OPTIONS_HPP
