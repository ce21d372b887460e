// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::set`: a JavaScript Set.
#ifndef COCLUSTER_JS_SET_HPP
#define COCLUSTER_JS_SET_HPP

#include <utility>

#include "cocluster/detail/v8/teardown.hpp"
#include "cocluster/detail/v8/value_access.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/ordered_items.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/same_value_zero.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::js {

/// A JavaScript Set: values in insertion order, compared with SameValueZero.
class set final : public node_base, public ordered_items<value> {
  // Matches the values that are `item` under SameValueZero.
  static auto same_as(const value& item) noexcept {
    return [&item](const value& v) { return same_value_zero(v, item); };
  }

public:
  /// An empty Set.
  set() noexcept : node_base(value_kind::set) {}
  ~set();
  /// True when `item` is present.
  /// @param item the value looked for, compared with SameValueZero (NaN finds NaN, +0 finds -0,
  ///   a node only itself).
  /// @return whether the Set holds it.
  bool contains(const value& item) const noexcept {
    return const_cast<set*>(this)->find_first(same_as(item)) != nullptr;
  }
  /// `Set.prototype.add`: appends `item` unless present (-0 as +0, as JavaScript does);
  /// returns true when appended.
  /// @param item the value to add (moved in).
  /// @return true when appended; false when already present (the Set is then unchanged).
  bool add(value item) {
    if (contains(item))
      return false;
    items_.push_back(positive_zero(std::move(item)));
    return true;
  }
  /// Removes `item`; returns true when it was present.
  /// @param item the value to remove, compared with SameValueZero.
  /// @return true when it was present and is now gone; false when absent.
  bool erase(const value& item) { return erase_first(same_as(item)); }

private:
  friend struct cocluster::detail::v8::node_access;
};

inline set::~set() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& item : items_)
    detail::v8::value_access::defer(queue, item);
  queue.drain();
}

} // namespace cocluster::js

#endif // COCLUSTER_JS_SET_HPP
