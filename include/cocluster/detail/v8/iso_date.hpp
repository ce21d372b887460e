// SPDX-License-Identifier: MIT
/// @file
/// JavaScript's `Date.prototype.toISOString()` and the TimeClip rule for Date values.
#ifndef COCLUSTER_DETAIL_V8_ISO_DATE_HPP
#define COCLUSTER_DETAIL_V8_ISO_DATE_HPP

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

namespace cocluster::detail::v8 {

/// ECMAScript TimeClip: NaN outside +-8.64e15 ms, otherwise the value truncated toward zero
/// (with -0 turned into +0). V8 applies it to every Date it creates.
inline double time_clip(double time) noexcept {
  if (!std::isfinite(time) || std::fabs(time) > 8.64e15)
    return std::numeric_limits<double>::quiet_NaN();
  return std::trunc(time) + 0.0;
}

/// `new Date(time).toISOString()` for a clipped, finite time: `YYYY-MM-DDTHH:mm:ss.sssZ`, or
/// `+YYYYYY-…`/`-YYYYYY-…` for years outside 0..9999.
inline std::string iso_date_string(double time) {
  const auto ms_total = static_cast<std::int64_t>(time);
  constexpr std::int64_t ms_per_day = 86400000;
  std::int64_t days = ms_total / ms_per_day;
  std::int64_t ms_of_day = ms_total % ms_per_day;
  if (ms_of_day < 0) {
    ms_of_day += ms_per_day;
    --days;
  }
  // Civil date from days since 1970-01-01 (proleptic Gregorian), after H. Hinnant.
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buffer[64];
  const long long hours = ms_of_day / 3600000;
  const long long minutes = ms_of_day / 60000 % 60;
  const long long seconds = ms_of_day / 1000 % 60;
  const long long millis = ms_of_day % 1000;
  int written = 0;
  if (year >= 0 && year <= 9999)
    written = std::snprintf(buffer, sizeof buffer,
                            "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
                            static_cast<long long>(year), static_cast<long long>(month),
                            static_cast<long long>(day), hours, minutes, seconds, millis);
  else
    written = std::snprintf(buffer, sizeof buffer,
                            "%c%06lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
                            year < 0 ? '-' : '+', static_cast<long long>(year < 0 ? -year : year),
                            static_cast<long long>(month), static_cast<long long>(day), hours,
                            minutes, seconds, millis);
  return std::string(buffer, written > 0 ? static_cast<std::size_t>(written) : 0);
}

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_ISO_DATE_HPP
