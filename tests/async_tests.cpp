// The asynchronous building blocks: level-triggered one-shot events and subscription streams.
#include <doctest/doctest.h>

#include <cocluster/detail/async/erased_handler.hpp>
#include <cocluster/detail/async/event_hub.hpp>
#include <cocluster/detail/async/handler_turn.hpp>
#include <cocluster/detail/async/oneshot_event.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "support/run.hpp"

using namespace asio::experimental::awaitable_operators;
using cocluster::detail::erased_handler;
using cocluster::detail::event_hub;
using cocluster::detail::handler_turn;
using cocluster::detail::oneshot_event;
using namespace std::chrono_literals;

TEST_SUITE_BEGIN("async");

namespace {

// What a counting_allocator has handed out.
struct allocation_counts {
  int live = 0;
  int total = 0;
};

// An allocator a user might bind to a handler: counts what it allocates.
template <class T>
struct counting_allocator {
  using value_type = T;
  explicit counting_allocator(allocation_counts* c) noexcept : counts(c) {}
  template <class U>
  counting_allocator(const counting_allocator<U>& other) noexcept : counts(other.counts) {}
  T* allocate(std::size_t n) {
    ++counts->live;
    ++counts->total;
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    --counts->live;
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const counting_allocator<U>& other) const noexcept {
    return counts == other.counts;
  }
  allocation_counts* counts;
};

} // namespace

TEST_CASE("waiting on a one-shot event that already happened completes at once with its result") {
  asio::io_context io;
  oneshot_event<int> event(io.get_executor());
  event.set({}, 42);
  std::vector<int> results;
  for (int i = 0; i < 2; ++i)
    event.async_wait([&](std::error_code ec, int value) {
      CHECK(!ec);
      results.push_back(value);
    });
  // poll() runs only what is ready: a wait queued as if the event had not happened yet stays
  // pending here (where run() would hang).
  io.poll();
  REQUIRE(results == std::vector<int>{42, 42});
  test::run(io, [&]() -> asio::awaitable<void> {
    CHECK(co_await event.async_wait(asio::use_awaitable) == 42);
  });
}

TEST_CASE("every waiter of a one-shot event gets the result when it happens, and later sets are "
          "ignored") {
  asio::io_context io;
  oneshot_event<int> event(io.get_executor());
  std::vector<int> before;
  for (int i = 0; i < 3; ++i)
    event.async_wait([&](std::error_code ec, int value) {
      CHECK(!ec);
      before.push_back(value);
    });
  event.set({}, 7);
  event.set(make_error_code(cocluster::errc::worker_exited), 8);
  CHECK(before.empty()); // never run inside set()
  // A waiter that comes after the second set still gets the first result.
  std::optional<std::pair<std::error_code, int>> after;
  event.async_wait([&](std::error_code ec, int value) { after.emplace(ec, value); });
  io.run();
  CHECK(before == std::vector<int>{7, 7, 7});
  REQUIRE(after.has_value());
  CHECK(!after->first);
  CHECK(after->second == 7);
}

TEST_CASE("a one-shot wait is cancellable, so it can race a timer") {
  asio::io_context io;
  oneshot_event<> event(io.get_executor());
  test::run(io, [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(io, 20ms);
    auto result = co_await (event.async_wait(asio::use_awaitable) ||
                            timer.async_wait(asio::use_awaitable));
    CHECK(result.index() == 1);
    // The event can still happen and be awaited afterwards.
    event.set({});
    co_await event.async_wait(asio::use_awaitable);
  });
}

TEST_CASE(
    "a subscription receives every event in order, including those published before it waits") {
  asio::io_context io;
  event_hub<int> hub(io.get_executor());
  auto queue = hub.subscribe();
  for (int i = 0; i < 1000; ++i)
    hub.publish(i);
  test::run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 1000; ++i)
      CHECK(co_await queue->async_receive(asio::use_awaitable) == i);
    CHECK(queue->size() == 0);
  });
}

TEST_CASE("every subscription gets every event, and a dropped subscription gets none") {
  asio::io_context io;
  event_hub<std::string> hub(io.get_executor());
  auto first = hub.subscribe();
  auto second = hub.subscribe();
  {
    auto dropped = hub.subscribe();
  }
  hub.publish("a");
  hub.publish("b");
  CHECK(first->size() == 2);
  CHECK(second->size() == 2);
  CHECK(*first->try_receive() == "a");
  CHECK(*second->try_receive() == "a");
  CHECK(hub.has_subscribers());
}

TEST_CASE("a subscription made after an event does not receive it") {
  asio::io_context io;
  event_hub<int> hub(io.get_executor());
  hub.publish(1);
  auto late = hub.subscribe();
  hub.publish(2);
  CHECK(late->size() == 1);
  CHECK(*late->try_receive() == 2);
}

TEST_CASE("closing a hub ends its subscriptions after their queued events") {
  asio::io_context io;
  auto hub = std::make_unique<event_hub<int>>(io.get_executor());
  auto queue = hub->subscribe();
  hub->publish(5);
  hub.reset();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto [ec1, first] = co_await queue->async_receive(test::as_tuple);
    CHECK(!ec1);
    CHECK(first == 5);
    auto [ec2, second] = co_await queue->async_receive(test::as_tuple);
    CHECK(ec2 == cocluster::errc::stream_closed);
  });
}

TEST_CASE("a cancelled receive consumes no event") {
  asio::io_context io;
  event_hub<int> hub(io.get_executor());
  auto queue = hub.subscribe();
  test::run(io, [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(io, 10ms);
    auto result = co_await (queue->async_receive(asio::use_awaitable) ||
                            timer.async_wait(asio::use_awaitable));
    CHECK(result.index() == 1);
    hub.publish(9);
    CHECK(co_await queue->async_receive(asio::use_awaitable) == 9);
  });
}

TEST_CASE("completions that arise in a library handler run in order when it finishes, never inside "
          "the call") {
  asio::io_context io;
  oneshot_event<int> first(io.get_executor());
  oneshot_event<int> second(io.get_executor());
  std::vector<int> order;
  first.async_wait([&](std::error_code, int value) { order.push_back(value); });
  second.async_wait([&](std::error_code, int value) { order.push_back(value); });
  bool other_handler_ran = false;
  asio::post(io, [&] {
    handler_turn turn; // what the channel's and the accept loop's handlers open
    first.set({}, 1);
    second.set({}, 2);
    CHECK(order.empty());
    asio::post(io, [&] { other_handler_ran = true; });
    turn.finish();
    CHECK(order == std::vector<int>{1, 2});
    CHECK_FALSE(other_handler_ran); // no trip through the scheduler
  });
  io.run();
  CHECK(other_handler_ran);
}

TEST_CASE("a coroutine whose waits all complete at once inside a library handler does not starve "
          "the others") {
  asio::io_context io;
  oneshot_event<> start(io.get_executor());
  oneshot_event<> ready(io.get_executor());
  ready.set({});
  bool timer_fired = false;
  long spins = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await start.async_wait(asio::use_awaitable);
        // Each wait completes at once; without the turn's bound this loop would run inside the
        // handler below forever and the timer could never fire.
        while (!timer_fired && spins < 20'000'000) {
          co_await ready.async_wait(asio::use_awaitable);
          ++spins;
        }
      },
      [](std::exception_ptr failure) { // out of io.run(), to the test
        if (failure)
          std::rethrow_exception(failure);
      });
  asio::steady_timer timer(io, 5ms);
  timer.async_wait([&](std::error_code) { timer_fired = true; });
  asio::post(io, [&] {
    handler_turn turn;
    start.set({});
    turn.finish();
    CHECK(spins <= static_cast<long>(handler_turn::max_inline));
  });
  io.run();
  CHECK(timer_fired);
  CHECK(spins < 20'000'000);
}

TEST_CASE("a waiting handler is stored with its associated allocator, which is freed before the "
          "handler runs") {
  asio::io_context io;
  allocation_counts counts;
  oneshot_event<int> in_turn(io.get_executor());
  oneshot_event<int> posted(io.get_executor());
  int live_in_first = -1;
  int live_in_second = -1;
  std::vector<int> values;
  in_turn.async_wait(asio::bind_allocator(counting_allocator<void>(&counts),
                                          [&](std::error_code, int v) {
                                            live_in_first = counts.live;
                                            values.push_back(v);
                                          }));
  posted.async_wait(asio::bind_allocator(counting_allocator<void>(&counts),
                                         [&](std::error_code, int v) {
                                           live_in_second = counts.live;
                                           values.push_back(v);
                                         }));
  CHECK(counts.total == 2);
  CHECK(counts.live == 2);
  asio::post(io, [&] {
    handler_turn turn; // completed at the end of this turn
    in_turn.set({}, 1);
    turn.finish();
    posted.set({}, 2); // no turn open: posted
  });
  io.run();
  CHECK(values == std::vector<int>{1, 2});
  CHECK(live_in_first == 1); // its own storage gone, the other handler's still held
  CHECK(live_in_second == 0);
  CHECK(counts.live == 0);
  CHECK(counts.total == 2);
}

TEST_CASE("a handler that is never completed is freed through its associated allocator") {
  asio::io_context io;
  allocation_counts counts;
  bool ran = false;
  {
    erased_handler<int> waiting(asio::bind_allocator(counting_allocator<void>(&counts),
                                                     [&](std::error_code, int) { ran = true; }),
                                io.get_executor());
    CHECK(counts.live == 1);
  }
  io.run();
  CHECK(counts.live == 0);
  CHECK(counts.total == 1);
  CHECK_FALSE(ran);
}

TEST_SUITE_END();
