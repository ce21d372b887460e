// SPDX-License-Identifier: MIT
/// @file
/// `value_access`: the internals of `cocluster::value` (its storage, and the weak-target mark of
/// nodes) for the node classes, the codec and the algorithms.
#ifndef COCLUSTER_DETAIL_V8_VALUE_ACCESS_HPP
#define COCLUSTER_DETAIL_V8_VALUE_ACCESS_HPP

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "cocluster/detail/v8/teardown.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::detail::v8 {

/// Access to the internals of values for the node classes, the codec and the algorithms in
/// `cocluster/detail/v8/` (through `node_access`, which adds the nodes' internals).
struct value_access {
  /// Node pointer type.
  using node_ptr = std::shared_ptr<js::node_base>;

  /// A strong value for `node`.
  static value strong(node_ptr node) noexcept { return value::from_node(std::move(node)); }
  /// A weak value for `node`.
  static value weak(const node_ptr& node) {
    node->weak_target_ = true;
    value v;
    v.data_ = value::weak_t{node, node.get()};
    return v;
  }
  /// Makes `v` null.
  static void set_null(value& v) noexcept { v.data_.emplace<value::null_t>(); }
  /// Makes `v` an array hole.
  static void set_hole(value& v) noexcept { v.data_.emplace<value::hole_t>(); }
  /// Makes `v` the boolean `b`.
  static void set_bool(value& v, bool b) noexcept { v.data_.emplace<bool>(b); }
  /// Makes `v` the number `n`.
  static void set_number(value& v, std::int32_t n) noexcept { v.data_.emplace<std::int32_t>(n); }
  /// Makes `v` the number `n` (an int32 when it fits, as `value(n)` does).
  static void set_number(value& v, std::uint32_t n) noexcept {
    if (n <= 0x7FFFFFFFu)
      v.data_.emplace<std::int32_t>(static_cast<std::int32_t>(n));
    else
      v.data_.emplace<double>(static_cast<double>(n));
  }
  /// Makes `v` the number `x`.
  static void set_number(value& v, double x) noexcept { v.data_.emplace<double>(x); }
  /// Makes `v` the string `text`.
  static void set_string(value& v, std::string_view text) {
    // Constructed first: variant::emplace would otherwise build a temporary variant (the
    // constructor may throw) and move-assign it.
    std::string s(text);
    v.data_.emplace<std::string>(std::move(s));
  }
  /// Makes `v` the string `text`.
  static void set_string(value& v, std::string&& text) noexcept {
    v.data_.emplace<std::string>(std::move(text));
  }
  /// Makes `v` hold `node` strongly.
  static void set_node(value& v, node_ptr&& node) noexcept {
    v.data_.emplace<node_ptr>(std::move(node));
  }
  /// The node `v` refers to (strongly, or weakly and alive), or null.
  static js::node_base* node(const value& v) noexcept { return v.node(); }
  /// The strong pointer held by `v`, or null for other values.
  static const node_ptr* strong_ptr(const value& v) noexcept {
    return std::get_if<node_ptr>(&v.data_);
  }
  /// A shared pointer to the node `v` refers to (or null).
  static node_ptr share(const value& v) noexcept {
    if (const auto* p = std::get_if<node_ptr>(&v.data_))
      return *p;
    if (const auto* w = std::get_if<value::weak_t>(&v.data_))
      return w->ptr.lock();
    return nullptr;
  }
  /// True when the encoder must track the identity of the node `v` strongly holds (someone
  /// else may hold it too) or weakly holds.
  static bool maybe_shared(const value& v) noexcept {
    if (const auto* p = std::get_if<node_ptr>(&v.data_))
      return p->use_count() > 1 || (*p)->weak_target_;
    return true;
  }
  /// Hands the node `child` strongly holds to the teardown queue.
  static void defer(teardown_queue& queue, value& child) noexcept {
    if (auto* p = std::get_if<node_ptr>(&child.data_); p != nullptr && *p)
      queue.defer(std::move(*p));
  }
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_VALUE_ACCESS_HPP
