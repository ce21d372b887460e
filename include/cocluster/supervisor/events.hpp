// SPDX-License-Identifier: MIT
/// @file
/// `supervisor_event`: what a supervisor reports, one stream for logging and for programs.
#ifndef COCLUSTER_SUPERVISOR_EVENTS_HPP
#define COCLUSTER_SUPERVISOR_EVENTS_HPP

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace cocluster {

/// The kinds of supervisor events.
enum class supervisor_event_type {
  started,           ///< a worker was forked into a slot
  ready,             ///< a worker got ready
  pool_ready,        ///< every slot has a ready worker, the first time
  exited,            ///< a worker the supervisor retired (scale down, reload, stop) exited, or
                     ///< one that disconnected itself (it is replaced at once)
  crashed,           ///< a ready worker exited unexpectedly
  boot_failed,       ///< a worker failed before it was ever ready (exit, boot timeout)
  respawn_scheduled, ///< a failed worker's slot starts again after `delay`
  crash_loop,        ///< too many failures within the window: respawning stopped
  hang_detected,     ///< a worker missed its heartbeats: it is killed and replaced
  reload_started,    ///< a rolling reload began
  reload_step,       ///< a replacement is ready and the worker it replaces was retired
  reload_finished,   ///< every worker runs the new release
  reload_failed,     ///< a replacement failed: rolled back, the old release serves on
  scaled,            ///< the pool size changed
  stopping,          ///< a graceful stop began (or, the second time, the kill)
  stopped,           ///< every worker has exited; the run is over
  upgrade_started,   ///< a hot upgrade began: the new primary (`pid`) was started
  upgraded,          ///< the new primary (`pid`) is ready: this one stops its workers and ends
  upgrade_failed,    ///< the new primary failed or was not ready in time: killed, this one
                     ///< serves on
};

/// The name of an event type ("respawn_scheduled").
/// @param type the event type.
/// @return the enumerator's name, a static string; "unknown" for a value outside the
///         enumeration.
inline const char* to_string(supervisor_event_type type) noexcept {
  switch (type) {
  case supervisor_event_type::started: return "started";
  case supervisor_event_type::ready: return "ready";
  case supervisor_event_type::pool_ready: return "pool_ready";
  case supervisor_event_type::exited: return "exited";
  case supervisor_event_type::crashed: return "crashed";
  case supervisor_event_type::boot_failed: return "boot_failed";
  case supervisor_event_type::respawn_scheduled: return "respawn_scheduled";
  case supervisor_event_type::crash_loop: return "crash_loop";
  case supervisor_event_type::hang_detected: return "hang_detected";
  case supervisor_event_type::reload_started: return "reload_started";
  case supervisor_event_type::reload_step: return "reload_step";
  case supervisor_event_type::reload_finished: return "reload_finished";
  case supervisor_event_type::reload_failed: return "reload_failed";
  case supervisor_event_type::scaled: return "scaled";
  case supervisor_event_type::stopping: return "stopping";
  case supervisor_event_type::stopped: return "stopped";
  case supervisor_event_type::upgrade_started: return "upgrade_started";
  case supervisor_event_type::upgraded: return "upgraded";
  case supervisor_event_type::upgrade_failed: return "upgrade_failed";
  }
  return "unknown";
}

/// One supervisor event.
///
/// @par Example
/// Log every event until the run is over (`examples/supervised_ready.cpp`):
/// @code
/// auto events = supervisor.subscribe();
/// for (;;) {
///   auto [ec, event] = co_await events.async_receive(cocluster::as_tuple(asio::use_awaitable));
///   if (ec)
///     co_return; // after `stopped`
///   std::printf("supervisor: %s\n", event.to_string().c_str());
/// }
/// @endcode
struct supervisor_event {
  /// What happened.
  supervisor_event_type type{};
  /// The worker's id (0 for an event of the whole pool).
  int worker = 0;
  /// The worker's pid (0 for an event of the whole pool), or the new primary's for the
  /// upgrade events.
  pid_t pid = 0;
  /// The worker's slot, from 0 (-1 for an event of the whole pool).
  int slot = -1;
  /// Why, in words: an exit status, a timeout, the failure that stopped a reload.
  std::string reason{};
  /// For `respawn_scheduled`: the wait before the start.
  std::chrono::milliseconds delay{0};
  /// The pool size the supervisor keeps after this event.
  std::size_t pool_size = 0;

  /// An event of the whole pool (`pool_ready`, `reload_started`, `stopping`, `stopped`...).
  /// @param type what happened
  /// @param pool_size the pool size kept after it
  /// @param reason why, in words (may be empty)
  /// @return the event, with no worker (id 0, pid 0, slot -1).
  static supervisor_event of_pool(supervisor_event_type type, std::size_t pool_size,
                                  std::string reason = {}) {
    supervisor_event event;
    event.type = type;
    event.reason = std::move(reason);
    event.pool_size = pool_size;
    return event;
  }

  /// An event of one worker (`started`, `ready`, `crashed`, `exited`...).
  /// @param type what happened
  /// @param worker the worker's id
  /// @param pid the worker's pid
  /// @param slot the worker's slot
  /// @param pool_size the pool size kept after it
  /// @param reason why, in words (may be empty)
  /// @return the event.
  static supervisor_event of_worker(supervisor_event_type type, int worker, pid_t pid, int slot,
                                    std::size_t pool_size, std::string reason = {}) {
    supervisor_event event = of_pool(type, pool_size, std::move(reason));
    event.worker = worker;
    event.pid = pid;
    event.slot = slot;
    return event;
  }

  /// `respawn_scheduled`: the slot of a failed worker starts again after `delay`.
  /// @param worker the failed worker's id
  /// @param pid the failed worker's pid
  /// @param slot its slot
  /// @param delay the wait before the new worker starts
  /// @param pool_size the pool size kept
  /// @return a `respawn_scheduled` event of that worker, with its `delay`.
  static supervisor_event respawn(int worker, pid_t pid, int slot, std::chrono::milliseconds delay,
                                  std::size_t pool_size) {
    supervisor_event event = of_worker(supervisor_event_type::respawn_scheduled, worker, pid, slot,
                                       pool_size);
    event.delay = delay;
    return event;
  }

  /// An event of a hot upgrade (`upgrade_started`, `upgraded`, `upgrade_failed`).
  /// @param type what happened
  /// @param new_primary the new primary's pid (0 when none was started)
  /// @param pool_size the pool size kept
  /// @param reason why, in words
  /// @return the event, of the whole pool, its `pid` the new primary's.
  static supervisor_event of_upgrade(supervisor_event_type type, pid_t new_primary,
                                     std::size_t pool_size, std::string reason) {
    supervisor_event event = of_pool(type, pool_size, std::move(reason));
    event.pid = new_primary;
    return event;
  }

  /// One line for a log: "worker 3 (pid 1234, slot 0) crashed: signal SIGKILL".
  /// @return the line, without a newline: "pool " for an event of the whole pool, the delay
  ///         of a respawn, the size after `scaled` and `pool_ready`, and the reason if any.
  std::string to_string() const {
    std::string line;
    if (worker != 0)
      line = "worker " + std::to_string(worker) + " (pid " + std::to_string(pid) + ", slot " +
             std::to_string(slot) + ") ";
    else
      line = "pool ";
    line += cocluster::to_string(type);
    if (type == supervisor_event_type::respawn_scheduled)
      line += " in " + std::to_string(delay.count()) + " ms";
    if (type == supervisor_event_type::scaled || type == supervisor_event_type::pool_ready)
      line += " to " + std::to_string(pool_size) + " workers";
    if (!reason.empty())
      line += ": " + reason;
    return line;
  }
};

} // namespace cocluster

#endif // COCLUSTER_SUPERVISOR_EVENTS_HPP
