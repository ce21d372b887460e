// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::ordered_items`: the item list that property maps, Maps and Sets share.
#ifndef COCLUSTER_JS_ORDERED_ITEMS_HPP
#define COCLUSTER_JS_ORDERED_ITEMS_HPP

#include <cstddef>
#include <vector>

namespace cocluster::js {

/// Items kept in a vector, in their order, with what `property_map`, `map` and `set` share:
/// size, iteration and removal of everything. Lookups are linear.
template <class Item>
class ordered_items {
public:
  /// Iterator over the items.
  using iterator = typename std::vector<Item>::iterator;
  /// Iterator over the items.
  using const_iterator = typename std::vector<Item>::const_iterator;

  /// Number of items.
  /// @return how many entries (properties, Map entries or Set values) there are.
  std::size_t size() const noexcept { return items_.size(); }
  /// True when there are none.
  /// @return `size() == 0`.
  bool empty() const noexcept { return items_.empty(); }
  /// First item.
  /// @return an iterator to the first item in order (`end()` when empty).
  iterator begin() noexcept { return items_.begin(); }
  /// Past the last item.
  /// @return the iterator past the last item.
  iterator end() noexcept { return items_.end(); }
  /// First item.
  /// @return an iterator to the first item in order (`end()` when empty).
  const_iterator begin() const noexcept { return items_.begin(); }
  /// Past the last item.
  /// @return the iterator past the last item.
  const_iterator end() const noexcept { return items_.end(); }
  /// Removes every item.
  void clear() noexcept { items_.clear(); }

protected:
  ordered_items() = default;
  ~ordered_items() = default;

  /// The first item that `matches`, or null.
  /// @param matches a predicate called with each item in order until it returns true.
  /// @return a pointer to that item, valid until the items change; null when none matches.
  template <class Match>
  Item* find_first(Match matches) noexcept {
    for (auto& item : items_)
      if (matches(item))
        return &item;
    return nullptr;
  }

  /// Removes the first item that `matches`; true when there was one.
  /// @param matches a predicate called with each item in order until it returns true.
  /// @return true when an item was removed (the later ones keep their order).
  template <class Match>
  bool erase_first(Match matches) {
    for (auto it = items_.begin(); it != items_.end(); ++it)
      if (matches(*it)) {
        items_.erase(it);
        return true;
      }
    return false;
  }

  /// The items, in their order.
  std::vector<Item> items_;
};

} // namespace cocluster::js

#endif // COCLUSTER_JS_ORDERED_ITEMS_HPP
