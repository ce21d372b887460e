// The skip report: include in exactly one translation unit of a test binary (its main). It
// tracks the running test case for test::skip and ends the run's output with a line
// "[cocluster] skipped: N test case(s)" and one line per skip ("[cocluster] skipped <name>:
// <reason>"), so skips show in every log and CI can fail on the ones it forbids.
#ifndef COCLUSTER_TESTS_SUPPORT_SKIP_REPORT_HPP
#define COCLUSTER_TESTS_SUPPORT_SKIP_REPORT_HPP

#include <cstdio>

#include <doctest/doctest.h>

#include "support/skip.hpp"

namespace test {

/// How many test cases passed the run's filters (set when the run ends).
inline unsigned& cases_run() {
  static unsigned count = 0;
  return count;
}

struct skip_listener : doctest::IReporter {
  explicit skip_listener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    cases_run() = stats.numTestCasesPassingFilters;
    std::printf("[cocluster] skipped: %zu test case(s)\n", skips().size());
    for (const auto& [name, reason] : skips())
      std::printf("[cocluster] skipped %s: %s\n", name.c_str(), reason.c_str());
    std::fflush(stdout);
  }
  void test_case_start(const doctest::TestCaseData& data) override {
    current_test_name() = data.m_name;
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("cocluster-skips", 1, skip_listener);

} // namespace test

#endif
