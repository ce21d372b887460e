// SPDX-License-Identifier: MIT
/// @file
/// How the pool's operations end: an outcome (an error code and, for a failure, what happened)
/// that the pool's parts hand to waiters. The supervisor's `async_*` complete with the code
/// (`void(std::error_code)`, through `async_once`); the events carry what happened.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_COMPLETION_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_COMPLETION_HPP

#include <exception>
#include <functional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/async_once.hpp"

namespace cocluster::detail {

/// The end of a supervisor operation: an error code and, for a failure, what happened.
using outcome_callback = std::function<void(std::error_code, const std::string&)>;

/// An outcome's code as the supervisor's `async_*` complete with it (`async_once`).
/// @param report the operation's report.
inline outcome_callback outcome_of(once_report<> report) {
  return [report = std::move(report)](std::error_code ec, const std::string&) { report(ec); };
}

/// Callbacks waiting for one outcome; completing runs each once.
class outcome_waiters {
public:
  void add(outcome_callback callback) { waiters_.push_back(std::move(callback)); }

  /// Runs every waiter with the outcome and forgets them.
  void complete(std::error_code ec, const std::string& what) {
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& waiter : waiters)
      waiter(ec, what);
  }

  /// Moves the waiters of `other` here.
  void take(outcome_waiters& other) {
    for (auto& waiter : other.waiters_)
      waiters_.push_back(std::move(waiter));
    other.waiters_.clear();
  }

  bool empty() const noexcept { return waiters_.empty(); }

private:
  std::vector<outcome_callback> waiters_;
};

/// An outcome that happens once and stays: a wait after it completes at once (the callback still
/// reaches the user's handler through `once_report`, so never inside the call).
class latched_outcome {
public:
  /// Runs `callback` with the outcome, now if it is known, else when it is.
  void wait(outcome_callback callback) {
    if (done_)
      callback(code_, what_);
    else
      waiters_.add(std::move(callback));
  }

  /// Sets the outcome (later calls are ignored) and completes every waiter.
  void set(std::error_code ec, const std::string& what) {
    if (done_)
      return;
    done_ = true;
    code_ = ec;
    what_ = what;
    waiters_.complete(ec, what);
  }

  bool is_set() const noexcept { return done_; }

private:
  bool done_ = false;
  std::error_code code_;
  std::string what_;
  outcome_waiters waiters_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_COMPLETION_HPP
