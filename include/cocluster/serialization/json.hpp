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
  static void encode(const value_type& value, std::string& out) { dump_to(value, out); }

  /// Appends the JSON text of an internal message, keeping Node's key order.
  static void encode_internal(const nlohmann::ordered_json& message, std::string& out) {
    dump_to(message, out);
  }

  /// Parses one frame body.
  static value_type decode(std::string_view body) {
    try {
      return detail::parse_json_text<value_type>(body, max_depth);
    } catch (const nlohmann::json::exception& e) {
      throw std::system_error(make_error_code(errc::malformed_message),
                              std::string("json: ") + e.what());
    }
  }

  /// Moves an internal message out of `value`, if it is one.
  static std::optional<nlohmann::json> take_internal(value_type& value) {
    if (!is_internal(value))
      return std::nullopt;
    return std::optional<nlohmann::json>(std::move(value));
  }

  /// Appends `head` with a last field `msg` holding `payload`: Node's key order for a
  /// `NODE_HANDLE` envelope (`cmd`, `type`, `msg`).
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
  static value_type from_json(nlohmann::json&& value) { return std::move(value); }

  /// Converts a user value to a message, through `to_json`.
  template <class T>
  static value_type to_value(const T& object) {
    return value_type(object);
  }

  /// Converts a message to a user type, through `from_json`.
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
