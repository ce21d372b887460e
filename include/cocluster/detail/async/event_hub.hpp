// SPDX-License-Identifier: MIT
/// @file
/// Publishes events to every live subscription.
#ifndef COCLUSTER_DETAIL_ASYNC_EVENT_HUB_HPP
#define COCLUSTER_DETAIL_ASYNC_EVENT_HUB_HPP

#include <algorithm>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/stream_queue.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail {

/// The source side of an event stream: each subscription gets every event published after it
/// was made, in order (a broadcast, like an EventEmitter with several listeners).
template <class T>
class event_hub {
public:
  explicit event_hub(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  event_hub(const event_hub&) = delete;
  event_hub& operator=(const event_hub&) = delete;

  /// Closes every subscription with `errc::stream_closed`.
  ~event_hub() { close(make_error_code(errc::stream_closed)); }

  /// A new subscription; the hub holds it weakly. `backlog` (events that waited for a first
  /// subscriber) is queued first, even if the hub is already closed.
  template <class Backlog = std::vector<T>>
  std::shared_ptr<stream_queue<T>> subscribe(Backlog&& backlog = {}) {
    auto queue = std::make_shared<stream_queue<T>>(executor_);
    for (auto& event : backlog)
      queue->push(std::move(event));
    if (closed_)
      queue->close(closed_);
    else
      subscribers_.push_back(queue);
    return queue;
  }

  /// True once `close` was called.
  bool is_closed() const noexcept { return static_cast<bool>(closed_); }

  /// True when at least one subscription is alive.
  bool has_subscribers() {
    prune();
    return !subscribers_.empty();
  }

  /// Delivers `value` to every subscription (moved into the last one).
  void publish(T&& value) {
    prune();
    if (subscribers_.empty())
      return;
    for (std::size_t i = 0; i + 1 < subscribers_.size(); ++i)
      if (auto queue = subscribers_[i].lock())
        queue->push(std::as_const(value));
    if (auto last = subscribers_.back().lock())
      last->push(std::move(value));
  }
  /// Delivers a copy of `value` to every subscription.
  void publish(const T& value) { publish(T(value)); }

  /// Ends every subscription; later subscriptions start closed.
  void close(std::error_code reason) {
    if (closed_)
      return;
    closed_ = reason;
    auto subscribers = std::move(subscribers_);
    subscribers_.clear();
    for (auto& weak : subscribers)
      if (auto queue = weak.lock())
        queue->close(reason);
  }

private:
  void prune() {
    subscribers_.erase(std::remove_if(subscribers_.begin(), subscribers_.end(),
                                      [](const auto& weak) { return weak.expired(); }),
                       subscribers_.end());
  }

  asio::any_io_executor executor_;
  std::vector<std::weak_ptr<stream_queue<T>>> subscribers_;
  std::error_code closed_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_ASYNC_EVENT_HUB_HPP
