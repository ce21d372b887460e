// Descriptors of a process, from /proc.
#ifndef COCLUSTER_TESTS_SUPPORT_FDS_HPP
#define COCLUSTER_TESTS_SUPPORT_FDS_HPP

#include <dirent.h>
#include <unistd.h>

#include <map>
#include <string>

namespace test {

/// Open descriptors of `pid` ("self" by default) and what each points to.
inline std::map<int, std::string> open_fds(const std::string& pid = "self") {
  std::map<int, std::string> fds;
  const std::string dir = "/proc/" + pid + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return fds;
  const int own = ::dirfd(d);
  while (dirent* entry = ::readdir(d)) {
    if (entry->d_name[0] == '.')
      continue;
    const int fd = std::stoi(entry->d_name);
    if (pid == "self" && fd == own)
      continue;
    char target[512];
    const ssize_t n = ::readlink((dir + "/" + entry->d_name).c_str(), target, sizeof(target) - 1);
    fds[fd] = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
  }
  ::closedir(d);
  return fds;
}

} // namespace test

#endif
