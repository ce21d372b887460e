// SPDX-License-Identifier: MIT
/// @file
/// Node's wire protocol between a cluster primary and its workers, in one place: the internal
/// messages (`NODE_CLUSTER` with its `act`s, `seq` and `ack`), the handle envelope
/// (`NODE_HANDLE`, `NODE_HANDLE_ACK`, `NODE_HANDLE_NACK`) and the environment variables.
///
/// Messages are built as `nlohmann::ordered_json` so that keys go on the wire in Node's order:
/// `cmd`, then the fields, then `seq` (added when sent).
#ifndef COCLUSTER_DETAIL_IPC_PROTOCOL_HPP
#define COCLUSTER_DETAIL_IPC_PROTOCOL_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cocluster::detail::protocol {

/// An outgoing internal message.
using message = nlohmann::ordered_json;

// Environment variables of a worker process (Node's names).
inline constexpr const char* env_unique_id = "NODE_UNIQUE_ID";
inline constexpr const char* env_channel_fd = "NODE_CHANNEL_FD";
inline constexpr const char* env_serialization_mode = "NODE_CHANNEL_SERIALIZATION_MODE";

// `cmd` values.
inline constexpr std::string_view cmd_cluster = "NODE_CLUSTER";
inline constexpr std::string_view cmd_handle = "NODE_HANDLE";
inline constexpr std::string_view cmd_handle_ack = "NODE_HANDLE_ACK";
inline constexpr std::string_view cmd_handle_nack = "NODE_HANDLE_NACK";
// Node's socket lists (sockets a net.Server accepted and sent with their server's `key`).
inline constexpr std::string_view cmd_socket_get_count = "NODE_SOCKET_GET_COUNT";
inline constexpr std::string_view cmd_socket_count = "NODE_SOCKET_COUNT";
inline constexpr std::string_view cmd_socket_notify_close = "NODE_SOCKET_NOTIFY_CLOSE";
inline constexpr std::string_view cmd_socket_all_closed = "NODE_SOCKET_ALL_CLOSED";

// `act` values of NODE_CLUSTER messages.
inline constexpr std::string_view act_online = "online";            // W→P
inline constexpr std::string_view act_query_server = "queryServer"; // W→P, acked
inline constexpr std::string_view act_listening = "listening";      // W→P
inline constexpr std::string_view act_close = "close";              // W→P
inline constexpr std::string_view act_exited_after_disconnect =
    "exitedAfterDisconnect";                                     // W→P, acked
inline constexpr std::string_view act_newconn = "newconn";       // P→W with fd, acked
inline constexpr std::string_view act_disconnect = "disconnect"; // P→W

// cocluster's own acts and fields: a Node peer ignores unknown acts and extra fields.
inline constexpr std::string_view act_load = "cocluster.load"; // W→P: open connections
inline constexpr std::string_view act_heartbeat =
    "cocluster.heartbeat";                                      // P→W: beat every `interval_ms`
inline constexpr std::string_view act_beat = "cocluster.beat";  // W→P: the worker's loop is alive
inline constexpr const char* field_interval_ms = "interval_ms"; // in `act_heartbeat`
inline constexpr const char* field_peer = "cocluster";          // in `online`: a cocluster peer
inline constexpr const char* field_open = "cocluster_open";     // in a newconn reply
inline constexpr const char* field_closed = "cocluster_closed"; // in a newconn reply
inline constexpr const char* field_reuse_port = "cocluster_reuse_port"; // in a queryServer reply
inline constexpr const char* field_track = "cocluster_track";           // in a queryServer reply
inline constexpr const char* field_drain_ms = "cocluster_drain_ms";     // in `disconnect`

// The primary's metrics question to a cocluster worker (P→W, acked): its reply carries
// `field_open`, the connections its servers hold open.
inline constexpr std::string_view act_stats = "cocluster.stats";

// Handle types of the NODE_HANDLE envelope.
inline constexpr std::string_view handle_net_native = "net.Native";
inline constexpr std::string_view handle_dgram_native = "dgram.Native";
inline constexpr std::string_view handle_net_socket = "net.Socket";
inline constexpr std::string_view handle_net_server = "net.Server";
inline constexpr std::string_view handle_dgram_socket = "dgram.Socket";

/// `{"cmd":"NODE_CLUSTER","act":act}`; add fields, the sender adds `seq`.
inline message cluster_message(std::string_view act) {
  message m = message::object();
  m["cmd"] = cmd_cluster;
  m["act"] = act;
  return m;
}

/// `{"cmd":"NODE_CLUSTER","ack":seq}`: the reply to a request whose `seq` was `seq`.
inline message reply_to(std::int64_t seq) {
  message m = message::object();
  m["cmd"] = cmd_cluster;
  m["ack"] = seq;
  return m;
}

/// The envelope of a message that carries a descriptor.
inline message handle_envelope(std::string_view type, message inner) {
  message m = message::object();
  m["cmd"] = cmd_handle;
  m["type"] = type;
  m["msg"] = std::move(inner);
  return m;
}

/// The head of the envelope of a user message sent with a handle, `{cmd, type}`, to which the
/// serialization adds `msg`; a `dgram.Socket` also says `dgramType` (`udp4`, `udp6`), which
/// Node's receiver needs.
inline message user_handle_envelope_head(std::string_view type, std::string_view dgram_type = {}) {
  message m = message::object();
  m["cmd"] = cmd_handle;
  m["type"] = type;
  if (!dgram_type.empty())
    m["dgramType"] = dgram_type;
  return m;
}

/// `{"cmd":"NODE_SOCKET_COUNT","key":key,"count":count}`: the answer to
/// `NODE_SOCKET_GET_COUNT`.
inline message socket_count(const std::string& key, std::size_t count) {
  message m = message::object();
  m["cmd"] = cmd_socket_count;
  m["key"] = key;
  m["count"] = count;
  return m;
}

/// `{"cmd":"NODE_SOCKET_ALL_CLOSED","key":key}`: the answer to `NODE_SOCKET_NOTIFY_CLOSE`.
inline message sockets_all_closed(const std::string& key) {
  message m = message::object();
  m["cmd"] = cmd_socket_all_closed;
  m["key"] = key;
  return m;
}

/// `{"cmd":"NODE_HANDLE_ACK"}` or `{"cmd":"NODE_HANDLE_NACK"}`.
inline message handle_reply(bool received) {
  message m = message::object();
  m["cmd"] = received ? cmd_handle_ack : cmd_handle_nack;
  return m;
}

/// Node's listen key for the primary's handle table: address, port, addressType and fd as
/// Node's template literal prints them ("null", "undefined"), and the worker's listen index only
/// for port 0 (Node v25, nodejs/node#60141: otherwise a port closed and listened on again by
/// another worker could never be shared).
inline std::string server_key(const nlohmann::json& query) {
  auto text = [&](const char* key) -> std::string {
    auto it = query.find(key);
    if (it == query.end())
      return "undefined";
    if (it->is_null())
      return "null";
    if (it->is_string())
      return it->get<std::string>();
    return it->dump();
  };
  std::string key = text("address") + ":" + text("port") + ":" + text("addressType") + ":" +
                    text("fd");
  auto port = query.find("port");
  if (port == query.end() || !port->is_number() || port->get<double>() == 0)
    key += ":" + text("index");
  return key;
}

/// The primary's answer to a queryServer for a round-robin (or failed) listen:
/// `{cmd, errno, key, ack, data[, sockname]}` in Node's order.
inline message server_reply(const nlohmann::json& errno_value, const std::string& key,
                            std::int64_t ack, const nlohmann::json& data,
                            const nlohmann::json& sockname = nullptr) {
  message m = message::object();
  m["cmd"] = cmd_cluster;
  m["errno"] = errno_value;
  m["key"] = key;
  m["ack"] = ack;
  m["data"] = data;
  if (!sockname.is_null())
    m["sockname"] = sockname;
  return m;
}

/// `{"cmd":"NODE_CLUSTER","act":"newconn","key":key}`, sent with the connection's descriptor.
inline message newconn(const std::string& key) {
  message m = cluster_message(act_newconn);
  m["key"] = key;
  return m;
}

/// The open and ended connections of one server, as a cocluster worker counts them for a
/// policy that tracks connections.
struct connection_counts {
  std::size_t open = 0;
  std::uint64_t closed = 0; // in all, since the server started
};

/// A worker's answer to `newconn` (cocluster workers add their counts when asked to track).
inline message newconn_reply(std::int64_t ack, bool accepted,
                             std::optional<connection_counts> counts = std::nullopt) {
  message m = reply_to(ack);
  m["accepted"] = accepted;
  if (counts) {
    m[field_open] = counts->open;
    m[field_closed] = counts->closed;
  }
  return m;
}

/// A cocluster worker's report of its counts for server `key` (`act_load`).
inline message load_report(const std::string& key, const connection_counts& counts) {
  message m = cluster_message(act_load);
  m["key"] = key;
  m["open"] = counts.open;
  m["closed"] = counts.closed;
  return m;
}

/// The supervisor's request that a cocluster worker report a heartbeat every `interval_ms`
/// (sent only to workers that said they are cocluster peers: a Node worker never gets it).
inline message heartbeat_request(std::int64_t interval_ms) {
  message m = cluster_message(act_heartbeat);
  m[field_interval_ms] = interval_ms;
  return m;
}

/// The primary's request for a cocluster worker's counts (`act_stats`; sent only to workers
/// that said they are cocluster peers).
inline message stats_request() { return cluster_message(act_stats); }

/// A cocluster worker's reply to `stats_request` `seq`: the connections its servers hold open.
inline message stats_reply(std::int64_t seq, std::size_t open) {
  message m = reply_to(seq);
  m[field_open] = open;
  return m;
}

/// `{"cmd":"NODE_CLUSTER","act":"close","key":key}`.
inline message close_server(const std::string& key) {
  message m = cluster_message(act_close);
  m["key"] = key;
  return m;
}

/// A string field, if present and a string.
inline std::optional<std::string_view> string_field(const nlohmann::json& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end() || !it->is_string())
    return std::nullopt;
  return std::string_view(it->get_ref<const std::string&>());
}

/// An integer field (Node sends numbers; JSON may give them as floats), if present.
inline std::optional<std::int64_t> integer_field(const nlohmann::json& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end())
    return std::nullopt;
  if (it->is_number_integer())
    return it->get<std::int64_t>();
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (d == static_cast<double>(static_cast<std::int64_t>(d)))
      return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

/// The error of a server reply (`queryServer`'s answer), as a positive errno: Node sends a
/// negative libuv code in `errno`; 0 (or null, or no field) is success.
inline int reply_errno(const nlohmann::json& reply) {
  const auto error = integer_field(reply, "errno").value_or(0);
  return static_cast<int>(error < 0 ? -error : error);
}

/// The counts in a newconn reply (`field_open`, `field_closed`) or a load report (`open`,
/// `closed`), if it has them; a negative number counts as none.
inline std::optional<connection_counts> counts_field(const nlohmann::json& m, const char* open_key,
                                                     const char* closed_key) {
  const auto open = integer_field(m, open_key);
  if (!open || *open < 0)
    return std::nullopt;
  const auto closed = integer_field(m, closed_key).value_or(0);
  return connection_counts{static_cast<std::size_t>(*open),
                           static_cast<std::uint64_t>(closed < 0 ? 0 : closed)};
}

/// The `cmd` of an internal message.
inline std::string_view cmd(const nlohmann::json& m) {
  return string_field(m, "cmd").value_or(std::string_view());
}

/// The `act` of a NODE_CLUSTER message, or empty.
inline std::string_view act(const nlohmann::json& m) {
  return string_field(m, "act").value_or(std::string_view());
}

} // namespace cocluster::detail::protocol

#endif // COCLUSTER_DETAIL_IPC_PROTOCOL_HPP
