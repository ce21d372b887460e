// SPDX-License-Identifier: MIT
/// @file
/// `restart_backoff`: how long a supervisor waits before it starts a failed worker's slot again.
/// Pure: it decides, the supervisor keeps the time.
#ifndef COCLUSTER_SUPERVISION_RESTART_BACKOFF_HPP
#define COCLUSTER_SUPERVISION_RESTART_BACKOFF_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace cocluster {

/// The respawn delay of one worker slot (PM2's `exp_backoff_restart_delay`, with a cap, jitter
/// and a reset). The n-th consecutive failure waits `initial * factor^(n-1)`, at most `max`,
/// spread by `± jitter` (so that slots failing together do not restart in step), never more than
/// `max`. A worker that stayed up for `reset_after` ends the streak: its failure waits `initial`
/// again.
struct backoff_options {
  /// The first delay.
  std::chrono::milliseconds initial{100};
  /// The longest delay.
  std::chrono::milliseconds max{30'000};
  /// How much each consecutive failure multiplies the delay (at least 1).
  double factor = 2.0;
  /// The random spread, as a fraction of the delay: 0.1 is ±10 % (from 0 to 1).
  double jitter = 0.1;
  /// An uptime after which a failure counts as the first again (the worker was stable).
  std::chrono::milliseconds reset_after{30'000};

  /// @throws std::invalid_argument naming the first option out of range.
  void validate() const {
    if (initial.count() < 0 || max < initial)
      throw std::invalid_argument("cocluster: backoff: needs 0 <= initial <= max");
    if (!(factor >= 1.0) || !std::isfinite(factor))
      throw std::invalid_argument("cocluster: backoff: factor must be at least 1 (and finite)");
    if (!(jitter >= 0.0 && jitter <= 1.0))
      throw std::invalid_argument("cocluster: backoff: jitter must be between 0 and 1");
  }
};

/// The consecutive failures of one slot and the delay each one earns.
class restart_backoff {
public:
  /// A slot with no failure yet.
  /// @param options the delays, factor, jitter and reset time (`backoff_options::validate`).
  /// @throws std::invalid_argument for options out of range.
  explicit restart_backoff(backoff_options options = {}) : options_(options) {
    options_.validate();
  }

  /// Records a failure of a worker that had been up for `uptime` (zero for one that never got
  /// ready) and returns how long to wait before its replacement starts. `random` in [0, 1)
  /// picks the point in the jitter's range (0.5 is the middle: no spread).
  /// @param uptime how long the failed worker was up; at least `reset_after` restarts the streak.
  /// @param random a uniform number in [0, 1), clamped into [0, 1]; tests pass 0.5.
  /// @return the delay, `initial * factor^(streak - 1)` spread by the jitter, within [0, `max`].
  std::chrono::milliseconds failed(std::chrono::milliseconds uptime, double random) {
    if (uptime >= options_.reset_after)
      streak_ = 0;
    ++streak_;
    const double cap = static_cast<double>(options_.max.count());
    double delay = static_cast<double>(options_.initial.count());
    for (int i = 1; i < streak_ && delay < cap; ++i)
      delay *= options_.factor;
    delay = std::min(delay, cap);
    const double spread = options_.jitter * (2.0 * std::clamp(random, 0.0, 1.0) - 1.0);
    delay = std::clamp(delay * (1.0 + spread), 0.0, cap);
    return std::chrono::milliseconds(
        static_cast<std::chrono::milliseconds::rep>(std::llround(delay)));
  }

  /// Consecutive failures so far.
  /// @return 0 before the first failure and after `reset`; 1 after a failure that followed a
  /// stable run (`reset_after`); one more for each quick failure after it.
  int streak() const noexcept { return streak_; }

  /// Forgets the streak.
  void reset() noexcept { streak_ = 0; }

  /// The options.
  /// @return the options given at construction (validated).
  const backoff_options& options() const noexcept { return options_; }

private:
  backoff_options options_;
  int streak_ = 0;
};

} // namespace cocluster

#endif // COCLUSTER_SUPERVISION_RESTART_BACKOFF_HPP
