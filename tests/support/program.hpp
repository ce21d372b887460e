// Programs that a test starts and watches: their output line by line, their exit status.
#ifndef COCLUSTER_TESTS_SUPPORT_PROGRAM_HPP
#define COCLUSTER_TESTS_SUPPORT_PROGRAM_HPP

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "support/processes.hpp"

extern char** environ;

namespace test {

using namespace std::chrono_literals;

/// A program started by the test (no shell), its output (stdout and stderr) collected line by
/// line by a thread. Killed and reaped when destroyed, unless `wait` saw it end.
class program {
public:
  explicit program(const std::vector<std::string>& argv) {
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    ::posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    std::vector<char*> args;
    for (const auto& arg : argv)
      args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const int error = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    REQUIRE(error == 0);
    reader_ = std::thread([this, fd = pipe_fds[0]] {
      std::string pending;
      char buffer[4096];
      for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0)
          break;
        pending.append(buffer, static_cast<std::size_t>(n));
        for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
          std::lock_guard lock(mutex_);
          lines_.push_back(pending.substr(0, end));
          pending.erase(0, end + 1);
        }
      }
      ::close(fd);
    });
  }

  program(const program&) = delete;
  program& operator=(const program&) = delete;

  ~program() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      test::wait_for_child(pid_, 10s);
    }
    if (reader_.joinable())
      reader_.join();
  }

  /// Its pid.
  pid_t pid() const noexcept { return pid_; }

  /// The first line from `from` on that starts with `prefix`; its text after the prefix.
  std::optional<std::string> wait_line(const std::string& prefix,
                                       std::chrono::milliseconds limit = 30s,
                                       std::size_t from = 0) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        for (std::size_t i = from; i < lines_.size(); ++i)
          if (lines_[i].rfind(prefix, 0) == 0)
            return lines_[i].substr(prefix.size());
      }
      if (std::chrono::steady_clock::now() > deadline)
        return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
  }

  /// Every line of a prefix, after the prefix.
  std::vector<std::string> lines_with(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> found;
    for (const auto& line : lines_)
      if (line.rfind(prefix, 0) == 0)
        found.push_back(line.substr(prefix.size()));
    return found;
  }

  std::string output() {
    std::lock_guard lock(mutex_);
    std::string all;
    for (const auto& line : lines_)
      all += line + "\n";
    return all;
  }

  /// Its raw wait status, or -1 if it did not end within `limit`.
  int wait(std::chrono::milliseconds limit = 30s) {
    const int status = test::wait_for_child(pid_, limit);
    reaped_ = status != -1;
    return status;
  }

private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::thread reader_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

/// The path of program `name` on PATH, if there is one.
inline std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const auto candidate = dirs.substr(start, end - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

} // namespace test

#endif
