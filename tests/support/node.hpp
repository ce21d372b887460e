// Finding Node and running a program to completion, for the interop tests.
#ifndef COCLUSTER_TESTS_SUPPORT_NODE_HPP
#define COCLUSTER_TESTS_SUPPORT_NODE_HPP

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cocluster/detail/process/environment.hpp>

extern "C" char** environ;

namespace test {

/// The node binary (COCLUSTER_NODE, else PATH), or nothing.
inline std::optional<std::string> node_path() {
  if (const char* configured = std::getenv("COCLUSTER_NODE"); configured && *configured)
    return std::string(configured);
  const char* path = std::getenv("PATH");
  return cocluster::detail::find_executable("node", path ? path : "");
}

/// A file of the tests' source directory.
inline std::string test_file(const std::string& relative) {
  const char* dir = std::getenv("COCLUSTER_TEST_DIR");
  return std::string(dir ? dir : "tests") + "/" + relative;
}

/// This test binary.
inline std::string self_binary() { return cocluster::detail::self_executable(); }

struct program_result {
  int exit_code = -1; // -1: did not exit in time (killed)
  std::string output; // stdout
};

/// Runs `argv` (no shell) with `extra_env`, collecting stdout, for at most `limit`.
inline program_result run_program(const std::vector<std::string>& argv,
                                  const std::vector<std::string>& extra_env = {},
                                  std::chrono::seconds limit = std::chrono::seconds(30)) {
  program_result result;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> env;
  for (auto& e : env_strings)
    env.push_back(e.data());
  env.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buffer[4096];
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      continue;
    const ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0)
      break;
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  return result;
}

/// Runs a Node primary, `node` with `script_and_args` (the script, then its arguments), with
/// `extra_env`. Such a primary prints one JSON line of what it saw and exits 0 when everything
/// matched: checks both, and returns the line parsed.
inline nlohmann::json node_primary_report(const std::string& node,
                                          std::vector<std::string> script_and_args,
                                          const std::vector<std::string>& extra_env = {}) {
  script_and_args.insert(script_and_args.begin(), node);
  const auto result = run_program(script_and_args, extra_env);
  CHECK_MESSAGE(result.exit_code == 0, "node primary said: " << result.output);
  auto report = nlohmann::json::parse(result.output, nullptr, false);
  REQUIRE_MESSAGE(!report.is_discarded(), "node primary said: " << result.output);
  return report;
}

} // namespace test

#endif
