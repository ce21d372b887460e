// SPDX-License-Identifier: MIT
/// @file
/// A FIFO of waiting completion handlers that supports per-operation cancellation.
#ifndef COCLUSTER_DETAIL_ASYNC_WAITER_LIST_HPP
#define COCLUSTER_DETAIL_ASYNC_WAITER_LIST_HPP

#include <cstdint>
#include <deque>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"

namespace cocluster::detail {

/// The value an aborted waiter gets: a default-constructed one, or for a type that needs an
/// executor (an Asio socket) one made on `executor` (closed).
template <class T>
T empty_value(const asio::any_io_executor& executor) {
  if constexpr (std::is_default_constructible_v<T>)
    return T{};
  else
    return T(executor);
}

/// Handlers waiting for `void(std::error_code, Values...)`. A handler whose cancellation slot
/// is emitted (any cancellation type) leaves the list and completes with
/// `asio::error::operation_aborted` and empty values (`empty_value`). A list destroyed with
/// waiters still in it completes them the same way.
template <class... Values>
class waiter_list {
public:
  explicit waiter_list(asio::any_io_executor executor)
      : state_(std::make_shared<state>(std::move(executor))) {}

  waiter_list(const waiter_list&) = delete;
  waiter_list& operator=(const waiter_list&) = delete;

  ~waiter_list() { abort_all(make_error_code(asio::error::operation_aborted)); }

  /// True when no handler waits.
  bool empty() const noexcept { return state_->entries.empty(); }

  /// Adds a waiting handler; `keep_alive` is released after the handler has run.
  template <class Handler>
  void add(Handler&& handler, std::shared_ptr<void> keep_alive = {}) {
    auto slot = asio::get_associated_cancellation_slot(handler);
    const std::uint64_t id = ++state_->last_id;
    state_->entries.push_back({id,
                               erased_handler<Values...>(std::forward<Handler>(handler),
                                                         state_->executor, std::move(keep_alive))});
    if (slot.is_connected())
      slot.template emplace<cancel_one>(std::weak_ptr<state>(state_), id);
  }

  /// Completes the oldest waiter. Returns false when there was none.
  bool complete_one(std::error_code ec, Values&&... values) {
    if (state_->entries.empty())
      return false;
    auto handler = std::move(state_->entries.front().handler);
    state_->entries.pop_front();
    finish(handler, ec, std::move(values)...);
    return true;
  }

  /// Completes every waiter with copies of the values.
  void complete_all(std::error_code ec, const Values&... values) {
    auto entries = std::move(state_->entries);
    state_->entries.clear();
    for (auto& waiting : entries)
      finish(waiting.handler, ec, Values(values)...);
  }

  /// Completes every waiter with `ec` and empty values (`empty_value`; works for move-only
  /// values too).
  void abort_all(std::error_code ec) {
    auto entries = std::move(state_->entries);
    state_->entries.clear();
    for (auto& waiting : entries)
      finish(waiting.handler, ec, empty_value<Values>(state_->executor)...);
  }

private:
  struct entry {
    std::uint64_t id;
    erased_handler<Values...> handler;
  };

  struct state {
    explicit state(asio::any_io_executor ex) : executor(std::move(ex)) {}
    asio::any_io_executor executor;
    std::deque<entry> entries; // no allocation per waiter
    std::uint64_t last_id = 0;
  };

  // Installed in a handler's cancellation slot. It may outlive the waiter it names, so it holds
  // only a weak reference and an id, and does nothing once that waiter is gone.
  struct cancel_one {
    cancel_one(std::weak_ptr<state> s, std::uint64_t i) : owner(std::move(s)), id(i) {}

    void operator()(asio::cancellation_type type) {
      if (type == asio::cancellation_type::none)
        return;
      auto s = owner.lock();
      if (!s)
        return;
      for (auto it = s->entries.begin(); it != s->entries.end(); ++it) {
        if (it->id != id)
          continue;
        auto handler = std::move(it->handler);
        s->entries.erase(it);
        // The slot is not cleared here: this object is the slot's handler and still running.
        handler.complete(make_error_code(asio::error::operation_aborted),
                         empty_value<Values>(s->executor)...);
        return;
      }
    }

    std::weak_ptr<state> owner;
    std::uint64_t id;
  };

  static void finish(erased_handler<Values...>& handler, std::error_code ec, Values&&... values) {
    auto slot = handler.cancellation_slot();
    if (slot.is_connected())
      slot.clear();
    handler.complete(ec, std::move(values)...);
  }

  std::shared_ptr<state> state_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_ASYNC_WAITER_LIST_HPP
