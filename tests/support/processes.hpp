// Looking at processes that are not this test's direct workers.
#ifndef COCLUSTER_TESTS_SUPPORT_PROCESSES_HPP
#define COCLUSTER_TESTS_SUPPORT_PROCESSES_HPP

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

namespace test {

/// This test program's path.
inline std::string self_executable() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<std::size_t>(n)) : std::string();
}

/// True when a user who is neither owner nor in the group (e.g. nobody) may execute `path`:
/// every directory on the way is searchable by others and the file executable by them.
inline bool others_can_execute(const std::string& path) {
  struct stat info{};
  if (path.empty() || ::stat(path.c_str(), &info) != 0 || !(info.st_mode & S_IXOTH))
    return false;
  for (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0;
       slash = path.rfind('/', slash - 1)) {
    if (::stat(path.substr(0, slash).c_str(), &info) != 0 || !(info.st_mode & S_IXOTH))
      return false;
  }
  return true;
}

/// True when `pid` no longer runs: no /proc entry, or a zombie nobody reaped yet.
inline bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat)
    return true;
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size())
    return true;
  const char state = text[paren + 2];
  return state == 'Z' || state == 'X';
}

/// Waits for `pid`, a child of this process; returns its raw wait status, or -1 after `limit`.
inline int wait_for_child(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    if (r < 0 || std::chrono::steady_clock::now() > deadline)
      return -1;
    ::usleep(5000);
  }
}

} // namespace test

#endif
