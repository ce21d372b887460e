// SPDX-License-Identifier: MIT
/// @file
/// The `json` serialization policy: Node's default, newline-delimited JSON.
#ifndef COCLUSTER_SERIALIZATION_JSON_HPP
#define COCLUSTER_SERIALIZATION_JSON_HPP

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "cocluster/detail/json/text.hpp"
#include "cocluster/error.hpp"
#include "cocluster/serialization/policy.hpp"

namespace cocluster {

/// Node's `json` serialization: each message is `JSON.stringify(message)` followed by `\n`.
///
/// Values are `nlohmann::json`. User types convert through nlohmann's `to_json`/`from_json`.
/// Decoding rejects what `JSON.parse` rejects, and also invalid UTF-8 (Node would replace it with
/// U+FFFD) and nesting deeper than `max_depth` (which would exhaust the stack when the value is
/// later copied or printed).
///
/// @par Example
/// The default policy: `cluster<>` is `cluster<round_robin, json>`, and messages are
/// `nlohmann::json` (`examples/http_cluster/`):
/// @code
/// cocluster::cluster<> cluster(io);
/// // in a worker:
/// nlohmann::json message;
/// message["requests"] = requests;
/// cluster.worker().send(message);
/// // in the primary:
/// auto reports = cluster.subscribe(cocluster::event::message);
/// auto report = co_await reports.async_receive(asio::use_awaitable);
/// auto count = report.message["requests"].get<std::uint64_t>();
/// @endcode
struct json {
  /// The value type users send and receive.
  using value_type = nlohmann::json;

  /// The name Node gives this mode in `NODE_CHANNEL_SERIALIZATION_MODE`.
  static constexpr std::string_view mode_name = "json";

  /// Frames are delimited by `\n`.
  static constexpr framing frame_format = framing::newline_delimited;

  /// The deepest nesting of arrays and objects that `decode` accepts.
  static constexpr std::size_t max_depth = 1000;

  /// Appends the JSON text of `value` to `out`. JSON escapes every `\n`, so no frame contains one.
  /// @param value the message; a string that is not valid UTF-8 throws `std::system_error` with
  ///   `errc::unencodable_value`.
  /// @param out the frame body so far; the text is appended, without the `\n`.
  static void encode(const value_type& value, std::string& out) { dump_to(value, out); }

  /// Appends the JSON text of an internal message, keeping Node's key order.
  /// @param message the internal message (`{"cmd": "NODE_CLUSTER", ...}`).
  /// @param out the frame body so far; the text is appended.
  static void encode_internal(const nlohmann::ordered_json& message, std::string& out) {
    dump_to(message, out);
  }

  /// Parses one frame body.
  /// @param body one frame without its `\n`.
  /// @return the value. Text `JSON.parse` rejects, invalid UTF-8 or nesting deeper than
  ///   `max_depth` throw `std::system_error` with `errc::malformed_message`.
  static value_type decode(std::string_view body) {
    try {
      return detail::parse_json_text<value_type>(body, max_depth);
    } catch (const nlohmann::json::exception& e) {
      throw std::system_error(make_error_code(errc::malformed_message),
                              std::string("json: ") + e.what());
    }
  }

  /// Moves an internal message out of `value`, if it is one.
  /// @param value a decoded message; moved from (left valid, unspecified) when internal.
  /// @return the internal message, or `std::nullopt` for a user message (left alone).
  static std::optional<nlohmann::json> take_internal(value_type& value) {
    if (!is_internal(value))
      return std::nullopt;
    return std::optional<nlohmann::json>(std::move(value));
  }

  /// Appends `head` with a last field `msg` holding `payload`: Node's key order for a
  /// `NODE_HANDLE` envelope (`cmd`, `type`, `msg`).
  /// @param head the envelope's fields, an object; anything else throws `std::system_error`
  ///   with `errc::unencodable_value`.
  /// @param payload the user's message, written as `encode` writes it.
  /// @param out the frame body so far; on a throw it is left as it was.
  static void encode_envelope(const nlohmann::ordered_json& head, const value_type& payload,
                              std::string& out) {
    const std::size_t start = out.size();
    dump_to(head, out);
    if (out.size() < start + 2 || out.back() != '}') {
      out.resize(start);
      throw std::system_error(make_error_code(errc::unencodable_value),
                              "json: an envelope's head must be an object");
    }
    out.pop_back();
    if (!head.empty())
      out += ',';
    out += "\"msg\":";
    try {
      dump_to(payload, out);
    } catch (...) {
      out.resize(start);
      throw;
    }
    out += '}';
  }

  /// Moves the `msg` field out of an internal message, if it has one.
  /// @param value a decoded message; an internal one loses its `msg` field.
  /// @return the user's message, or `std::nullopt` (then `value` is unchanged).
  static std::optional<value_type> take_payload(value_type& value) {
    if (!is_internal(value))
      return std::nullopt;
    auto it = value.find(detail::payload_field);
    if (it == value.end())
      return std::nullopt;
    std::optional<value_type> payload(std::move(*it));
    value.erase(it);
    return payload;
  }

  /// A JSON value as a message (the identity for this policy).
  /// @param value the JSON value, moved from.
  /// @return the same value.
  static value_type from_json(nlohmann::json&& value) { return std::move(value); }

  /// Converts a user value to a message, through `to_json`.
  /// @tparam T a type nlohmann's `to_json` knows (found by argument-dependent lookup).
  /// @param object the value to convert.
  /// @return the message.
  template <class T>
  static value_type to_value(const T& object) {
    return value_type(object);
  }

  /// Converts a message to a user type, through `from_json`.
  /// @tparam T a type nlohmann's `from_json` knows.
  /// @param value the message.
  /// @return the converted value; a message of the wrong shape throws nlohmann's
  ///   `json::exception`.
  template <class T>
  static T from_value(const value_type& value) {
    return value.template get<T>();
  }

private:
  static bool is_internal(const value_type& value) {
    if (!value.is_object())
      return false;
    auto cmd = value.find("cmd");
    return cmd != value.end() && cmd->is_string() &&
           detail::is_internal_cmd(cmd->get_ref<const std::string&>());
  }

  template <class Json>
  static void dump_to(const Json& value, std::string& out) {
    try {
      detail::dump_json_text(value, out);
    } catch (const nlohmann::json::exception& e) {
      throw std::system_error(make_error_code(errc::unencodable_value),
                              std::string("json: ") + e.what());
    }
  }
};

static_assert(serialization_policy<json>);

} // namespace cocluster

#endif // COCLUSTER_SERIALIZATION_JSON_HPP
