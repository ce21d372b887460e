// The one completion helper (detail/async/async_once.hpp, detail/async/await_failure.hpp),
// tested directly: one signature whatever the token, cancellation, a dropped report, the work
// a pending operation keeps, and the short awaitables' exception. Part of the async suite.
#include <doctest/doctest.h>

#include <cocluster/detail/async/async_once.hpp>
#include <cocluster/detail/async/await_failure.hpp>

#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "support/run.hpp"

using cocluster::detail::async_once;
using cocluster::detail::once_report;
using namespace std::chrono_literals;

TEST_SUITE_BEGIN("async");

namespace {

// An operation that reports `ec` and `value` when `fire` is called (the report is kept there).
struct held_operation {
  std::optional<once_report<int>> report;

  template <class Token>
  auto start(asio::io_context& io, Token&& token) {
    return async_once<int>(
        std::forward<Token>(token), io.get_executor(),
        [](once_report<int> r, held_operation* self) { self->report = std::move(r); }, this);
  }
};

} // namespace

TEST_CASE("async_once completes a callback with the error code and the value it was given") {
  asio::io_context io;
  held_operation op;
  std::optional<std::pair<cocluster::error_code, int>> got;
  op.start(io, [&](cocluster::error_code ec, int v) { got.emplace(ec, v); });
  REQUIRE(op.report);
  (*op.report)(make_error_code(std::errc::address_in_use), 7);
  CHECK_FALSE(got); // never inside the report
  io.run();
  REQUIRE(got);
  CHECK(got->first == std::errc::address_in_use);
  CHECK(got->second == 7);
}

TEST_CASE("co_await of an async_once operation returns its value, or throws std::system_error "
          "with its code: the signature the callback gets, whatever the token") {
  asio::io_context io;
  test::run(io, [&]() -> asio::awaitable<void> {
    held_operation ok;
    asio::post(io, [&] { (*ok.report)({}, 42); });
    CHECK(co_await ok.start(io, asio::use_awaitable) == 42);
    held_operation failing;
    asio::post(io, [&] { (*failing.report)(make_error_code(std::errc::permission_denied), 0); });
    std::error_code thrown;
    try {
      (void)co_await failing.start(io, asio::use_awaitable);
    } catch (const std::system_error& e) {
      thrown = e.code();
    }
    CHECK(thrown == std::errc::permission_denied);
  });
}

TEST_CASE("an async_once wait whose cancellation slot is emitted completes with "
          "operation_aborted, and the report that comes later does nothing") {
  asio::io_context io;
  held_operation op;
  asio::cancellation_signal cancel;
  int calls = 0;
  cocluster::error_code got;
  op.start(io, asio::bind_cancellation_slot(cancel.slot(), [&](cocluster::error_code ec, int) {
             ++calls;
             got = ec;
           }));
  REQUIRE(op.report);
  CHECK(op.report->waiting());
  cancel.emit(asio::cancellation_type::terminal);
  io.run();
  CHECK(calls == 1);
  CHECK(got == asio::error::operation_aborted);
  CHECK_FALSE(op.report->waiting());
  (*op.report)({}, 1);
  io.restart();
  io.run();
  CHECK(calls == 1);
}

TEST_CASE("an async_once operation whose every report is dropped uncalled completes with "
          "operation_aborted rather than waiting for ever") {
  asio::io_context io;
  held_operation op;
  std::optional<cocluster::error_code> got;
  op.start(io, [&](cocluster::error_code ec, int) { got = ec; });
  op.report.reset();
  io.run();
  REQUIRE(got);
  CHECK(*got == asio::error::operation_aborted);
}

TEST_CASE("a pending async_once operation keeps io_context::run from returning until it "
          "completes") {
  asio::io_context io;
  held_operation op;
  bool completed = false;
  op.start(io, [&](cocluster::error_code, int) { completed = true; });
  io.run_for(30ms); // would return at once, stopped, if the wait counted no work
  CHECK_FALSE(io.stopped());
  (*op.report)({}, 1);
  io.run(); // returns: the handler ran and released its work
  CHECK(completed);
  CHECK(io.stopped());
}

TEST_CASE("an aborted async_once wait for a socket gets a closed socket made on the executor") {
  asio::io_context io;
  std::function<void()> keep;
  std::optional<cocluster::error_code> got;
  bool open = true;
  asio::cancellation_signal cancel;
  async_once<asio::ip::udp::socket>(
      asio::bind_cancellation_slot(cancel.slot(),
                                   [&](cocluster::error_code ec, asio::ip::udp::socket s) {
                                     got = ec;
                                     open = s.is_open();
                                   }),
      io.get_executor(), [&](once_report<asio::ip::udp::socket> r) { keep = [r] {}; });
  cancel.emit(asio::cancellation_type::total);
  io.run();
  REQUIRE(got);
  CHECK(*got == asio::error::operation_aborted);
  CHECK_FALSE(open);
}

TEST_CASE("the short awaitable throws the operation's own std::system_error, its what() kept") {
  asio::io_context io;
  test::run(io, [&]() -> asio::awaitable<void> {
    std::string what;
    std::error_code code;
    try {
      (void)co_await cocluster::detail::await_failure<int>(io.get_executor(), [](auto report) {
        report(std::make_exception_ptr(std::system_error(make_error_code(std::errc::address_in_use),
                                                         "cocluster: listen: bind 1.2.3.4:5")),
               0);
      });
    } catch (const std::system_error& e) {
      code = e.code();
      what = e.what();
    }
    CHECK(code == std::errc::address_in_use);
    CHECK(what.find("cocluster: listen: bind 1.2.3.4:5") != std::string::npos);
    CHECK(co_await cocluster::detail::await_failure<int>(io.get_executor(), [](auto report) {
            report(nullptr, 9);
          }) == 9);
  });
}

TEST_CASE("a failure that is not a std::system_error reaches the short awaitable as one, its "
          "text kept, and an async_* as errc::malformed_message") {
  const auto failure = std::make_exception_ptr(std::runtime_error("a reply without a port"));
  CHECK(cocluster::detail::error_code_of(failure) == cocluster::errc::malformed_message);
  CHECK(cocluster::detail::error_code_of(nullptr) == std::error_code());
  try {
    std::rethrow_exception(cocluster::detail::as_system_error(failure));
  } catch (const std::system_error& e) {
    CHECK(e.code() == cocluster::errc::malformed_message);
    CHECK(std::string(e.what()).find("a reply without a port") != std::string::npos);
  }
}

TEST_SUITE_END();
