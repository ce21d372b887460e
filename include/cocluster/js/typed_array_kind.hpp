// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::typed_array_kind`: the element types of typed arrays, their sizes and
/// JavaScript names.
#ifndef COCLUSTER_JS_TYPED_ARRAY_KIND_HPP
#define COCLUSTER_JS_TYPED_ARRAY_KIND_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cocluster::js {

/// The element type of a typed array. The numbers are Node's `typeIndex` on the wire.
enum class typed_array_kind : std::uint8_t {
  int8 = 0,          ///< Int8Array
  uint8 = 1,         ///< Uint8Array
  uint8_clamped = 2, ///< Uint8ClampedArray
  int16 = 3,         ///< Int16Array
  uint16 = 4,        ///< Uint16Array
  int32 = 5,         ///< Int32Array
  uint32 = 6,        ///< Uint32Array
  float32 = 7,       ///< Float32Array
  float64 = 8,       ///< Float64Array
  data_view = 9,     ///< DataView
  buffer = 10,       ///< Node's Buffer (a Uint8Array subclass)
  bigint64 = 11,     ///< BigInt64Array
  biguint64 = 12,    ///< BigUint64Array
};

/// Bytes per element of a typed array kind (1 for DataView and Buffer).
/// @param kind the view's element type.
/// @return 1, 2, 4 or 8; 1 also for a value outside the enumeration.
inline std::size_t element_size(typed_array_kind kind) noexcept {
  switch (kind) {
  case typed_array_kind::int16:
  case typed_array_kind::uint16: return 2;
  case typed_array_kind::int32:
  case typed_array_kind::uint32:
  case typed_array_kind::float32: return 4;
  case typed_array_kind::float64:
  case typed_array_kind::bigint64:
  case typed_array_kind::biguint64: return 8;
  default: return 1;
  }
}

/// The JavaScript constructor name of a typed array kind (`"Int16Array"`, `"Buffer"`, ...).
/// @param kind the view's element type.
/// @return the name, a static string; `"TypedArray"` for a value outside the enumeration.
inline std::string_view type_name(typed_array_kind kind) noexcept {
  switch (kind) {
  case typed_array_kind::int8: return "Int8Array";
  case typed_array_kind::uint8: return "Uint8Array";
  case typed_array_kind::uint8_clamped: return "Uint8ClampedArray";
  case typed_array_kind::int16: return "Int16Array";
  case typed_array_kind::uint16: return "Uint16Array";
  case typed_array_kind::int32: return "Int32Array";
  case typed_array_kind::uint32: return "Uint32Array";
  case typed_array_kind::float32: return "Float32Array";
  case typed_array_kind::float64: return "Float64Array";
  case typed_array_kind::data_view: return "DataView";
  case typed_array_kind::buffer: return "Buffer";
  case typed_array_kind::bigint64: return "BigInt64Array";
  case typed_array_kind::biguint64: return "BigUint64Array";
  }
  return "TypedArray";
}

} // namespace cocluster::js

#endif // COCLUSTER_JS_TYPED_ARRAY_KIND_HPP
