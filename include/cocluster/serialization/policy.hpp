// SPDX-License-Identifier: MIT
/// @file
/// The serialization policy concept: how messages become bytes on the IPC channel and back.
#ifndef COCLUSTER_SERIALIZATION_POLICY_HPP
#define COCLUSTER_SERIALIZATION_POLICY_HPP

#include <concepts>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cocluster {

/// How frames are delimited on the IPC channel.
enum class framing {
  /// Each frame is followed by `\n` (Node's `json` serialization).
  newline_delimited,
  /// Each frame is preceded by its length as a big-endian u32 (Node's `advanced` serialization).
  length_prefixed,
};

/// A serialization policy turns values into frame bodies and back. It is pure: no I/O.
///
/// A policy `S` provides:
/// - `S::value_type`: the dynamic value users send and receive (for `json`, `nlohmann::json`);
/// - `S::mode_name`: the name Node uses for it in `NODE_CHANNEL_SERIALIZATION_MODE`;
/// - `S::frame_format`: a `framing` value;
/// - `S::encode(const value_type&, std::string& out)`: appends one frame body to `out` (no
///   delimiter, no length prefix); throws `std::system_error` with `errc::unencodable_value`;
/// - `S::decode(std::string_view body) -> value_type`: throws `std::system_error` with
///   `errc::malformed_message` and a reason;
/// - `S::encode_internal(const nlohmann::ordered_json&, std::string& out)`: appends the frame body
///   of one of Node's internal messages (`NODE_CLUSTER`, `NODE_HANDLE`, ...), which are plain
///   JSON-shaped objects in every mode;
/// - `S::take_internal(value_type&) -> std::optional<nlohmann::json>`: if the value is an internal
///   message (an object whose `cmd` is a string longer than 5 characters starting with `NODE_`,
///   Node's rule), returns it as JSON, leaving the value in a valid but unspecified state;
///   otherwise returns nothing and leaves the value alone.
/// - `S::from_json(nlohmann::json&&) -> value_type`: a JSON value as a message;
/// - `S::encode_envelope(const nlohmann::ordered_json& head, const value_type& payload,
///   std::string& out)`: appends the frame body of the internal message `head` (an object whose
///   fields are all primitives) with one more field, `msg`, that holds the user value `payload`
///   as `encode` would write it: the `NODE_HANDLE` envelope of a message sent with a handle,
///   and cocluster's routed messages; throws as `encode` does;
/// - `S::take_payload(value_type&) -> std::optional<value_type>`: if the value is an internal
///   message with a `msg` field, moves that field out (removing it) and returns it whole, before
///   `take_internal` turns the rest into JSON; otherwise returns nothing and leaves the value
///   alone;
/// - `S::to_value(const T&)` and `S::from_value<T>(const value_type&)`: conversions of user types,
///   found through argument-dependent lookup as nlohmann's `to_json`/`from_json` are.
///
/// cocluster has two: `json` (the default) and `advanced`; a cluster's second template argument
/// picks one (`cluster<round_robin, advanced>`), and the peer must use the same mode.
///
/// @tparam S the policy type checked.
template <class S>
concept serialization_policy = requires(const typename S::value_type& value,
                                        typename S::value_type& mutable_value, std::string& out,
                                        std::string_view body,
                                        const nlohmann::ordered_json& internal) {
  typename S::value_type;
  { S::mode_name } -> std::convertible_to<std::string_view>;
  { S::frame_format } -> std::convertible_to<framing>;
  S::encode(value, out);
  { S::decode(body) } -> std::same_as<typename S::value_type>;
  S::encode_internal(internal, out);
  { S::take_internal(mutable_value) } -> std::same_as<std::optional<nlohmann::json>>;
  { S::from_json(nlohmann::json()) } -> std::same_as<typename S::value_type>;
  S::encode_envelope(internal, value, out);
  { S::take_payload(mutable_value) } -> std::same_as<std::optional<typename S::value_type>>;
};

namespace detail {

/// Node's test for an internal message `cmd`: a string longer than 5 characters that starts
/// with `NODE_`.
inline bool is_internal_cmd(std::string_view cmd) noexcept {
  return cmd.size() > 5 && cmd.substr(0, 5) == "NODE_";
}

/// The field of an envelope (`NODE_HANDLE`, a routed message) that holds the user's message.
inline constexpr const char* payload_field = "msg";

} // namespace detail
} // namespace cocluster

#endif // COCLUSTER_SERIALIZATION_POLICY_HPP
