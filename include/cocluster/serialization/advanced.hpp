// SPDX-License-Identifier: MIT
/// @file
/// The `advanced` serialization policy: Node's `serialization: "advanced"`, where each frame
/// body is V8 ValueSerializer output (format version 15, as Node 20 writes it) with Node's
/// child_process host-object encoding for Buffers and typed arrays.
#ifndef COCLUSTER_SERIALIZATION_ADVANCED_HPP
#define COCLUSTER_SERIALIZATION_ADVANCED_HPP

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "cocluster/detail/serialization/advanced_codec.hpp"
#include "cocluster/detail/v8/limits.hpp"
#include "cocluster/error.hpp"
#include "cocluster/serialization/policy.hpp"
#include "cocluster/value.hpp"

namespace cocluster {

/// Node's `advanced` serialization: `[u32 big-endian length][V8 serialized value]` frames (the
/// IPC channel adds and strips the length).
///
/// Values are `cocluster::value`, which carries everything the structured clone carries:
/// `undefined`, BigInts, Maps, Sets, Dates, RegExps, Errors, typed arrays and Buffers, sparse
/// arrays, and shared or circular references. The encoder writes the bytes Node 20 writes for
/// the same JavaScript value; the decoder reads what Node writes (format versions 13 to 15).
///
/// Decoding is safe on hostile input: every length is checked against the bytes left before
/// anything is allocated, nesting deeper than `max_depth` is refused, back-references must name
/// an object already read, and every failure is a `std::system_error` with
/// `errc::malformed_message` whose text names the offset.
///
/// Differences from Node, all on input Node itself never writes: trailing bytes after the value
/// are refused (Node ignores them); index keys among the named properties of a dense array, and
/// sparse-array elements out of ascending order, are refused; Map and Set entries are kept as
/// sent (Node would merge repeated keys). Boolean/Number/BigInt/String wrapper objects, which
/// Node does write, decode as their primitive values. The encoder does not compile RegExp
/// patterns: Node refuses a message whose pattern is not valid JavaScript. Like Node 20, both
/// directions refuse an Error whose cause refers back to the Error (Node writes it, but cannot
/// read it). A top-level `undefined` or BigInt is encoded (Node's reader accepts both) although
/// Node's own `process.send()` refuses to send them.
///
/// @par Example
/// Bytes that need not be text travel as a Buffer (`examples/sticky_sessions.cpp`):
/// @code
/// using cluster_type = cocluster::cluster<cocluster::round_robin, cocluster::advanced>;
/// auto message = cocluster::value::object();
/// message["head"] = cocluster::value::buffer(std::string_view(head));
/// worker.send(message, cocluster::handle(std::move(socket)));
/// @endcode
struct advanced {
  /// The value type users send and receive.
  using value_type = value;

  /// The name Node gives this mode in `NODE_CHANNEL_SERIALIZATION_MODE`.
  static constexpr std::string_view mode_name = "advanced";

  /// Frames are preceded by their length.
  static constexpr framing frame_format = framing::length_prefixed;

  /// The deepest nesting of objects, arrays, Maps, Sets and Errors that `encode` and `decode`
  /// accept.
  static constexpr std::size_t max_depth = detail::v8::max_nesting;

  /// Appends the V8 serialization of `v` to `out`. Throws `std::system_error` with
  /// `errc::unencodable_value` (leaving `out` unchanged) for what Node could not read back:
  /// strings that are not UTF-8 (WTF-8), typed arrays that are not whole elements, unknown
  /// RegExp flags, holes outside arrays, index keys among an array's named properties, nesting
  /// deeper than `max_depth`, and lengths beyond V8's limits.
  /// @param v the message.
  /// @param out the frame body so far; the V8 header and value are appended (no length prefix).
  static void encode(const value_type& v, std::string& out) {
    detail::advanced_encode(v, out, max_depth);
  }

  /// Appends the V8 serialization of one of Node's internal messages, written straight from
  /// JSON in its key order.
  /// @param message the internal message (`{"cmd": "NODE_CLUSTER", ...}`).
  /// @param out the frame body so far; the bytes are appended.
  static void encode_internal(const nlohmann::ordered_json& message, std::string& out) {
    detail::advanced_encode_internal(message, out, max_depth);
  }

  /// Decodes one frame body.
  /// @param body one frame without its length prefix: the V8 header and one value.
  /// @return the value. Anything malformed (see above) throws `std::system_error` with
  ///   `errc::malformed_message`, its text naming the offset.
  static value_type decode(std::string_view body) {
    return detail::advanced_decode(body, max_depth);
  }

  /// Moves an internal message out of `v` as JSON, if it is one: an object whose `cmd` is a
  /// string longer than 5 characters starting with `NODE_` (Node's rule). The conversion never
  /// throws (see `value::to_json` for how non-JSON parts map).
  /// @param v a decoded message; reset to `undefined` when internal.
  /// @return the internal message, or `std::nullopt` for a user message (left alone).
  static std::optional<nlohmann::json> take_internal(value_type& v) {
    if (!is_internal(v))
      return std::nullopt;
    std::optional<nlohmann::json> message(v.to_json());
    v = value_type();
    return message;
  }

  /// Appends the V8 serialization of the object `head` (written as `encode_internal` writes
  /// it) with a last property `msg` holding `payload`, written as `encode` writes it: the
  /// payload keeps every type (BigInt, Map, Buffer, ...) and its object references count the
  /// envelope, as V8's do. Fields of `head` must be primitives.
  /// @param head the envelope's fields, an object of primitives.
  /// @param payload the user's message.
  /// @param out the frame body so far; the bytes are appended. Throws as `encode` does.
  static void encode_envelope(const nlohmann::ordered_json& head, const value_type& payload,
                              std::string& out) {
    detail::advanced_encode_envelope(head, payload, out, max_depth);
  }

  /// Moves the `msg` property out of an internal message, if it has one, as a value.
  /// @param v a decoded message; an internal one loses its `msg` property.
  /// @return the user's message with every type it had, or `std::nullopt` (`v` unchanged).
  static std::optional<value_type> take_payload(value_type& v) {
    if (!is_internal(v))
      return std::nullopt;
    value* payload = v.find(detail::payload_field);
    if (payload == nullptr)
      return std::nullopt;
    std::optional<value_type> taken(std::move(*payload));
    v.as_object().erase(detail::payload_field);
    return taken;
  }

  /// A JSON value as a message (see `value::from_json`).
  /// @param json the JSON value.
  /// @return the value it maps to.
  static value_type from_json(nlohmann::json&& json) { return value_type::from_json(json); }

  /// Converts a user value to a message, through `to_value` (or `to_json`).
  /// @tparam T a type with a `to_value(value&, const T&)` (or nlohmann's `to_json`) found by
  ///   argument-dependent lookup, or one `cocluster/value/convert.hpp` converts.
  /// @param object the value to convert.
  /// @return the message.
  template <class T>
  static value_type to_value(const T& object) {
    return value_type(object);
  }

  /// Converts a message to a user type, through `from_value` (or `from_json`).
  /// @tparam T a type with a `from_value(const value&, T&)` (or nlohmann's `from_json`).
  /// @param v the message.
  /// @return the converted value; a message of the wrong shape throws `value_error` (or, through
  ///   `from_json`, nlohmann's `json::exception`).
  template <class T>
  static T from_value(const value_type& v) {
    return v.template get<T>();
  }

private:
  static bool is_internal(const value_type& v) {
    if (!v.is_object())
      return false;
    const value* cmd = v.find("cmd");
    return cmd != nullptr && cmd->is_string() && detail::is_internal_cmd(cmd->as_string());
  }
};

static_assert(serialization_policy<advanced>);

} // namespace cocluster

// The codec itself: here header-only; with COCLUSTER_SEPARATE_COMPILATION only in the source that
// includes cocluster/impl/src.hpp.
#if !defined(COCLUSTER_SEPARATE_COMPILATION)
#include "cocluster/detail/serialization/advanced_codec_impl.hpp"
#endif

#endif // COCLUSTER_SERIALIZATION_ADVANCED_HPP
