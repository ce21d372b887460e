// SPDX-License-Identifier: MIT
/// @file
/// The part of JavaScript's equality algorithms that looks at no node, which SameValueZero and
/// deep equality share.
#ifndef COCLUSTER_DETAIL_V8_COMPARE_PRIMITIVES_HPP
#define COCLUSTER_DETAIL_V8_COMPARE_PRIMITIVES_HPP

#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::detail::v8 {

/// What comparing two values' kinds and primitive contents says.
enum class primitive_comparison { equal, different, compare_nodes };

/// The part of JavaScript's equality algorithms that looks at no node: numbers (int32 or not)
/// compare with `same_number`, other primitives by content; two values of one node kind are
/// left to the caller (`compare_nodes`).
template <class SameNumber>
primitive_comparison compare_primitives(const value& a, const value& b,
                                        SameNumber same_number) noexcept {
  const value_kind ka = a.kind();
  const value_kind kb = b.kind();
  const bool number_a = ka == value_kind::int32 || ka == value_kind::number;
  const bool number_b = kb == value_kind::int32 || kb == value_kind::number;
  const auto result = [](bool same) {
    return same ? primitive_comparison::equal : primitive_comparison::different;
  };
  if (number_a || number_b)
    return result(number_a && number_b && same_number(a.as_number(), b.as_number()));
  if (ka != kb)
    return primitive_comparison::different;
  switch (ka) {
  case value_kind::undefined:
  case value_kind::null:
  case value_kind::hole: return primitive_comparison::equal;
  case value_kind::boolean: return result(a.as_bool() == b.as_bool());
  case value_kind::bigint: return result(a.as_bigint() == b.as_bigint());
  case value_kind::string: return result(a.as_string() == b.as_string());
  default: return primitive_comparison::compare_nodes;
  }
}

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_COMPARE_PRIMITIVES_HPP
