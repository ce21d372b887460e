// SPDX-License-Identifier: MIT
/// @file
/// `crash_loop_guard`: counts a pool's failures in a sliding window and says when to give up.
/// Pure: the supervisor passes the time.
#ifndef COCLUSTER_SUPERVISION_CRASH_LOOP_GUARD_HPP
#define COCLUSTER_SUPERVISION_CRASH_LOOP_GUARD_HPP

#include <chrono>
#include <cstddef>
#include <deque>
#include <stdexcept>

namespace cocluster {

/// When a supervisor stops respawning: `max_failures` failed starts or crashes, of any workers
/// of the pool, within `window` (PM2's `max_restarts` within `min_uptime`, counted over a window;
/// systemd's `StartLimitBurst` within `StartLimitIntervalSec`). Then the supervisor's run ends
/// with `errc::crash_loop`, so that the program can exit non-zero and let systemd or Kubernetes
/// apply their own restart limits.
struct crash_loop_options {
  /// Failures within the window that stop the pool (at least 1).
  std::size_t max_failures = 10;
  /// The window.
  std::chrono::milliseconds window{60'000};

  /// @throws std::invalid_argument for a zero count or a window that is not positive.
  void validate() const {
    if (max_failures == 0)
      throw std::invalid_argument("cocluster: crash_loop: max_failures must be at least 1");
    if (window.count() <= 0)
      throw std::invalid_argument("cocluster: crash_loop: window must be positive");
  }
};

/// The failures of the last window.
class crash_loop_guard {
public:
  /// The clock of the failure times.
  using clock = std::chrono::steady_clock;

  /// A guard with no failure recorded.
  /// @param options the failure count and window (`crash_loop_options::validate`).
  /// @throws std::invalid_argument for options out of range.
  explicit crash_loop_guard(crash_loop_options options = {}) : options_(options) {
    options_.validate();
  }

  /// Records a failure at `now`; true when it makes `max_failures` within the window (the pool
  /// is in a crash loop).
  /// @param now when the failure happened; calls must not go back in time. Failures `window`
  /// or more before it are forgotten first.
  /// @return true when this failure is the `max_failures`-th (or later) within the window.
  bool failed(clock::time_point now) {
    forget_before(now);
    failures_.push_back(now);
    return failures_.size() >= options_.max_failures;
  }

  /// Failures within the window that ends at `now`.
  /// @param now the end of the window; older failures are forgotten for good.
  /// @return the failures recorded less than `window` before `now`.
  std::size_t failures(clock::time_point now) {
    forget_before(now);
    return failures_.size();
  }

  /// The options.
  /// @return the options given at construction (validated).
  const crash_loop_options& options() const noexcept { return options_; }

private:
  void forget_before(clock::time_point now) {
    while (!failures_.empty() && now - failures_.front() >= options_.window)
      failures_.pop_front();
  }

  crash_loop_options options_;
  std::deque<clock::time_point> failures_;
};

} // namespace cocluster

#endif // COCLUSTER_SUPERVISION_CRASH_LOOP_GUARD_HPP
