/// @file
/// Node's wire protocol between a cluster primary and its workers, in one place: the internal
/// messages (`NODE_CLUSTER` with its `act`s, `seq` and `ack`), the handle envelope
/// (`NODE_HANDLE`, `NODE_HANDLE_ACK`, `NODE_HANDLE_NACK`) and the environment variables.
///
/// Messages are built as `nlohmann::ordered_json` so that keys go on the wire in Node's order:
/// `cmd`, then the fields, then `seq` (added when sent).
#ifndef COCLUSTER_DETAIL_PROTOCOL_HPP
#define COCLUSTER_DETAIL_PROTOCOL_HPP

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

// `act` values of NODE_CLUSTER messages.
inline constexpr std::string_view act_online = "online";                 // W→P
inline constexpr std::string_view act_query_server = "queryServer";      // W→P, acked
inline constexpr std::string_view act_listening = "listening";           // W→P
inline constexpr std::string_view act_close = "close";                   // W→P
inline constexpr std::string_view act_exited_after_disconnect = "exitedAfterDisconnect"; // W→P, acked
inline constexpr std::string_view act_newconn = "newconn";               // P→W with fd, acked
inline constexpr std::string_view act_disconnect = "disconnect";         // P→W

// Handle types of the NODE_HANDLE envelope.
inline constexpr std::string_view handle_net_native = "net.Native";
inline constexpr std::string_view handle_dgram_native = "dgram.Native";

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

/// `{"cmd":"NODE_HANDLE_ACK"}` or `{"cmd":"NODE_HANDLE_NACK"}`.
inline message handle_reply(bool received) {
  message m = message::object();
  m["cmd"] = received ? cmd_handle_ack : cmd_handle_nack;
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

/// The `cmd` of an internal message.
inline std::string_view cmd(const nlohmann::json& m) {
  return string_field(m, "cmd").value_or(std::string_view());
}

/// The `act` of a NODE_CLUSTER message, or empty.
inline std::string_view act(const nlohmann::json& m) {
  return string_field(m, "act").value_or(std::string_view());
}

} // namespace cocluster::detail::protocol

#endif // COCLUSTER_DETAIL_PROTOCOL_HPP
