// SPDX-License-Identifier: MIT
/// @file
/// `pool_member`: one worker of a supervisor's pool with its state (`member_state`, the pure
/// part) and the timers and subscriptions that watch it.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_POOL_MEMBER_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_POOL_MEMBER_HPP

#include <chrono>
#include <memory>
#include <optional>

#include "cocluster/config.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/listen_address.hpp"
#include "cocluster/supervision/member_state.hpp"

namespace cocluster::detail {

/// One member of a pool.
template <class Worker>
struct pool_member {
  /// @param w the worker
  /// @param s its state
  pool_member(Worker w, member_state s) : worker(std::move(w)), state(std::move(s)) {}

  Worker worker;
  member_state state;
  std::optional<std::chrono::system_clock::time_point> ready_time; // (for the metrics)
  std::shared_ptr<asio::steady_timer> boot_timer;
  std::shared_ptr<asio::steady_timer> kill_timer;
  std::shared_ptr<event_stream<listen_address>> listening_events;

  /// Whether the worker is alive.
  bool alive() const noexcept { return !worker.is_dead(); }

  /// Ends every wait on it: its timers, its readiness watch.
  void forget_timers() {
    if (boot_timer)
      boot_timer->cancel();
    if (kill_timer)
      kill_timer->cancel();
    listening_events.reset();
    if (worker)
      worker.impl(worker_key()).set_message_peek(worker_key(), nullptr);
  }
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_POOL_MEMBER_HPP
