// SPDX-License-Identifier: MIT
/// @file
/// `stop_sequence`: the phases of a supervisor's run (idle, running, stopping, stopped) and
/// what each stop request does: the first drains every worker (a graceful disconnect, then a
/// kill after the kill timeout), the second kills at once; the run ends when the last worker
/// is gone, with the first failure that stopped it. Pure: the supervisor carries it out.
#ifndef COCLUSTER_SUPERVISION_STOP_SEQUENCE_HPP
#define COCLUSTER_SUPERVISION_STOP_SEQUENCE_HPP

#include <cstddef>
#include <string>
#include <system_error>
#include <utility>

namespace cocluster {

/// The phase of a supervisor's run.
enum class pool_phase {
  idle,     ///< not run yet
  running,  ///< keeping its workers
  stopping, ///< its workers are leaving
  stopped,  ///< every worker is gone: the run is over
};

/// What one stop request asks the supervisor to do.
enum class stop_action {
  nothing, ///< already stopped
  finish,  ///< nothing runs: the run is over now
  drain,   ///< retire every worker gracefully; the run ends when the last is gone
  kill,    ///< the second request: kill every worker now
};

/// A run's phases and its stop.
class stop_sequence {
public:
  /// The phase now.
  /// @return idle before `start`, then running, stopping and stopped in that order.
  pool_phase phase() const noexcept { return phase_; }

  /// Whether the pool keeps its workers (it runs and is not stopping).
  /// @return `phase() == pool_phase::running`.
  bool is_running() const noexcept { return phase_ == pool_phase::running; }

  /// Whether a stop began (stopping or stopped).
  /// @return true from the first `request` on (also once the run is over).
  bool is_stopping() const noexcept {
    return phase_ == pool_phase::stopping || phase_ == pool_phase::stopped;
  }

  /// The run begins. @return false when it already ran (only an idle pool starts)
  bool start() noexcept {
    if (phase_ != pool_phase::idle)
      return false;
    phase_ = pool_phase::running;
    return true;
  }

  /// A stop was asked for (a call, a signal, a failure, a hot upgrade's end).
  /// @return what to do (after `drain`, the stop ends as `member_gone` says, at once when no
  ///         worker is left)
  stop_action request() noexcept {
    switch (phase_) {
    case pool_phase::idle: phase_ = pool_phase::stopping; return stop_action::finish;
    case pool_phase::running: phase_ = pool_phase::stopping; return stop_action::drain;
    case pool_phase::stopping: return stop_action::kill;
    case pool_phase::stopped: return stop_action::nothing;
    }
    return stop_action::nothing;
  }

  /// A worker of a stopping pool is gone.
  /// @param members_left how many workers are left
  /// @return true when that ends the stop
  bool member_gone(std::size_t members_left) const noexcept {
    return phase_ == pool_phase::stopping && members_left == 0;
  }

  /// The run is over (after `finish`, or the last worker gone).
  void finished() noexcept { phase_ = pool_phase::stopped; }

  /// The run fails: the stop that follows ends it with this error (the first failure stays).
  /// @param ec the error the run completes with
  /// @param what the failure in words
  void fail(std::error_code ec, std::string what) {
    if (failure_)
      return;
    failure_ = ec;
    failure_what_ = std::move(what);
  }

  /// The error the run completes with (none for a plain stop).
  /// @return the first `fail`'s error, or an empty error code.
  std::error_code failure() const noexcept { return failure_; }
  /// The failure in words (empty for a plain stop).
  /// @return the first `fail`'s text.
  const std::string& failure_what() const noexcept { return failure_what_; }

private:
  pool_phase phase_ = pool_phase::idle;
  std::error_code failure_;
  std::string failure_what_;
};

} // namespace cocluster

#endif // COCLUSTER_SUPERVISION_STOP_SEQUENCE_HPP
