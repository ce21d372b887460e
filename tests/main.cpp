// The test binary's main: the doctest suite, or, when a test forked this binary as a worker,
// the worker scenario named on the command line.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "support/scenario.hpp"
#include "support/skip_report.hpp"

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--worker-scenario") {
    auto& registry = test::scenarios();
    auto it = registry.find(argv[2]);
    if (it == registry.end()) {
      std::fprintf(stderr, "unknown worker scenario '%s'\n", argv[2]);
      return 90;
    }
    try {
      return it->second(std::vector<std::string>(argv + 3, argv + argc));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "worker scenario '%s' threw: %s\n", argv[2], e.what());
      return 91;
    }
  }
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  const int result = context.run();
  if (result == 0 && !context.shouldExit() && test::cases_run() == 0) {
    // A filter that selects nothing (a suite whose file lacks TEST_SUITE_BEGIN, a renamed test
    // case) would otherwise pass without testing anything.
    std::fprintf(stderr, "[cocluster] no test case matched the filters: nothing was tested\n");
    return 1;
  }
  return result;
}
