// SPDX-License-Identifier: MIT
/// @file
/// Conversions between `cocluster::value` and C++ types: the `to_value`/`from_value` hooks for
/// standard types, and the fallback through nlohmann's `to_json`/`from_json` for types that
/// only have those. `cocluster/value.hpp` includes it.
///
/// Standard types: `bool`; arithmetic types (integers must be integral numbers in range, or
/// BigInts for integer targets); `std::string`; `js::bigint`; `std::vector`/`std::array`
/// (arrays; holes are an error when reading); `std::map`/`std::unordered_map` with string keys
/// (objects) and with other keys (Maps); `std::set`/`std::unordered_set` (Sets);
/// `std::optional` (`null`/`undefined` when empty); `std::chrono::system_clock::time_point`
/// (Date); `std::vector<std::byte>` (Buffer; reading accepts any typed array or ArrayBuffer);
/// `std::pair` (a two-element array); nlohmann::json (see `cocluster/value/json.hpp`).
#ifndef COCLUSTER_VALUE_CONVERT_HPP
#define COCLUSTER_VALUE_CONVERT_HPP

#include <array>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cocluster/detail/json/is_json.hpp"
#include "cocluster/detail/v8/value_concepts.hpp"
#include "cocluster/js/array.hpp"
#include "cocluster/js/array_buffer.hpp"
#include "cocluster/js/bigint.hpp"
#include "cocluster/js/date.hpp"
#include "cocluster/js/map.hpp"
#include "cocluster/js/object.hpp"
#include "cocluster/js/set.hpp"
#include "cocluster/js/typed_array.hpp"
#include "cocluster/value/definitions.hpp"
#include "cocluster/value/error.hpp"
#include "cocluster/value/json.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::detail::v8 {

/// Types whose values name object keys.
template <class K>
concept string_key = std::same_as<K, std::string>;

/// Types with a `from_value(const value&, T&)` found by argument-dependent lookup.
template <class T>
concept has_from_value = requires(const value& v, T& x) { from_value(v, x); };

/// Types that only nlohmann::json knows how to read (a `from_json`).
template <class T>
concept has_json_from_only = !has_from_value<T> && requires(const nlohmann::json& j, T& x) {
  nlohmann::adl_serializer<T>::from_json(j, x);
};

/// Types a value can be converted to.
template <class T>
concept convertible_from_value = std::same_as<T, value> || has_from_value<T> ||
                                 has_json_from_only<T>;

[[noreturn]] inline void conversion_error(const value& v, const char* wanted) {
  throw value_error("cocluster::value: cannot convert " + std::string(kind_name(v.kind())) +
                    " to " + wanted);
}

} // namespace cocluster::detail::v8

namespace cocluster {

// ---- to_value for standard types (found by argument-dependent lookup on `value&`) ----

/// An array of the converted elements.
/// @param v the value written: replaced by a new dense array.
/// @param items the elements, each converted as `value(item)` does.
template <class T, class A>
  requires detail::v8::convertible_to_value<T>
void to_value(value& v, const std::vector<T, A>& items) {
  std::vector<value> out;
  out.reserve(items.size());
  for (const auto& item : items)
    out.emplace_back(item);
  v = value::array(std::move(out));
}

/// An array of the converted elements.
/// @param v the value written: replaced by a new dense array of `N` elements.
/// @param items the elements, each converted as `value(item)` does.
template <class T, std::size_t N>
  requires detail::v8::convertible_to_value<T>
void to_value(value& v, const std::array<T, N>& items) {
  std::vector<value> out;
  out.reserve(N);
  for (const auto& item : items)
    out.emplace_back(item);
  v = value::array(std::move(out));
}

/// A Buffer holding the bytes.
/// @param v the value written: replaced by a new Buffer.
/// @param bytes the bytes, copied.
template <class A>
void to_value(value& v, const std::vector<std::byte, A>& bytes) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  v = value::buffer(std::vector<std::uint8_t>(p, p + bytes.size()));
}

/// A two-element array.
/// @param v the value written: replaced by `[first, second]`.
/// @param pair the two elements, each converted.
template <class A, class B>
  requires(detail::v8::convertible_to_value<A> && detail::v8::convertible_to_value<B>)
void to_value(value& v, const std::pair<A, B>& pair) {
  v = value::array({value(pair.first), value(pair.second)});
}

namespace detail::v8 {
template <class Map>
void object_from_map(value& v, const Map& m) {
  v = value::object();
  auto& object = v.as_object();
  for (const auto& [key, item] : m)
    object.insert_or_assign(key, value(item));
}
template <class Map>
void map_from_map(value& v, const Map& m) {
  v = value::map();
  auto& out = v.as_map();
  for (const auto& [key, item] : m)
    out.set(value(key), value(item));
}
template <class Set>
void set_from_set(value& v, const Set& s) {
  v = value::set();
  auto& out = v.as_set();
  for (const auto& item : s)
    out.add(value(item));
}
} // namespace detail::v8

/// An object (string keys) or a Map (other keys).
/// @param v the value written: replaced by a new object or Map.
/// @param m the entries, keys and values converted, in the map's order.
template <class K, class T, class C, class A>
  requires(detail::v8::convertible_to_value<K> && detail::v8::convertible_to_value<T>)
void to_value(value& v, const std::map<K, T, C, A>& m) {
  if constexpr (detail::v8::string_key<K>)
    detail::v8::object_from_map(v, m);
  else
    detail::v8::map_from_map(v, m);
}

/// An object (string keys) or a Map (other keys).
/// @param v the value written: replaced by a new object or Map.
/// @param m the entries, keys and values converted, in the map's iteration order.
template <class K, class T, class H, class E, class A>
  requires(detail::v8::convertible_to_value<K> && detail::v8::convertible_to_value<T>)
void to_value(value& v, const std::unordered_map<K, T, H, E, A>& m) {
  if constexpr (detail::v8::string_key<K>)
    detail::v8::object_from_map(v, m);
  else
    detail::v8::map_from_map(v, m);
}

/// A Set.
/// @param v the value written: replaced by a new Set.
/// @param s the values, converted, in the set's order.
template <class T, class C, class A>
  requires detail::v8::convertible_to_value<T>
void to_value(value& v, const std::set<T, C, A>& s) {
  detail::v8::set_from_set(v, s);
}

/// A Set.
/// @param v the value written: replaced by a new Set.
/// @param s the values, converted, in the set's iteration order.
template <class T, class H, class E, class A>
  requires detail::v8::convertible_to_value<T>
void to_value(value& v, const std::unordered_set<T, H, E, A>& s) {
  detail::v8::set_from_set(v, s);
}

/// The converted value, or `null`.
/// @param v the value written.
/// @param o the optional value; empty gives `null`.
template <class T>
  requires detail::v8::convertible_to_value<T>
void to_value(value& v, const std::optional<T>& o) {
  v = o ? value(*o) : value(nullptr);
}

/// A Date.
/// @param v the value written: replaced by a new Date.
/// @param t the time, truncated to whole milliseconds.
template <class D>
void to_value(value& v, const std::chrono::time_point<std::chrono::system_clock, D>& t) {
  v = value::date(std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
}

/// The JSON document as a value (see `value::from_json`).
/// @param v the value written.
/// @param json the JSON value.
template <class BasicJson>
  requires detail::nlohmann_json_type<BasicJson>
void to_value(value& v, const BasicJson& json) {
  v = value::from_json(json);
}

// ---- from_value for standard types ----

/// A boolean.
/// @param v the value read; another kind throws `value_error`.
/// @param out the boolean written.
template <class B>
  requires std::same_as<B, bool>
void from_value(const value& v, B& out) {
  if (!v.is_boolean())
    detail::v8::conversion_error(v, "bool");
  out = v.as_bool();
}

/// An integer: an integral number in range, or a BigInt in range.
/// @param v the value read; a fraction, a value outside `I`'s range or another kind throws
///   `value_error`.
/// @param out the integer written.
template <class I>
  requires(std::integral<I> && !std::same_as<I, bool>)
void from_value(const value& v, I& out) {
  constexpr double low = static_cast<double>(std::numeric_limits<I>::min());
  constexpr double high = std::is_signed_v<I>
                              ? -low
                              : static_cast<double>(std::numeric_limits<I>::max()) + 1.0;
  if (v.is_number()) {
    const double d = v.as_number();
    if (!(d >= low && d < high) || std::trunc(d) != d)
      detail::v8::conversion_error(v, "an integer of this range");
    out = static_cast<I>(d);
    return;
  }
  if (v.is_bigint()) {
    if constexpr (std::is_signed_v<I>) {
      const auto i = v.as_bigint().to_int64();
      if (!i || *i < std::numeric_limits<I>::min() || *i > std::numeric_limits<I>::max())
        detail::v8::conversion_error(v, "an integer of this range");
      out = static_cast<I>(*i);
    } else {
      const auto u = v.as_bigint().to_uint64();
      if (!u || *u > std::numeric_limits<I>::max())
        detail::v8::conversion_error(v, "an integer of this range");
      out = static_cast<I>(*u);
    }
    return;
  }
  detail::v8::conversion_error(v, "an integer");
}

/// A floating-point number.
/// @param v the value read (an int32 or a double); another kind throws `value_error`.
/// @param out the number written, converted to `F`.
template <class F>
  requires std::floating_point<F>
void from_value(const value& v, F& out) {
  if (!v.is_number())
    detail::v8::conversion_error(v, "a floating-point number");
  out = static_cast<F>(v.as_number());
}

/// A string (WTF-8).
/// @param v the value read; another kind throws `value_error`.
/// @param out the string written, WTF-8.
inline void from_value(const value& v, std::string& out) {
  if (!v.is_string())
    detail::v8::conversion_error(v, "std::string");
  out = v.as_string();
}

/// A BigInt.
/// @param v the value read; another kind (a number too) throws `value_error`.
/// @param out the BigInt written.
inline void from_value(const value& v, js::bigint& out) {
  if (!v.is_bigint())
    detail::v8::conversion_error(v, "js::bigint");
  out = v.as_bigint();
}

/// The elements of an array (holes are an error).
/// @param v the value read; not an array, or one with a hole, throws `value_error`.
/// @param out cleared, then filled with the converted elements.
template <class T, class A>
  requires detail::v8::convertible_from_value<T>
void from_value(const value& v, std::vector<T, A>& out) {
  if (!v.is_array())
    detail::v8::conversion_error(v, "std::vector");
  const js::array& a = v.as_array();
  out.clear();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a.has(i))
      throw value_error("cocluster::value: array has a hole at index " + std::to_string(i));
    out.push_back(a[i].template get<T>());
  }
}

/// The bytes of a Buffer, typed array or ArrayBuffer.
/// @param v the value read; another kind throws `value_error`.
/// @param out replaced by a copy of the bytes.
template <class A>
void from_value(const value& v, std::vector<std::byte, A>& out) {
  const std::vector<std::uint8_t>* bytes = nullptr;
  if (v.is_typed_array())
    bytes = &v.as_typed_array().bytes;
  else if (v.is_array_buffer())
    bytes = &v.as_array_buffer().bytes;
  else
    detail::v8::conversion_error(v, "bytes");
  const auto* p = reinterpret_cast<const std::byte*>(bytes->data());
  out.assign(p, p + bytes->size());
}

/// The elements of an array of exactly `N` elements.
/// @param v the value read; not an array of `N` elements, or one with a hole, throws
///   `value_error`.
/// @param out every element written.
template <class T, std::size_t N>
  requires detail::v8::convertible_from_value<T>
void from_value(const value& v, std::array<T, N>& out) {
  if (!v.is_array() || v.as_array().size() != N)
    detail::v8::conversion_error(v, "std::array of this size");
  for (std::size_t i = 0; i < N; ++i) {
    if (!v.as_array().has(i))
      throw value_error("cocluster::value: array has a hole at index " + std::to_string(i));
    out[i] = std::as_const(v.as_array())[i].template get<T>();
  }
}

/// A two-element array.
/// @param v the value read; not an array of two elements throws `value_error`.
/// @param out both members written.
template <class A, class B>
  requires(detail::v8::convertible_from_value<A> && detail::v8::convertible_from_value<B>)
void from_value(const value& v, std::pair<A, B>& out) {
  if (!v.is_array() || v.as_array().size() != 2)
    detail::v8::conversion_error(v, "std::pair");
  out.first = v[std::size_t{0}].template get<A>();
  out.second = v[std::size_t{1}].template get<B>();
}

namespace detail::v8 {
template <class Map>
void map_from_value(const value& v, Map& out) {
  using key_type = typename Map::key_type;
  using mapped_type = typename Map::mapped_type;
  out.clear();
  if constexpr (string_key<key_type>) {
    if (!v.is_object())
      conversion_error(v, "a string-keyed map");
    for (const auto& [key, item] : v.as_object())
      out.insert_or_assign(key, item.template get<mapped_type>());
  } else {
    if (!v.is_map())
      conversion_error(v, "a map");
    for (const auto& [key, item] : v.as_map())
      out.insert_or_assign(key.template get<key_type>(), item.template get<mapped_type>());
  }
}
template <class Set>
void set_from_value(const value& v, Set& out) {
  if (!v.is_set())
    conversion_error(v, "a set");
  out.clear();
  for (const auto& item : v.as_set())
    out.insert(item.template get<typename Set::key_type>());
}
} // namespace detail::v8

/// The properties of an object (string keys) or the entries of a Map.
/// @param v the value read: an object for string keys, a Map otherwise (anything else throws
///   `value_error`).
/// @param out cleared, then filled; a repeated converted key keeps its last value.
template <class K, class T, class C, class A>
  requires(detail::v8::convertible_from_value<K> && detail::v8::convertible_from_value<T>)
void from_value(const value& v, std::map<K, T, C, A>& out) {
  detail::v8::map_from_value(v, out);
}

/// The properties of an object (string keys) or the entries of a Map.
/// @param v the value read: an object for string keys, a Map otherwise (anything else throws
///   `value_error`).
/// @param out cleared, then filled; a repeated converted key keeps its last value.
template <class K, class T, class H, class E, class A>
  requires(detail::v8::convertible_from_value<K> && detail::v8::convertible_from_value<T>)
void from_value(const value& v, std::unordered_map<K, T, H, E, A>& out) {
  detail::v8::map_from_value(v, out);
}

/// The values of a Set.
/// @param v the value read; not a Set throws `value_error`.
/// @param out cleared, then filled with the converted values.
template <class T, class C, class A>
  requires detail::v8::convertible_from_value<T>
void from_value(const value& v, std::set<T, C, A>& out) {
  detail::v8::set_from_value(v, out);
}

/// The values of a Set.
/// @param v the value read; not a Set throws `value_error`.
/// @param out cleared, then filled with the converted values.
template <class T, class H, class E, class A>
  requires detail::v8::convertible_from_value<T>
void from_value(const value& v, std::unordered_set<T, H, E, A>& out) {
  detail::v8::set_from_value(v, out);
}

/// Empty for `null` and `undefined`, otherwise the converted value.
/// @param v the value read.
/// @param out reset for `null` and `undefined`, otherwise set to the converted value.
template <class T>
  requires detail::v8::convertible_from_value<T>
void from_value(const value& v, std::optional<T>& out) {
  if (v.is_null() || v.is_undefined())
    out.reset();
  else
    out = v.template get<T>();
}

/// The time of a valid Date.
/// @param v the value read; not a Date, or an invalid one, throws `value_error`.
/// @param out the time written, cast to `D`.
template <class D>
void from_value(const value& v, std::chrono::time_point<std::chrono::system_clock, D>& out) {
  if (!v.is_date())
    detail::v8::conversion_error(v, "a time point");
  out = std::chrono::time_point_cast<D>(v.as_date().time_point());
}

/// The JSON form (see `value::to_json`).
/// @param v the value read (any kind).
/// @param out replaced by `v.to_json<BasicJson>()`.
template <class BasicJson>
  requires detail::nlohmann_json_type<BasicJson>
void from_value(const value& v, BasicJson& out) {
  out = v.template to_json<BasicJson>();
}

// ---- the generic entry points ----

template <class T>
  requires(!std::same_as<std::remove_cvref_t<T>, value> &&
           !detail::v8::native_value<std::remove_cvref_t<T>> &&
           detail::v8::convertible_to_value<std::remove_cvref_t<T>>)
value::value(const T& x) {
  if constexpr (detail::v8::has_to_value<T>) {
    to_value(*this, x);
  } else {
    *this = value::from_json(nlohmann::json(x));
  }
}

template <class T>
T value::get() const {
  if constexpr (std::same_as<T, value>) {
    return *this;
  } else if constexpr (detail::v8::has_from_value<T>) {
    T out{};
    from_value(*this, out);
    return out;
  } else if constexpr (detail::v8::has_json_from_only<T>) {
    try {
      return to_json().template get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw value_error(std::string("cocluster::value: through JSON: ") + e.what());
    }
  } else {
    static_assert(detail::v8::has_from_value<T>,
                  "no from_value(const cocluster::value&, T&) nor nlohmann from_json for T");
    return T{};
  }
}

} // namespace cocluster

#endif // COCLUSTER_VALUE_CONVERT_HPP
