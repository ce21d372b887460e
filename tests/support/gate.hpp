// A gate between the test and a process it started: the process waits (blocking its thread)
// until the test opens the gate, so that what the test checks before opening it happened
// before whatever the process does after, on a machine of any speed.
#ifndef COCLUSTER_TESTS_SUPPORT_GATE_HPP
#define COCLUSTER_TESTS_SUPPORT_GATE_HPP

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

namespace test {

/// A gate: a file name under the temporary folder that exists once the gate is open. Closed
/// when made; removed when it ends.
class gate {
public:
  gate() {
    static int made = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("cocluster-gate-" + std::to_string(::getpid()) + "-" + std::to_string(++made)))
                .string();
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;
  ~gate() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }

  /// What a waiting process is given (see `wait_for_gate`).
  const std::string& path() const noexcept { return path_; }

  /// Lets every process waiting at the gate go on.
  void open() const { std::ofstream(path_) << "open\n"; }

private:
  std::string path_;
};

/// Blocks the calling thread until the gate at `path` is open; returns false when `limit`
/// passed first (a guard against a test that never opens it, not a timing).
inline bool wait_for_gate(const std::string& path,
                          std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::error_code ec;
  while (!std::filesystem::exists(path, ec)) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

} // namespace test

#endif
