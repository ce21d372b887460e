// SPDX-License-Identifier: MIT
/// @file
/// `node_access`: the internals of values and of the node classes (their raw entries, an array's
/// dense and sparse parts) for the codec and the algorithms in `cocluster/detail/v8/`.
#ifndef COCLUSTER_DETAIL_V8_NODE_ACCESS_HPP
#define COCLUSTER_DETAIL_V8_NODE_ACCESS_HPP

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "cocluster/detail/v8/value_access.hpp"
#include "cocluster/js/array.hpp"
#include "cocluster/js/map.hpp"
#include "cocluster/js/property_map.hpp"
#include "cocluster/js/set.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::detail::v8 {

/// Access to the internals of values (`value_access`) and of nodes for the codec and the
/// algorithms in `cocluster/detail/v8/`.
struct node_access : value_access {
  /// The raw entries of an object.
  static std::vector<js::property_map::entry>& entries(js::property_map& m) noexcept {
    return m.items_;
  }
  /// The raw entries of a Map.
  static std::vector<js::map::entry>& entries(js::map& m) noexcept { return m.items_; }
  /// The raw values of a Set.
  static std::vector<value>& items(js::set& s) noexcept { return s.items_; }
  /// The dense part of an array (may hold holes).
  static std::vector<value>& items(js::array& a) noexcept { return a.items_; }
  /// The sparse part of an array.
  static std::map<std::uint32_t, value>& far(js::array& a) noexcept { return a.far_; }
  /// Sets an array's length without touching elements (the caller keeps the invariants).
  static void set_length(js::array& a, std::uint32_t length) noexcept { a.length_ = length; }
  /// The dense-gap limit of arrays.
  static constexpr std::size_t dense_gap = js::array::dense_gap;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_NODE_ACCESS_HPP
