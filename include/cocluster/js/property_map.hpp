// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::property_map`: string-keyed properties in JavaScript order, the part of
/// objects and of arrays' named properties.
#ifndef COCLUSTER_JS_PROPERTY_MAP_HPP
#define COCLUSTER_JS_PROPERTY_MAP_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cocluster/detail/v8/number_text.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/ordered_items.hpp"
#include "cocluster/value/error.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::js {

/// An ordered list of string-keyed properties in JavaScript order: canonical array-index keys
/// (`"0"` to `"4294967294"`) first in ascending order, then other keys in insertion order.
/// Lookups are linear. Do not change keys through iterators.
class property_map : public ordered_items<std::pair<std::string, value>> {
public:
  /// One property.
  using entry = std::pair<std::string, value>;

  /// The value of `key`, or null.
  /// @param key the property's name, compared byte for byte (`"1"` and `"01"` differ).
  /// @return a pointer to its value, valid until the properties change; null when absent.
  value* find(std::string_view key) noexcept {
    entry* found = find_first([key](const entry& e) { return e.first == key; });
    return found != nullptr ? &found->second : nullptr;
  }
  /// The value of `key`, or null.
  /// @param key the property's name, compared byte for byte.
  /// @return a pointer to its value, valid until the properties change; null when absent.
  const value* find(std::string_view key) const noexcept {
    return const_cast<property_map*>(this)->find(key);
  }
  /// True when `key` is present.
  /// @param key the property's name.
  /// @return whether the property exists (it may hold `undefined`).
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  /// The value of `key`, inserted as `undefined` (in JavaScript order) when missing.
  /// @param key the property's name; an array-index key (`"7"`) goes among the index keys in
  ///   ascending order, any other after the existing properties.
  /// @return the property's value, valid until the properties change.
  value& operator[](std::string_view key) {
    if (value* v = find(key))
      return *v;
    const auto at = items_.insert(items_.begin() + insert_position(key),
                                  entry(std::string(key), value()));
    return at->second;
  }
  /// The value of `key`; throws `value_error` when missing.
  /// @param key the property's name.
  /// @return the property's value, valid until the properties change.
  value& at(std::string_view key) {
    if (value* v = find(key))
      return *v;
    throw value_error("cocluster::value: no property '" + std::string(key) + "'");
  }
  /// The value of `key`; throws `value_error` when missing.
  /// @param key the property's name.
  /// @return the property's value, valid until the properties change.
  const value& at(std::string_view key) const { return const_cast<property_map*>(this)->at(key); }
  /// Sets `key` to `v`; returns true when the key was new.
  /// @param key the property's name (moved in when new); an existing property keeps its place,
  ///   a new one goes where JavaScript puts it (index keys ascending, then insertion order).
  /// @param v its value (moved in).
  /// @return true when the property was added; false when an existing one was replaced.
  bool insert_or_assign(std::string key, value v) {
    if (value* existing = find(key)) {
      *existing = std::move(v);
      return false;
    }
    const auto position = insert_position(key);
    items_.insert(items_.begin() + position, entry(std::move(key), std::move(v)));
    return true;
  }
  /// Removes `key`; returns true when it was present.
  /// @param key the property's name.
  /// @return true when it was there and is now gone; false when absent.
  bool erase(std::string_view key) {
    return erase_first([key](const entry& e) { return e.first == key; });
  }
  /// Reserves room for `n` properties.
  /// @param n how many properties the map will hold in all; it only saves reallocations.
  void reserve(std::size_t n) { items_.reserve(n); }

protected:
  property_map() = default;
  ~property_map() = default;

private:
  std::ptrdiff_t insert_position(std::string_view key) const noexcept {
    std::uint32_t index = 0;
    if (!detail::v8::parse_array_index(key, index))
      return static_cast<std::ptrdiff_t>(items_.size());
    std::size_t i = 0;
    std::uint32_t other = 0;
    while (i < items_.size() && detail::v8::parse_array_index(items_[i].first, other) &&
           other < index)
      ++i;
    return static_cast<std::ptrdiff_t>(i);
  }

  friend struct cocluster::detail::v8::node_access;
  friend class array;
};

} // namespace cocluster::js

#endif // COCLUSTER_JS_PROPERTY_MAP_HPP
