// SPDX-License-Identifier: MIT
/// @file
/// What a worker object reports to the layer above it (the cluster's roles).
#ifndef COCLUSTER_DETAIL_WORKER_WORKER_OBSERVER_HPP
#define COCLUSTER_DETAIL_WORKER_WORKER_OBSERVER_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/events.hpp"
#include "cocluster/exit_status.hpp"

namespace cocluster::detail {

/// When a worker process should end (with exit code 0, as Node's worker does).
enum class exit_timing {
  /// At once.
  now,
  /// Once the handlers already posted have run (the user's disconnect handlers run first, as in
  /// Node, and may exit with a code of their own).
  after_posted_handlers,
};

/// Implemented by the cluster's roles; a worker calls it from its own handlers. Every call
/// happens after the worker's own state changed and before its own events were posted, so the
/// worker's events are delivered before the cluster's.
template <class Worker>
class worker_observer {
public:
  /// The worker sent `online`.
  virtual void worker_online(Worker&) = 0;
  /// True when someone subscribed to the cluster-wide message stream.
  virtual bool wants_messages() = 0;
  /// A user message arrived (called only when `wants_messages()`).
  virtual void worker_message(Worker&, typename Worker::value_type&& message) = 0;
  /// True when someone subscribed to the cluster-wide stream of messages with handles.
  virtual bool wants_handle_messages() { return false; }
  /// A user message with a handle arrived (called only when `wants_handle_messages()`).
  virtual void worker_handle_message(Worker&, typename Worker::value_type&&, handle&&) {}
  /// In the primary: the worker asks that a user value be routed to other workers
  /// (`routing::act_route`; its head and the value).
  virtual void worker_route(Worker&, nlohmann::json&& /* head */,
                            typename Worker::value_type&& /* payload */) {}
  /// An error about the worker.
  virtual void worker_error(Worker&, const worker_error&) = 0;
  /// An internal message the worker object does not handle itself (queryServer, listening,
  /// close, newconn), with the descriptor that came with it.
  virtual void worker_internal(Worker&, nlohmann::json&& message, unique_fd fd) = 0;
  /// The primary called `disconnect()` on the worker: it gets no new connections from now on.
  virtual void worker_disconnect_requested(Worker&) = 0;
  /// The IPC channel closed.
  virtual void worker_disconnected(Worker&) = 0;
  /// The process ended.
  virtual void worker_exited(Worker&, const exit_status&) = 0;
  /// In a worker process: closes every server, then calls `done` once their connections ended
  /// (or `drain_timeout` passed and the rest were shut down).
  virtual void close_servers(std::function<void()> done,
                             std::optional<std::chrono::milliseconds> drain_timeout) = 0;
  /// In a worker process: the worker object decided that this process leaves, at `when`; the
  /// role ends the process.
  virtual void process_should_exit(exit_timing when) = 0;

protected:
  ~worker_observer() = default;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_WORKER_WORKER_OBSERVER_HPP
