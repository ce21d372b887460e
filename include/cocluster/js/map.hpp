// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::map`: a JavaScript Map.
#ifndef COCLUSTER_JS_MAP_HPP
#define COCLUSTER_JS_MAP_HPP

#include <utility>

#include "cocluster/detail/v8/teardown.hpp"
#include "cocluster/detail/v8/value_access.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/ordered_items.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/same_value_zero.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::js {

/// A JavaScript Map: entries in insertion order, keys compared with SameValueZero.
class map final : public node_base, public ordered_items<std::pair<value, value>> {
public:
  /// One entry.
  using entry = std::pair<value, value>;

  /// An empty Map.
  map() noexcept : node_base(value_kind::map) {}
  ~map();
  /// The value stored under `key`, or null.
  /// @param key the key looked for, compared with SameValueZero (NaN finds NaN, +0 finds -0, a
  ///   node only itself).
  /// @return a pointer to the entry's value, valid until the Map changes; null when absent.
  value* find(const value& key) noexcept {
    entry* found = find_first([&key](const entry& e) { return same_value_zero(e.first, key); });
    return found != nullptr ? &found->second : nullptr;
  }
  /// The value stored under `key`, or null.
  /// @param key the key looked for, compared with SameValueZero.
  /// @return a pointer to the entry's value, valid until the Map changes; null when absent.
  const value* find(const value& key) const noexcept { return const_cast<map*>(this)->find(key); }
  /// True when `key` is present.
  /// @param key the key looked for, compared with SameValueZero.
  /// @return whether the Map has an entry for it.
  bool contains(const value& key) const noexcept { return find(key) != nullptr; }
  /// `Map.prototype.set`: replaces the value of an existing key, or appends (a -0 key is
  /// stored as +0, as JavaScript does).
  /// @param key the entry's key (moved in); an existing entry keeps its place in the order.
  /// @param v its new value (moved in).
  void set(value key, value v) {
    if (value* existing = find(key))
      *existing = std::move(v);
    else
      items_.emplace_back(positive_zero(std::move(key)), std::move(v));
  }
  /// The value of `key`, appended as `undefined` when missing.
  /// @param key the key looked for, compared with SameValueZero; copied in when appended.
  /// @return the entry's value, valid until the Map changes.
  value& operator[](const value& key) {
    if (value* existing = find(key))
      return *existing;
    return items_.emplace_back(positive_zero(key), value()).second;
  }
  /// Removes `key`; returns true when it was present.
  /// @param key the key to remove, compared with SameValueZero.
  /// @return true when its entry was there and is now gone; false when absent.
  bool erase(const value& key) {
    return erase_first([&key](const entry& e) { return same_value_zero(e.first, key); });
  }

private:
  friend struct cocluster::detail::v8::node_access;
};

inline map::~map() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& [key, item] : items_) {
    detail::v8::value_access::defer(queue, key);
    detail::v8::value_access::defer(queue, item);
  }
  queue.drain();
}

} // namespace cocluster::js

#endif // COCLUSTER_JS_MAP_HPP
