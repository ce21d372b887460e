// Runs a test's coroutine on an io_context with a watchdog, so that no test can hang.
#ifndef COCLUSTER_TESTS_SUPPORT_RUN_HPP
#define COCLUSTER_TESTS_SUPPORT_RUN_HPP

#include <chrono>
#include <exception>
#include <functional>
#include <string>

#include <doctest/doctest.h>

#include <cocluster.hpp>
#include <cocluster/config.hpp>
#include <cocluster/detail/async/oneshot_event.hpp>

namespace test {

using namespace std::chrono_literals;

/// `co_await f(as_tuple)`-style token that reports errors as values.
inline constexpr auto as_tuple = cocluster::as_tuple(asio::use_awaitable);

/// Runs `body()` to completion on `io`; fails the test if it throws or takes longer than
/// `limit`. Stops `io` when the body is done: workers still alive are cut off when the cluster
/// object is destroyed.
template <class Body>
void run(asio::io_context& io, Body&& body, std::chrono::seconds limit = 60s) {
  std::exception_ptr failure;
  bool done = false;
  bool timed_out = false;
  asio::steady_timer watchdog(io, limit);
  watchdog.async_wait([&](std::error_code ec) {
    if (!ec) {
      timed_out = true;
      io.stop();
    }
  });
  asio::co_spawn(io, body(), [&](std::exception_ptr e) {
    failure = e;
    done = true;
    watchdog.cancel();
    io.stop();
  });
  io.restart();
  io.run();
  if (timed_out)
    FAIL("the test did not finish within " << limit.count() << " s");
  REQUIRE(done);
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      FAIL("the test threw: " << std::string(e.what()));
    }
  }
}

/// A coroutine started at once (unlike `co_spawn(..., use_awaitable)`, which starts only when
/// awaited); `result()` waits for it.
template <class T>
class started {
public:
  struct state {
    explicit state(const asio::any_io_executor& executor) : done(executor) {}
    std::optional<T> value;
    std::exception_ptr error;
    cocluster::detail::oneshot_event<> done;
  };

  explicit started(std::shared_ptr<state> s) : state_(std::move(s)) {}

  asio::awaitable<T> result() {
    co_await state_->done.async_wait(asio::use_awaitable);
    if (state_->error)
      std::rethrow_exception(state_->error);
    co_return std::move(*state_->value);
  }

private:
  std::shared_ptr<state> state_;
};

/// Starts `work` now on `executor`.
template <class T>
started<T> start(const asio::any_io_executor& executor, asio::awaitable<T> work) {
  auto s = std::make_shared<typename started<T>::state>(executor);
  asio::co_spawn(executor, std::move(work), [s](std::exception_ptr e, T value) {
    if (e)
      s->error = e;
    else
      s->value = std::move(value);
    s->done.set({});
  });
  return started<T>(s);
}

/// Waits `duration` on the current executor.
inline asio::awaitable<void> sleep(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

/// Polls `condition` every 5 ms until it holds or `limit` passes; returns whether it held.
template <class Condition>
asio::awaitable<bool> eventually(Condition condition, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline)
      co_return false;
    co_await sleep(std::chrono::milliseconds(5));
  }
  co_return true;
}

} // namespace test

#endif
