// Skipping a test case at run time, visibly: the reason is printed where it happens and again in
// the run's summary (support/skip_report.hpp), so a skipped case is never read as a pass.
#ifndef COCLUSTER_TESTS_SUPPORT_SKIP_HPP
#define COCLUSTER_TESTS_SUPPORT_SKIP_HPP

#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

namespace test {

/// The test case running now (set by the skip report's listener).
inline std::string& current_test_name() {
  static std::string name;
  return name;
}

/// Every skip of this run: (test case, reason).
inline std::vector<std::pair<std::string, std::string>>& skips() {
  static std::vector<std::pair<std::string, std::string>> all;
  return all;
}

/// The reason of a skip because Node is missing; CI fails on it when `node` is installed.
inline const char* const needs_node = "needs node: no COCLUSTER_NODE and no node on PATH";

/// Skips the rest of the running test case: prints "skipped: <reason>" and records it for the
/// summary. Return from the test case right after it.
inline void skip(const std::string& reason) {
  MESSAGE("skipped: " << reason);
  skips().emplace_back(current_test_name(), reason);
}

} // namespace test

#endif
