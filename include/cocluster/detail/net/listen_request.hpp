// SPDX-License-Identifier: MIT
/// @file
/// A listen or bind request as Node's queryServer message carries it, and the socket a process
/// binds for itself (the primary's own servers, exclusive servers, reuse_port servers).
#ifndef COCLUSTER_DETAIL_NET_LISTEN_REQUEST_HPP
#define COCLUSTER_DETAIL_NET_LISTEN_REQUEST_HPP

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/net/socket_ops.hpp"
#include "cocluster/listen_address.hpp"
#include "cocluster/net/listen_options.hpp"

namespace cocluster::detail {

/// The queryServer field of cocluster workers that names a systemd socket (a Node primary
/// ignores it).
inline constexpr const char* systemd_name_field = "cocluster_systemd_name";

/// One listen (TCP, Unix) or bind (UDP), in the terms of Node's messages.
struct listen_request {
  address_type type = address_type::ipv4;
  std::optional<std::string> address; // an IP address, a Unix path, or null for "any"
  int port = 0;                       // -1 for Unix sockets and descriptors, as Node sends
  std::optional<int> fd;              // -1 (Node's "no descriptor") for UDP binds, as Node sends
  std::optional<int> flags;           // TCP: 1 = IPv6 only; UDP: 1 = IPv6 only, 4 = reuse address
  int backlog = 511;
  bool readable_all = false;
  bool writable_all = false;
  std::optional<std::size_t> max_connections;
  /// The systemd socket name asked for (`FileDescriptorName=`); sent as `systemd_name_field`.
  std::optional<std::string> systemd_name;

  /// Node's local index key: [address, port, addressType, fd].join(':').
  std::string index_key() const {
    return address.value_or("") + ":" + std::to_string(port) + ":" + type_json().dump() + ":" +
           (fd ? std::to_string(*fd) : std::string());
  }

  /// Node's addressType value: 4, 6, -1, "udp4" or "udp6".
  nlohmann::json type_json() const {
    switch (type) {
    case address_type::ipv4: return 4;
    case address_type::ipv6: return 6;
    case address_type::unix_socket: return -1;
    case address_type::udp4: return "udp4";
    case address_type::udp6: return "udp6";
    }
    return 4;
  }

  /// The queryServer message (without `seq`), fields in Node's order.
  protocol::message query(std::int64_t index) const {
    protocol::message m = protocol::cluster_message(protocol::act_query_server);
    m["index"] = index;
    m["data"] = nullptr;
    m["address"] = address ? nlohmann::json(*address) : nlohmann::json(nullptr);
    m["port"] = port;
    m["addressType"] = type_json();
    if (fd)
      m["fd"] = *fd;
    if (flags)
      m["flags"] = *flags;
    if (!is_udp(type))
      m["backlog"] = backlog;
    if (type == address_type::unix_socket && !fd) {
      m["readableAll"] = readable_all;
      m["writableAll"] = writable_all;
    }
    if (systemd_name)
      m[systemd_name_field] = *systemd_name;
    return m;
  }

  /// The descriptor to use, if any (not UDP's -1).
  std::optional<int> descriptor() const { return fd && *fd >= 0 ? fd : std::nullopt; }

  /// What the bind helpers need.
  bind_spec spec() const {
    bind_spec s;
    s.type = type;
    s.address = type == address_type::unix_socket ? std::nullopt : address;
    s.path = type == address_type::unix_socket ? address.value_or("") : std::string();
    s.port = port < 0 ? 0 : port;
    s.fd = descriptor();
    s.ipv6_only = flags && (*flags & 1) != 0;
    s.reuse_address = flags && (*flags & 4) != 0;
    s.readable_all = readable_all;
    s.writable_all = writable_all;
    if (!is_udp(type))
      s.backlog = backlog;
    return s;
  }

  /// "bind 127.0.0.1:8000", for errors.
  std::string describe(const std::string& syscall) const {
    if (descriptor())
      return syscall + " fd " + std::to_string(*fd);
    return describe_bind(syscall, address, port, type, address.value_or(""));
  }

  /// The `listening` event's address.
  listen_address listening(int actual_port) const {
    return {type == address_type::unix_socket ? address : address, actual_port, type, fd};
  }
};

inline listen_request make_request(const tcp_listen_options& options, address_type type) {
  listen_request r;
  r.type = type;
  r.address = options.host;
  r.port = options.port;
  r.backlog = options.backlog;
  r.max_connections = options.max_connections;
  r.systemd_name = options.systemd_name;
  if (options.fd) {
    r.fd = options.fd;
    r.address.reset();
    r.port = -1;
    r.type = address_type::unix_socket; // Node sends addressType -1 for {fd}
  } else if (options.host) {
    r.flags = options.ipv6_only ? 1 : 0;
  }
  return r;
}

inline listen_request make_request(const unix_listen_options& options) {
  listen_request r;
  r.type = address_type::unix_socket;
  std::error_code ec;
  // Node resolves the path in the worker (path.resolve): the primary may have another cwd.
  auto absolute = std::filesystem::absolute(options.path, ec);
  r.address = ec ? options.path : absolute.lexically_normal().string();
  r.port = -1;
  r.backlog = options.backlog;
  r.readable_all = options.readable_all;
  r.writable_all = options.writable_all;
  r.max_connections = options.max_connections;
  r.systemd_name = options.systemd_name;
  return r;
}

inline listen_request make_request(const udp_bind_options& options) {
  listen_request r;
  r.type = options.ipv6 ? address_type::udp6 : address_type::udp4;
  r.address = options.address;
  r.port = options.port;
  r.fd = -1;
  r.flags = (options.ipv6_only ? 1 : 0) | (options.reuse_address ? 4 : 0);
  r.systemd_name = options.systemd_name;
  return r;
}

/// A listen request from a peer's queryServer message (the primary's side).
inline listen_request parse_query(const nlohmann::json& m) {
  listen_request r;
  const auto type = m.find("addressType");
  if (type != m.end()) {
    if (type->is_string())
      r.type = type->get<std::string>() == "udp6" ? address_type::udp6 : address_type::udp4;
    else if (type->is_number())
      r.type = type->get<int>() == 6    ? address_type::ipv6
               : type->get<int>() == -1 ? address_type::unix_socket
                                        : address_type::ipv4;
  }
  if (auto a = protocol::string_field(m, "address"))
    r.address = std::string(*a);
  r.port = static_cast<int>(protocol::integer_field(m, "port").value_or(0));
  if (auto fd = protocol::integer_field(m, "fd"); fd && *fd >= 0)
    r.fd = static_cast<int>(*fd);
  if (auto flags = protocol::integer_field(m, "flags"))
    r.flags = static_cast<int>(*flags);
  if (auto backlog = protocol::integer_field(m, "backlog"); backlog && *backlog > 0)
    r.backlog = static_cast<int>(*backlog);
  r.readable_all = m.value("readableAll", false);
  r.writable_all = m.value("writableAll", false);
  if (auto name = protocol::string_field(m, systemd_name_field))
    r.systemd_name = std::string(*name);
  return r;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_LISTEN_REQUEST_HPP
