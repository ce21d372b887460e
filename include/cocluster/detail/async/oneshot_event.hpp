// SPDX-License-Identifier: MIT
/// @file
/// A level-triggered, one-shot event: waiting after it happened completes at once.
#ifndef COCLUSTER_DETAIL_ASYNC_ONESHOT_EVENT_HPP
#define COCLUSTER_DETAIL_ASYNC_ONESHOT_EVENT_HPP

#include <memory>
#include <optional>
#include <system_error>
#include <tuple>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/async/waiter_list.hpp"

namespace cocluster::detail {

/// An event that happens at most once, with a result `(std::error_code, Values...)`. Like a
/// manual-reset event that is never reset: every wait, before or after it happens, completes
/// with the same result.
template <class... Values>
class oneshot_event {
public:
  explicit oneshot_event(asio::any_io_executor executor)
      : executor_(executor), waiters_(std::move(executor)) {}

  /// True once the event has happened.
  bool is_set() const noexcept { return result_.has_value(); }

  /// Makes the event happen; later calls are ignored.
  void set(std::error_code ec, Values... values) {
    if (result_)
      return;
    result_.emplace(ec, std::move(values)...);
    std::apply([this](const auto&... r) { waiters_.complete_all(r...); }, *result_);
  }

  /// Waits for the event. Completion signature: `void(std::error_code, Values...)`.
  /// `keep_alive` is held until the handler has run.
  template <class Token>
  auto async_wait(Token&& token, std::shared_ptr<void> keep_alive = {}) {
    return asio::async_initiate<Token, void(error_code, Values...)>(
        [this](auto handler, std::shared_ptr<void> ka) {
          if (result_) {
            erased_handler<Values...> ready(std::move(handler), executor_, std::move(ka));
            std::apply([&](const auto&... r) { ready.complete(r...); }, *result_);
          } else {
            waiters_.add(std::move(handler), std::move(ka));
          }
        },
        token, std::move(keep_alive));
  }

private:
  asio::any_io_executor executor_;
  std::optional<std::tuple<std::error_code, Values...>> result_;
  waiter_list<Values...> waiters_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_ASYNC_ONESHOT_EVENT_HPP
