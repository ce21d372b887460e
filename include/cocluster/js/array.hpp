// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::array`: a JavaScript array, dense or sparse, with named properties.
#ifndef COCLUSTER_JS_ARRAY_HPP
#define COCLUSTER_JS_ARRAY_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cocluster/detail/v8/teardown.hpp"
#include "cocluster/detail/v8/value_access.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/property_map.hpp"
#include "cocluster/value/error.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::js {

/// A JavaScript array: `size()` is its `length`; elements may be absent (holes, distinct from
/// `undefined`), and named (non-index) properties live in `properties()`. Elements are stored
/// densely, except those far beyond the last dense one, which are kept sparsely, so that
/// `a[4294967294] = x` costs one element.
class array final : public node_base {
public:
  /// An empty array.
  array() noexcept : node_base(value_kind::array) {}
  /// A dense array of `items`.
  /// @param items the elements, index 0 first, moved in; a hole among them (`value::hole()`)
  ///   stays a hole. Throws `value_error` when there are more than `max_length`.
  explicit array(std::vector<value> items)
      : node_base(value_kind::array), items_(std::move(items)),
        length_(static_cast<std::uint32_t>(items_.size())) {
    if (items_.size() > max_length)
      throw value_error("cocluster::value: array longer than 2^32 - 1");
  }
  ~array();

  /// The largest JavaScript array length.
  static constexpr std::size_t max_length = 0xFFFFFFFFu;

  /// The array's `length`.
  /// @return one past the highest index set (holes counted), or what `resize` set.
  std::size_t size() const noexcept { return length_; }
  /// True when `length` is 0.
  /// @return `size() == 0` (an array of holes only is not empty).
  bool empty() const noexcept { return length_ == 0; }
  /// True when element `index` is present (not a hole).
  /// @param index the element's index; any value (beyond `size()`, false).
  /// @return whether the element exists; an element that holds `undefined` does.
  bool has(std::size_t index) const noexcept {
    if (index < items_.size())
      return !items_[index].is_hole();
    return index <= 0xFFFFFFFEu && far_.count(static_cast<std::uint32_t>(index)) != 0;
  }
  /// Element `index`, or a hole.
  /// @param index the element's index; any value.
  /// @return the element, or a shared hole value (`is_hole()`) when absent or beyond `size()`.
  const value& operator[](std::size_t index) const noexcept {
    if (index < items_.size())
      return items_[index];
    if (index <= 0xFFFFFFFEu) {
      const auto it = far_.find(static_cast<std::uint32_t>(index));
      if (it != far_.end())
        return it->second;
    }
    return hole_value();
  }
  /// Element `index`, created as `undefined` if absent (extending `length`). Throws
  /// `value_error` beyond index 2^32 - 2.
  /// @param index the element's index, at most 2^32 - 2.
  /// @return the element, valid until the array changes.
  value& operator[](std::size_t index);
  /// Element `index`; throws `value_error` when it is absent.
  /// @param index the element's index.
  /// @return the element (never a hole).
  const value& at(std::size_t index) const {
    if (!has(index))
      throw value_error("cocluster::value: no element " + std::to_string(index));
    return (*this)[index];
  }
  /// Appends `item` at index `length`.
  /// @param item the new last element (moved in). Throws `value_error` when `length` is
  ///   already `max_length`.
  void push_back(value item) { (*this)[length_] = std::move(item); }
  /// Sets `length`: elements at or beyond it are removed; growing adds holes.
  /// @param length the new `length`, at most `max_length` (beyond it: `value_error`).
  void resize(std::size_t length);
  /// Removes every element and named property.
  void clear() noexcept {
    items_.clear();
    far_.clear();
    length_ = 0;
    properties_.clear();
  }
  /// Number of present elements (holes excluded).
  /// @return how many indices `has()` is true for; at most `size()`.
  std::size_t count() const noexcept {
    std::size_t n = far_.size();
    for (const auto& item : items_)
      n += item.is_hole() ? std::size_t{0} : std::size_t{1};
    return n;
  }
  /// True when no element is a hole.
  /// @return whether every index below `size()` is present (true for an empty array).
  bool is_dense() const noexcept {
    if (!far_.empty() || items_.size() != length_)
      return false;
    for (const auto& item : items_)
      if (item.is_hole())
        return false;
    return true;
  }
  /// Calls `f(index, element)` for each present element, in index order.
  /// @param f called as `f(std::size_t index, const value& element)`; it must not change the
  ///   array.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < items_.size(); ++i)
      if (!items_[i].is_hole())
        f(i, items_[i]);
    for (const auto& [index, item] : far_)
      f(static_cast<std::size_t>(index), item);
  }
  /// Calls `f(index, element)` for each present element, in index order.
  /// @param f called as `f(std::size_t index, value& element)`; it may change the elements,
  ///   not add or remove them.
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < items_.size(); ++i)
      if (!items_[i].is_hole())
        f(i, items_[i]);
    for (auto& [index, item] : far_)
      f(static_cast<std::size_t>(index), item);
  }
  /// Named (non-index) properties, such as `a.tag = 1` in JavaScript.
  /// @return the array's own property list (array-index keys belong in the elements instead).
  property_map& properties() noexcept { return properties_; }
  /// Named (non-index) properties.
  /// @return the array's own property list.
  const property_map& properties() const noexcept { return properties_; }

private:
  class named_properties final : public property_map {};

  static const value& hole_value() noexcept;
  void absorb_far() {
    while (!far_.empty() && far_.begin()->first == items_.size()) {
      items_.push_back(std::move(far_.begin()->second));
      far_.erase(far_.begin());
    }
  }

  // How many holes a write past the dense part may add before the element goes sparse.
  static constexpr std::size_t dense_gap = 8;

  std::vector<value> items_;           // indices [0, items_.size()); may hold holes
  std::map<std::uint32_t, value> far_; // present elements beyond items_, sorted
  std::uint32_t length_ = 0;           // >= items_.size(), > every far_ key
  named_properties properties_;
  friend struct cocluster::detail::v8::node_access;
};

inline const value& array::hole_value() noexcept {
  static const value instance = value::hole();
  return instance;
}

inline value& array::operator[](std::size_t index) {
  if (index > 0xFFFFFFFEu)
    throw value_error("cocluster::value: array index " + std::to_string(index) +
                      " beyond 2^32 - 2");
  const auto i32 = static_cast<std::uint32_t>(index);
  if (index >= length_)
    length_ = i32 + 1;
  if (index < items_.size()) {
    if (items_[index].is_hole())
      items_[index] = value(); // a hole becomes a present element
    return items_[index];
  }
  if (auto it = far_.find(i32); it != far_.end())
    return it->second;
  const bool next_to_dense = index - items_.size() <= dense_gap &&
                             (far_.empty() || i32 < far_.begin()->first);
  if (next_to_dense) {
    items_.resize(index, value::hole());
    items_.emplace_back();
    absorb_far();
    return items_[index];
  }
  return far_[i32];
}

inline void array::resize(std::size_t length) {
  if (length > max_length)
    throw value_error("cocluster::value: array length beyond 2^32 - 1");
  if (length < items_.size())
    items_.resize(length);
  far_.erase(
      far_.lower_bound(static_cast<std::uint32_t>(std::min<std::size_t>(length, 0xFFFFFFFFu))),
      far_.end());
  length_ = static_cast<std::uint32_t>(length);
}

inline array::~array() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& item : items_)
    detail::v8::value_access::defer(queue, item);
  for (auto& [index, item] : far_)
    detail::v8::value_access::defer(queue, item);
  for (auto& e : properties_.items_)
    detail::v8::value_access::defer(queue, e.second);
  queue.drain();
}

} // namespace cocluster::js

#endif // COCLUSTER_JS_ARRAY_HPP
