// The primary's hand-off table (detail/scheduling/handoff_table.hpp), tested directly: the
// windows it is given. Part of the decisions suite (tests/decisions_tests.cpp has the rest).
#include <doctest/doctest.h>

#include <chrono>
#include <optional>

#include <cocluster/detail/scheduling/handoff_table.hpp>
#include <cocluster/scheduling/round_robin.hpp>

TEST_SUITE_BEGIN("decisions");

TEST_CASE("a worker added with a window of 0 is handed one connection at a time") {
  cocluster::detail::handoff_table<cocluster::round_robin, int> table;
  table.add(1, 0);
  table.push(10, std::nullopt);
  table.push(11, std::nullopt);
  const auto now = std::chrono::steady_clock::now();
  auto first = table.next(now);
  REQUIRE(first.has_value());
  CHECK(*first->connection == 10);
  CHECK_FALSE(table.next(now).has_value()); // 11 waits for the answer
  CHECK(table.answered(first->ticket, true, now).has_value());
  auto second = table.next(now);
  REQUIRE(second.has_value());
  CHECK(*second->connection == 11);
}

TEST_SUITE_END();
