// SPDX-License-Identifier: MIT
/// @file
/// The text of `/proc/<pid>/stat`, parsed: pure functions, no I/O (the caller reads the file).
#ifndef COCLUSTER_DETAIL_PROC_PROC_STAT_HPP
#define COCLUSTER_DETAIL_PROC_PROC_STAT_HPP

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cocluster::detail {

/// The fields of `/proc/<pid>/stat` the metrics use (proc(5)).
struct proc_stat {
  /// The state letter (field 3: R, S, D, Z, ...).
  char state = '?';
  /// User-mode CPU time in clock ticks (field 14).
  std::uint64_t utime_ticks = 0;
  /// Kernel-mode CPU time in clock ticks (field 15).
  std::uint64_t stime_ticks = 0;
  /// Start time after boot in clock ticks (field 22).
  std::uint64_t start_ticks = 0;
  /// Resident set size in pages (field 24).
  std::uint64_t rss_pages = 0;
};

/// Parses the text of `/proc/<pid>/stat`, or returns nothing when it is not such a text. The
/// command name (field 2) is in parentheses and may itself hold spaces and parentheses (a
/// process may name itself `a) (b`): the fields after it are read from the *last* `)`.
inline std::optional<proc_stat> parse_proc_stat(std::string_view text) {
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  // Fields 3 .. 24: the state, then numbers. Index i here is field i + 3.
  constexpr std::size_t wanted = 22;
  std::string_view fields[wanted];
  std::size_t count = 0;
  while (count < wanted) {
    const auto start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos)
      break;
    rest.remove_prefix(start);
    const auto end = rest.find_first_of(" \n");
    fields[count++] = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  if (count < wanted || fields[0].size() != 1)
    return std::nullopt;
  auto number = [](std::string_view field, std::uint64_t& out) {
    const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), out);
    return error == std::errc() && end == field.data() + field.size();
  };
  proc_stat stat;
  stat.state = fields[0][0];
  std::int64_t rss = 0;
  const auto [rss_end, rss_error] = std::from_chars(fields[21].data(),
                                                    fields[21].data() + fields[21].size(), rss);
  if (!number(fields[11], stat.utime_ticks) || !number(fields[12], stat.stime_ticks) ||
      !number(fields[19], stat.start_ticks) || rss_error != std::errc() ||
      rss_end != fields[21].data() + fields[21].size())
    return std::nullopt;
  stat.rss_pages = rss < 0 ? 0 : static_cast<std::uint64_t>(rss); // (never negative in practice)
  return stat;
}

/// A process's usage in units: resident bytes and CPU seconds.
struct proc_usage {
  /// `rss_pages` × the page size.
  std::uint64_t resident_bytes = 0;
  /// (`utime_ticks` + `stime_ticks`) / the clock ticks per second.
  double cpu_seconds = 0;
};

/// Converts `stat`'s counts with the system's `ticks_per_second` (`sysconf(_SC_CLK_TCK)`) and
/// `page_size` (`sysconf(_SC_PAGESIZE)`); a tick rate of 0 or less counts as 100 (Linux's
/// USER_HZ).
inline proc_usage usage_of(const proc_stat& stat, long ticks_per_second, long page_size) {
  proc_usage usage;
  usage.resident_bytes = stat.rss_pages * static_cast<std::uint64_t>(page_size > 0 ? page_size : 0);
  usage.cpu_seconds = static_cast<double>(stat.utime_ticks + stat.stime_ticks) /
                      static_cast<double>(ticks_per_second > 0 ? ticks_per_second : 100);
  return usage;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_PROC_PROC_STAT_HPP
