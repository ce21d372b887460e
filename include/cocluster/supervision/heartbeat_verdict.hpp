// SPDX-License-Identifier: MIT
/// @file
/// `heartbeat_verdict`: whether a worker is hung, from when it last beat. A check that runs late
/// (the primary's own loop was held up) judges nobody: the beats it has not read yet are no sign
/// of a hung worker. Pure: the supervisor keeps the timer and reads the beats.
#ifndef COCLUSTER_SUPERVISION_HEARTBEAT_VERDICT_HPP
#define COCLUSTER_SUPERVISION_HEARTBEAT_VERDICT_HPP

#include <algorithm>
#include <chrono>
#include <optional>

namespace cocluster {

/// The hang check, run every `interval`: a worker silent for longer than `timeout` is hung.
class heartbeat_verdict {
public:
  /// The clock of the checks and the beats.
  using clock = std::chrono::steady_clock;

  /// @param interval how often the check runs (and a worker beats)
  /// @param timeout how long a worker may stay silent
  heartbeat_verdict(std::chrono::milliseconds interval, std::chrono::milliseconds timeout) noexcept
      : interval_(interval), timeout_(timeout) {}

  /// A check begins at `now`.
  /// @param now the time of the check
  /// @return false when it came too late to judge (more than interval + timeout/2 after the
  ///         previous one): the next check judges
  bool begin_check(clock::time_point now) noexcept {
    const auto previous = last_check_;
    last_check_ = now;
    return !(previous && now - *previous > interval_ + timeout_ / 2);
  }

  /// How long a worker has been silent, when that makes it hung.
  /// @param now the time of the check
  /// @param since when its heartbeats were asked for (a worker that never beat counts from then)
  /// @param last_beat when its last heartbeat came (none yet)
  /// @return the silence when it is longer than the timeout, else none
  std::optional<std::chrono::milliseconds> hung_for(
      clock::time_point now, clock::time_point since,
      std::optional<clock::time_point> last_beat) const noexcept {
    const auto last = std::max(since, last_beat.value_or(since));
    const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last);
    if (silent <= timeout_)
      return std::nullopt;
    return silent;
  }

private:
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds timeout_;
  std::optional<clock::time_point> last_check_;
};

} // namespace cocluster

#endif // COCLUSTER_SUPERVISION_HEARTBEAT_VERDICT_HPP
