// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::value_kind`: what a `value` holds, and its name for messages.
#ifndef COCLUSTER_VALUE_KIND_HPP
#define COCLUSTER_VALUE_KIND_HPP

#include <cstdint>
#include <string_view>

namespace cocluster {

/// The kind of a `value`.
enum class value_kind : std::uint8_t {
  undefined,    ///< JavaScript `undefined` (also a default-constructed value).
  null,         ///< `null`.
  boolean,      ///< `true` or `false`.
  int32,        ///< A number V8 held as a small integer (written with tag `I`).
  number,       ///< A number held as a double (tag `N`), including -0, NaN and infinities.
  bigint,       ///< A BigInt.
  string,       ///< A string (WTF-8).
  object,       ///< A plain object.
  array,        ///< An array, dense or sparse.
  map,          ///< A Map.
  set,          ///< A Set.
  date,         ///< A Date.
  regexp,       ///< A RegExp.
  array_buffer, ///< An ArrayBuffer (possibly resizable).
  typed_array,  ///< A typed array, a DataView or a Node Buffer.
  error,        ///< An Error (or one of its six standard subclasses).
  hole,         ///< An absent array element; only meaningful inside an array.
};

/// The lowercase name of a kind, for messages.
/// @param kind the kind.
/// @return the enumerator's name ("array_buffer"), a static string; "unknown" for a value outside
///         the enumeration.
inline std::string_view kind_name(value_kind kind) noexcept {
  switch (kind) {
  case value_kind::undefined: return "undefined";
  case value_kind::null: return "null";
  case value_kind::boolean: return "boolean";
  case value_kind::int32: return "int32";
  case value_kind::number: return "number";
  case value_kind::bigint: return "bigint";
  case value_kind::string: return "string";
  case value_kind::object: return "object";
  case value_kind::array: return "array";
  case value_kind::map: return "map";
  case value_kind::set: return "set";
  case value_kind::date: return "date";
  case value_kind::regexp: return "regexp";
  case value_kind::array_buffer: return "array_buffer";
  case value_kind::typed_array: return "typed_array";
  case value_kind::error: return "error";
  case value_kind::hole: return "hole";
  }
  return "unknown";
}

} // namespace cocluster

#endif // COCLUSTER_VALUE_KIND_HPP
