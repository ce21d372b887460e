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
  value* find(const value& key) noexcept {
    entry* found = find_first([&key](const entry& e) { return same_value_zero(e.first, key); });
    return found != nullptr ? &found->second : nullptr;
  }
  /// The value stored under `key`, or null.
  const value* find(const value& key) const noexcept { return const_cast<map*>(this)->find(key); }
  /// True when `key` is present.
  bool contains(const value& key) const noexcept { return find(key) != nullptr; }
  /// `Map.prototype.set`: replaces the value of an existing key, or appends (a -0 key is
  /// stored as +0, as JavaScript does).
  void set(value key, value v) {
    if (value* existing = find(key))
      *existing = std::move(v);
    else
      items_.emplace_back(positive_zero(std::move(key)), std::move(v));
  }
  /// The value of `key`, appended as `undefined` when missing.
  value& operator[](const value& key) {
    if (value* existing = find(key))
      return *existing;
    return items_.emplace_back(positive_zero(key), value()).second;
  }
  /// Removes `key`; returns true when it was present.
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
