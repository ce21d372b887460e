// Worker scenarios: code that the test binary runs when a test's primary forks it as a worker.
//
// A test sets `exec` to this binary (the default) and `args` to {"--worker-scenario", name,
// arguments...}; main() then runs the named scenario and exits with its return value, so a
// worker's failure reaches the test as an exit code (or as an IPC message).
#ifndef COCLUSTER_TESTS_SUPPORT_SCENARIO_HPP
#define COCLUSTER_TESTS_SUPPORT_SCENARIO_HPP

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include <cocluster.hpp>

namespace test {

using scenario_function = int (*)(const std::vector<std::string>& args);

inline std::map<std::string, scenario_function>& scenarios() {
  static std::map<std::string, scenario_function> registry;
  return registry;
}

struct scenario_registrar {
  scenario_registrar(const char* name, scenario_function function) { scenarios()[name] = function; }
};

/// A list of strings made without a braced list (g++ 12 miscompiles initializer lists inside
/// coroutines).
template <class... Strings>
std::vector<std::string> strings(Strings&&... values) {
  std::vector<std::string> result;
  (result.emplace_back(std::forward<Strings>(values)), ...);
  return result;
}

/// Settings that make forked workers run scenario `name` with `args`.
inline cocluster::settings scenario(const std::string& name, std::vector<std::string> args = {}) {
  cocluster::settings s;
  std::vector<std::string> all{"--worker-scenario", name};
  all.insert(all.end(), args.begin(), args.end());
  s.args = std::move(all);
  return s;
}

/// The exit code of a worker scenario whose coroutine threw.
inline constexpr int scenario_threw = 92;

/// A `co_spawn` completion handler for the coroutines a worker scenario starts (in place of
/// `asio::detached`, which drops the exception): an exception is printed with `what` and ends
/// the process at once with exit code `scenario_threw`, so that the test's exit check sees it.
inline auto exit_on_failure(const char* what) {
  return [what](std::exception_ptr failure) {
    if (!failure)
      return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "worker scenario: %s threw: %s\n", what, e.what());
    } catch (...) {
      std::fprintf(stderr, "worker scenario: %s threw a non-standard exception\n", what);
    }
    std::fflush(nullptr);
    std::_Exit(scenario_threw);
  };
}

} // namespace test

#define COCLUSTER_TEST_CAT2(a, b) a##b
#define COCLUSTER_TEST_CAT(a, b) COCLUSTER_TEST_CAT2(a, b)

/// Defines a worker scenario: `WORKER_SCENARIO("name") { ...; return exit_code; }` with
/// `const std::vector<std::string>& args` in scope.
#define WORKER_SCENARIO(name)                                                                      \
  static int COCLUSTER_TEST_CAT(worker_scenario_, __LINE__)(const std::vector<std::string>& args); \
  static const ::test::scenario_registrar COCLUSTER_TEST_CAT(                                      \
      worker_scenario_registrar_, __LINE__)(name,                                                  \
                                            &COCLUSTER_TEST_CAT(worker_scenario_, __LINE__));      \
  static int COCLUSTER_TEST_CAT(worker_scenario_,                                                  \
                                __LINE__)([[maybe_unused]] const std::vector<std::string>& args)

#endif
