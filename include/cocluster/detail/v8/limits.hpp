// SPDX-License-Identifier: MIT
/// @file
/// The limits the V8 codec and the value algorithms share.
#ifndef COCLUSTER_DETAIL_V8_LIMITS_HPP
#define COCLUSTER_DETAIL_V8_LIMITS_HPP

#include <cstddef>

namespace cocluster::detail::v8 {

/// The deepest nesting of objects, arrays, Maps, Sets and Errors that the codec and the
/// recursive algorithms (printing, JSON conversion) accept.
inline constexpr std::size_t max_nesting = 1000;

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_LIMITS_HPP
