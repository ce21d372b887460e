// Worker scenarios that several suites use.
#include <cstdlib>
#include <string>

#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/worker_scenarios.hpp"

// Stays connected until the primary disconnects it.
WORKER_SCENARIO("idle") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto&) -> asio::awaitable<void> { co_return; });
  });
}

// Exits with the given code as soon as it has reported online.
WORKER_SCENARIO("exit-with") {
  const int code = std::stoi(args.at(0));
  return test::with_serialization([code]<class S>() {
    return test::run_worker<S>([code](auto&) -> asio::awaitable<void> {
      std::exit(code);
      co_return;
    });
  });
}
