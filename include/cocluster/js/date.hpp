// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::date`: a JavaScript Date.
#ifndef COCLUSTER_JS_DATE_HPP
#define COCLUSTER_JS_DATE_HPP

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "cocluster/detail/v8/iso_date.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/value/error.hpp"
#include "cocluster/value/kind.hpp"

namespace cocluster::js {

/// A JavaScript Date.
class date final : public node_base {
public:
  /// The Date at `time_value` ms after the epoch (NaN: an invalid date); not clipped here, see
  /// `value::date`.
  /// @param time_value milliseconds after 1970-01-01T00:00:00Z (fractions and negative values
  ///   allowed); NaN, the default, makes an invalid date.
  explicit date(double time_value = std::numeric_limits<double>::quiet_NaN()) noexcept
      : node_base(value_kind::date), time(time_value) {}
  /// Milliseconds after 1970-01-01T00:00:00Z, or NaN for an invalid date.
  double time;
  /// False for an invalid date.
  /// @return whether `time` is a number (not NaN).
  bool valid() const noexcept { return !std::isnan(time); }
  /// `toISOString()`; an empty string for an invalid date.
  /// @return the UTC time as `YYYY-MM-DDTHH:mm:ss.sssZ` (`+YYYYYY-...` or `-YYYYYY-...` outside
  ///   years 0 to 9999), or "" when invalid (where JavaScript throws a RangeError).
  std::string iso_string() const {
    return valid() ? detail::v8::iso_date_string(time) : std::string();
  }
  /// The time as a `system_clock` time point (milliseconds); throws `value_error` when invalid.
  /// @return `time`, truncated to whole milliseconds toward zero.
  std::chrono::system_clock::time_point time_point() const {
    if (!valid())
      throw value_error("cocluster::value: invalid date");
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::milliseconds(static_cast<std::int64_t>(time))));
  }
};

} // namespace cocluster::js

#endif // COCLUSTER_JS_DATE_HPP
