// SPDX-License-Identifier: MIT
/// @file
/// One subscriber's queue of events: unbounded, in order, awaitable.
#ifndef COCLUSTER_DETAIL_ASYNC_STREAM_QUEUE_HPP
#define COCLUSTER_DETAIL_ASYNC_STREAM_QUEUE_HPP

#include <cstddef>
#include <deque>
#include <optional>
#include <system_error>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/async/waiter_list.hpp"

namespace cocluster::detail {

/// Events for one subscriber. Invariant: when a receiver waits, the queue is empty, so events
/// are received in the order they were pushed and none is dropped.
template <class T>
class stream_queue {
public:
  explicit stream_queue(asio::any_io_executor executor)
      : executor_(executor), waiters_(std::move(executor)) {}

  /// Delivers one event.
  void push(T&& value) {
    if (closed_)
      return;
    if (waiters_.empty())
      items_.push_back(std::move(value));
    else
      waiters_.complete_one({}, std::move(value));
  }
  /// Delivers a copy of one event.
  void push(const T& value) { push(T(value)); }

  /// Ends the stream: waiting and later receivers complete with `reason` once the queue is empty.
  void close(std::error_code reason) {
    if (closed_)
      return;
    closed_ = reason;
    waiters_.complete_all(reason, T{});
  }

  /// True until `close`.
  bool is_open() const noexcept { return !closed_; }

  /// Events queued and not yet received.
  std::size_t size() const noexcept { return items_.size(); }

  /// Takes the next event if one is queued.
  std::optional<T> try_receive() {
    if (items_.empty())
      return std::nullopt;
    std::optional<T> value(std::move(items_.front()));
    items_.pop_front();
    return value;
  }

  /// Receives the next event. Completion signature: `void(std::error_code, T)`.
  template <class Token>
  auto async_receive(Token&& token) {
    return asio::async_initiate<Token, void(error_code, T)>(
        [this](auto handler) {
          if (!items_.empty()) {
            erased_handler<T> ready(std::move(handler), executor_);
            T value = std::move(items_.front());
            items_.pop_front();
            ready.complete({}, std::move(value));
          } else if (closed_) {
            erased_handler<T>(std::move(handler), executor_).complete(closed_, T{});
          } else {
            waiters_.add(std::move(handler));
          }
        },
        token);
  }

private:
  asio::any_io_executor executor_;
  std::deque<T> items_;
  waiter_list<T> waiters_;
  std::error_code closed_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_ASYNC_STREAM_QUEUE_HPP
