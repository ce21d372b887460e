// SPDX-License-Identifier: MIT
/// @file
/// How the supervisor's operations complete: `void(std::error_code)`, except that `co_await`
/// with `asio::use_awaitable` throws a `std::system_error` whose what() says which worker failed
/// and why (an error code cannot carry that).
#ifndef COCLUSTER_DETAIL_SUPERVISOR_COMPLETION_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_COMPLETION_HPP

#include <exception>
#include <functional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/cluster/listen_completion.hpp"

namespace cocluster::detail {

/// The end of a supervisor operation: an error code and, for a failure, what happened.
using outcome_callback = std::function<void(std::error_code, const std::string&)>;

/// Starts an operation, `start(done)` with `done` an `outcome_callback`, and completes `token`
/// once with `void(std::error_code)`; with `asio::use_awaitable`, a failure is thrown as
/// `std::system_error(code, "cocluster: " + what)`.
template <class Token, class Start>
auto async_outcome(Token&& token, const asio::any_io_executor& executor, Start start) {
  if constexpr (throws_failure<Token>) {
    return asio::async_initiate<Token, void(std::exception_ptr)>(
        [executor](auto handler, Start begin) {
          deliver_once<decltype(handler), std::exception_ptr> done(std::move(handler), executor);
          begin(outcome_callback([done](std::error_code ec, const std::string& what) {
            done(ec ? std::make_exception_ptr(std::system_error(ec, "cocluster: " + what))
                    : std::exception_ptr());
          }));
        },
        token, std::move(start));
  } else {
    return asio::async_initiate<Token, void(error_code)>(
        [executor](auto handler, Start begin) {
          deliver_once<decltype(handler), error_code> done(std::move(handler), executor);
          begin(outcome_callback([done](std::error_code ec, const std::string&) {
            done(handler_error(ec));
          }));
        },
        token, std::move(start));
  }
}

/// Callbacks waiting for one outcome; completing runs each once.
class outcome_waiters {
public:
  void add(outcome_callback callback) { waiters_.push_back(std::move(callback)); }

  /// Runs every waiter with the outcome and forgets them.
  void complete(std::error_code ec, const std::string& what) {
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& waiter : waiters)
      waiter(ec, what);
  }

  /// Moves the waiters of `other` here.
  void take(outcome_waiters& other) {
    for (auto& waiter : other.waiters_)
      waiters_.push_back(std::move(waiter));
    other.waiters_.clear();
  }

  bool empty() const noexcept { return waiters_.empty(); }

private:
  std::vector<outcome_callback> waiters_;
};

/// An outcome that happens once and stays: a wait after it completes at once (the callback still
/// reaches the user's handler through `deliver_once`, so never inside the call).
class latched_outcome {
public:
  /// Runs `callback` with the outcome, now if it is known, else when it is.
  void wait(outcome_callback callback) {
    if (done_)
      callback(code_, what_);
    else
      waiters_.add(std::move(callback));
  }

  /// Sets the outcome (later calls are ignored) and completes every waiter.
  void set(std::error_code ec, const std::string& what) {
    if (done_)
      return;
    done_ = true;
    code_ = ec;
    what_ = what;
    waiters_.complete(ec, what);
  }

  bool is_set() const noexcept { return done_; }

private:
  bool done_ = false;
  std::error_code code_;
  std::string what_;
  outcome_waiters waiters_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_COMPLETION_HPP
