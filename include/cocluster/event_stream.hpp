// SPDX-License-Identifier: MIT
/// @file
/// `event_stream`: a subscription to a repeated event (messages, exits, forks, ...).
#ifndef COCLUSTER_EVENT_STREAM_HPP
#define COCLUSTER_EVENT_STREAM_HPP

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/stream_queue.hpp"

namespace cocluster {

/// A subscription to a repeated event. From the moment it is made until it is destroyed it
/// receives every event of its kind, in order; events wait in its queue until received, so none
/// is dropped between two receives. Several subscriptions to the same source each get every
/// event. Destroy a subscription you no longer read: its queue grows with every event.
///
/// Waiting does not keep `io_context::run()` from returning, as a listener does not keep Node's
/// event loop alive.
///
/// @par Example
/// Replace every worker that dies (`examples/restart_on_exit.cpp`):
/// @code
/// auto exits = cluster.subscribe(cocluster::event::exit); // before the forks: none is missed
/// for (int i = 0; i < 3; ++i)
///   cluster.fork();
/// for (;;) {
///   auto exit = co_await exits.async_receive(asio::use_awaitable);
///   if (!exit.worker.exited_after_disconnect().value_or(false)) // not a disconnect()
///     cluster.fork();
/// }
/// @endcode
///
/// @par Thread Safety
/// Use from the thread that runs the cluster's `io_context`.
///
/// @tparam Event the event received: one of the structs in `cocluster/events.hpp`
///   (`exit_event<Worker>`, `message_event<Worker>`, ...) or `supervisor_event`.
template <class Event>
class event_stream {
public:
  /// The event type received.
  using value_type = Event;

  /// Wraps a queue made by the event's source. Users get streams from `subscribe()`
  /// (`cluster::subscribe`, `basic_worker::subscribe`, `supervisor::subscribe`), not from here.
  ///
  /// @param queue the source's queue for this subscription; the source pushes into it and
  ///   closes it when it goes away. Must not be null.
  explicit event_stream(std::shared_ptr<detail::stream_queue<Event>> queue)
      : queue_(std::move(queue)) {}

  /// Takes over the other's subscription; the other is left empty.
  event_stream(event_stream&&) noexcept = default;
  /// Drops this subscription and takes over the other's.
  ///
  /// @return `*this`.
  event_stream& operator=(event_stream&&) noexcept = default;
  event_stream(const event_stream&) = delete;
  event_stream& operator=(const event_stream&) = delete;

  /// Receives the next event.
  ///
  /// @par Completion Signature
  /// `void(std::error_code, Event)`. The error is `errc::stream_closed` once the source is gone
  /// and every queued event has been received.
  ///
  /// @par Per-Operation Cancellation
  /// All cancellation types: the wait ends with `asio::error::operation_aborted` and no event is
  /// consumed.
  ///
  /// @param token the completion token (`asio::use_awaitable` by default, so that
  ///   `co_await stream.async_receive()` returns the event, or throws `std::system_error`).
  /// @return whatever `token` makes of the operation: with `use_awaitable`, an awaitable.
  template <asio::completion_token_for<void(error_code, Event)> Token = asio::use_awaitable_t<>>
  auto async_receive(Token&& token = {}) {
    return queue_->async_receive(std::forward<Token>(token));
  }

  /// Takes the next event if one is already queued; never waits.
  ///
  /// @return the oldest queued event, removed from the queue; `std::nullopt` when none is
  ///   queued (the source still open or not).
  std::optional<Event> try_receive() { return queue_->try_receive(); }

  /// Events queued and not yet received.
  ///
  /// @return how many events `try_receive()` would return without waiting.
  std::size_t size() const noexcept { return queue_->size(); }

  /// False once the source has gone away.
  ///
  /// @return true while the source (cluster, worker or supervisor) may still push events; queued
  ///   events can still be received after it turns false.
  bool is_open() const noexcept { return queue_->is_open(); }

private:
  std::shared_ptr<detail::stream_queue<Event>> queue_;
};

} // namespace cocluster

#endif // COCLUSTER_EVENT_STREAM_HPP
