// SPDX-License-Identifier: MIT
/// @file
/// The one way the library starts an operation that completes once (a listen, a bind, a
/// routed send, the supervisor's run, reload, stop and upgrade): `async_once`. Whatever the
/// token, it completes with `void(std::error_code, Values...)`, as Asio's own operations do.
#ifndef COCLUSTER_DETAIL_ASYNC_ASYNC_ONCE_HPP
#define COCLUSTER_DETAIL_ASYNC_ASYNC_ONCE_HPP

#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/waiter_list.hpp"

namespace cocluster::detail {

/// Reports the end of one operation started by `async_once`. Copyable, so it can travel
/// through `std::function` and the library's tables; only the first call counts. A call after
/// the handler was cancelled does nothing; when the last copy is destroyed without a call, the
/// handler completes with `asio::error::operation_aborted`, so no operation waits for ever.
template <class... Values>
class once_report {
public:
  explicit once_report(std::shared_ptr<waiter_list<Values...>> waiter) noexcept
      : waiter_(std::move(waiter)) {}

  /// Completes the operation's handler (at the end of the running handler, or posted), if it
  /// still waits.
  void operator()(std::error_code ec, Values... values) const {
    waiter_->complete_one(ec, std::move(values)...);
  }

  /// True while the handler waits: neither reported nor cancelled.
  bool waiting() const noexcept { return !waiter_->empty(); }

private:
  std::shared_ptr<waiter_list<Values...>> waiter_;
};

/// The initiation of `async_once`: puts the handler in a waiter list of its own (so that its
/// cancellation slot ends the wait), with work counted on the handler's executor while it
/// waits, then starts the operation.
template <class... Values>
class once_initiation {
public:
  explicit once_initiation(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  template <class Handler, class Initiation, class... Args>
  void operator()(Handler&& handler, Initiation&& initiation, Args&&... args) const {
    auto waiter = std::make_shared<waiter_list<Values...>>(executor_);
    using work_type = asio::executor_work_guard<
        asio::associated_executor_t<std::decay_t<Handler>, asio::any_io_executor>>;
    auto work = std::make_shared<work_type>(asio::get_associated_executor(handler, executor_));
    waiter->add(std::forward<Handler>(handler), std::move(work));
    std::forward<Initiation>(initiation)(once_report<Values...>(std::move(waiter)),
                                         std::forward<Args>(args)...);
  }

private:
  asio::any_io_executor executor_;
};

/// Starts an operation that completes once, and completes `token` with
/// `void(error_code, Values...)` whatever the token (with `asio::use_awaitable`, `co_await`
/// throws `std::system_error(code)` as it does for Asio's operations).
/// `initiation(report, args...)` runs when the token initiates (at once for a callback, at
/// the first `co_await` for `use_awaitable`), `report` a `once_report<Values...>`; `args` are
/// passed to it rather than captured (Asio's composed operations do the same), so a deferred
/// operation holds copies of them and not a reference to the caller's.
///
/// The wait honours per-operation cancellation (every type): the handler completes with
/// `asio::error::operation_aborted` and empty values, and a later report does nothing (the
/// operation itself runs on; what it yields is dropped, and closed if it is a socket). While
/// the handler waits it keeps work on its executor, so `io_context::run` does not return
/// under a pending operation.
/// @param token the completion token.
/// @param executor the executor the handler completes on when it has none of its own.
/// @param initiation called as `initiation(report, args...)`.
/// @param args passed to `initiation` (decay-copied by Asio when the token defers).
template <class... Values, class Token, class Initiation, class... Args>
auto async_once(Token&& token, const asio::any_io_executor& executor, Initiation&& initiation,
                Args&&... args) {
  return asio::async_initiate<Token, void(error_code, Values...)>(
      once_initiation<Values...>(executor), token, std::forward<Initiation>(initiation),
      std::forward<Args>(args)...);
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_ASYNC_ASYNC_ONCE_HPP
