// SPDX-License-Identifier: MIT
/// @file
/// JavaScript's SameValueZero, by which Maps and Sets find keys: `cocluster::same_value_zero`
/// (declared with `value`) and `js::positive_zero`, the -0 to +0 rule of their keys.
#ifndef COCLUSTER_VALUE_SAME_VALUE_ZERO_HPP
#define COCLUSTER_VALUE_SAME_VALUE_ZERO_HPP

#include <cmath>

#include "cocluster/detail/v8/compare_primitives.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster {

inline bool same_value_zero(const value& a, const value& b) noexcept {
  const auto same_number = [](double x, double y) {
    return x == y || (std::isnan(x) && std::isnan(y));
  };
  switch (detail::v8::compare_primitives(a, b, same_number)) {
  case detail::v8::primitive_comparison::equal: return true;
  case detail::v8::primitive_comparison::different: return false;
  default: return a.node() == b.node();
  }
}

namespace js {

/// `v`, except that -0 becomes +0 (Map keys and Set values are normalized so).
/// @param v any value; only a double -0 changes.
/// @return `v` itself, or the double +0 in place of -0.
inline value positive_zero(value v) {
  if (v.is_double() && v.as_double() == 0)
    return value(0.0);
  return v;
}

} // namespace js
} // namespace cocluster

#endif // COCLUSTER_VALUE_SAME_VALUE_ZERO_HPP
