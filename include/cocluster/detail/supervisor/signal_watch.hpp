// SPDX-License-Identifier: MIT
/// @file
/// `signal_watch`: the supervisor's signals (`supervisor_signals`), each handed to the pool as
/// it comes, until the watch is cancelled. What a signal means is the pure `signal_action_of`.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_SIGNAL_WATCH_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_SIGNAL_WATCH_HPP

#include <functional>
#include <memory>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/supervision/signal_action.hpp"

namespace cocluster::detail {

/// Waits for the supervisor's signals, one after another.
class signal_watch {
public:
  /// Starts watching.
  /// @param executor where the signal set runs
  /// @param on_signal runs with each signal's number
  signal_watch(asio::any_io_executor executor, std::function<void(int)> on_signal)
      : signals_(executor), on_signal_(std::move(on_signal)) {
    for (int signal : supervisor_signals)
      signals_.add(signal);
    wait();
  }

  /// No more signals are handed on (and the process's own handling comes back).
  void cancel() {
    *alive_ = false;
    signals_.cancel();
  }

  ~signal_watch() { cancel(); }

  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

private:
  void wait() {
    signals_.async_wait([this, alive = alive_](std::error_code ec, int signal) {
      if (ec || !*alive)
        return;
      on_signal_(signal);
      if (*alive)
        wait();
    });
  }

  asio::signal_set signals_;
  std::function<void(int)> on_signal_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_SIGNAL_WATCH_HPP
