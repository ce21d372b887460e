// SPDX-License-Identifier: MIT
/// @file
/// The deep equality of value graphs behind `operator==`, without recursion: pairs of values wait
/// on an explicit stack, and a pair of nodes already being compared is assumed equal, which makes
/// cyclic graphs of the same shape compare equal. Included by `cocluster/value/definitions.hpp`.
#ifndef COCLUSTER_DETAIL_V8_VALUE_EQUAL_HPP
#define COCLUSTER_DETAIL_V8_VALUE_EQUAL_HPP

#include <cmath>
#include <cstring>
#include <functional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cocluster/detail/v8/compare_primitives.hpp"
#include "cocluster/detail/v8/node_access.hpp"
#include "cocluster/js/array.hpp"
#include "cocluster/js/array_buffer.hpp"
#include "cocluster/js/date.hpp"
#include "cocluster/js/error.hpp"
#include "cocluster/js/map.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/object.hpp"
#include "cocluster/js/property_map.hpp"
#include "cocluster/js/regexp.hpp"
#include "cocluster/js/set.hpp"
#include "cocluster/js/typed_array.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::detail::v8 {

/// SameValue on numbers: NaN equals NaN, -0 differs from +0.
inline bool same_number(double a, double b) noexcept {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

/// Compares two value graphs.
class graph_comparer {
public:
  /// True when `a` and `b` are deeply equal.
  bool equal(const value& a, const value& b) {
    pending_.emplace_back(&a, &b);
    while (!pending_.empty()) {
      const auto [x, y] = pending_.back();
      pending_.pop_back();
      if (!step(*x, *y))
        return false;
    }
    return true;
  }

private:
  struct pair_hash {
    std::size_t operator()(const std::pair<const void*, const void*>& p) const noexcept {
      return std::hash<const void*>()(p.first) * 31 + std::hash<const void*>()(p.second);
    }
  };

  bool same_properties(const js::property_map& a, const js::property_map& b) {
    if (a.size() != b.size())
      return false;
    auto ia = a.begin();
    for (auto ib = b.begin(); ib != b.end(); ++ia, ++ib) {
      if (ia->first != ib->first)
        return false;
      pending_.emplace_back(&ia->second, &ib->second);
    }
    return true;
  }

  bool step(const value& a, const value& b) {
    const auto primitives = compare_primitives(a, b, same_number);
    if (primitives != primitive_comparison::compare_nodes)
      return primitives == primitive_comparison::equal;
    const value_kind ka = a.kind();
    js::node_base* na = node_access::node(a);
    js::node_base* nb = node_access::node(b);
    if (na == nb)
      return true;
    if (!assumed_.emplace(na, nb).second)
      return true; // already compared, or being compared further up a cycle
    switch (ka) {
    case value_kind::object:
      return same_properties(static_cast<js::object&>(*na), static_cast<js::object&>(*nb));
    case value_kind::array: {
      const auto& x = static_cast<const js::array&>(*na);
      const auto& y = static_cast<const js::array&>(*nb);
      if (x.size() != y.size() || x.count() != y.count())
        return false;
      bool same = true;
      x.for_each([&](std::size_t index, const value& item) {
        if (!same)
          return;
        if (!y.has(index))
          same = false;
        else
          pending_.emplace_back(&item, &y[index]);
      });
      return same && same_properties(x.properties(), y.properties());
    }
    case value_kind::map: {
      const auto& x = static_cast<const js::map&>(*na);
      const auto& y = static_cast<const js::map&>(*nb);
      if (x.size() != y.size())
        return false;
      auto ix = x.begin();
      for (auto iy = y.begin(); iy != y.end(); ++ix, ++iy) {
        pending_.emplace_back(&ix->first, &iy->first);
        pending_.emplace_back(&ix->second, &iy->second);
      }
      return true;
    }
    case value_kind::set: {
      const auto& x = static_cast<const js::set&>(*na);
      const auto& y = static_cast<const js::set&>(*nb);
      if (x.size() != y.size())
        return false;
      auto ix = x.begin();
      for (auto iy = y.begin(); iy != y.end(); ++ix, ++iy)
        pending_.emplace_back(&*ix, &*iy);
      return true;
    }
    case value_kind::date:
      return same_number(static_cast<const js::date&>(*na).time,
                         static_cast<const js::date&>(*nb).time);
    case value_kind::regexp: {
      const auto& x = static_cast<const js::regexp&>(*na);
      const auto& y = static_cast<const js::regexp&>(*nb);
      return x.pattern == y.pattern && x.flags == y.flags;
    }
    case value_kind::array_buffer: {
      const auto& x = static_cast<const js::array_buffer&>(*na);
      const auto& y = static_cast<const js::array_buffer&>(*nb);
      return x.bytes == y.bytes && x.max_byte_length == y.max_byte_length;
    }
    case value_kind::typed_array: {
      const auto& x = static_cast<const js::typed_array&>(*na);
      const auto& y = static_cast<const js::typed_array&>(*nb);
      return x.kind == y.kind && x.bytes == y.bytes;
    }
    case value_kind::error: {
      const auto& x = static_cast<const js::error&>(*na);
      const auto& y = static_cast<const js::error&>(*nb);
      if (x.name != y.name || x.message != y.message || x.stack != y.stack ||
          x.cause.has_value() != y.cause.has_value())
        return false;
      if (x.cause)
        pending_.emplace_back(&*x.cause, &*y.cause);
      return true;
    }
    default: return false;
    }
  }

  std::vector<std::pair<const value*, const value*>> pending_;
  std::unordered_set<std::pair<const void*, const void*>, pair_hash> assumed_;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_VALUE_EQUAL_HPP
