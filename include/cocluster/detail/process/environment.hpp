// SPDX-License-Identifier: MIT
/// @file
/// This process's executable, arguments and environment, and executable lookup in PATH.
#ifndef COCLUSTER_DETAIL_PROCESS_ENVIRONMENT_HPP
#define COCLUSTER_DETAIL_PROCESS_ENVIRONMENT_HPP

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

extern "C" char** environ;

namespace cocluster::detail {

/// The path of this process's executable (`/proc/self/exe`).
inline std::string self_executable() {
  std::string path(PATH_MAX, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size());
  if (n < 0)
    throw std::system_error(errno, std::system_category(), "cocluster: readlink /proc/self/exe");
  path.resize(static_cast<std::size_t>(n));
  return path;
}

/// This process's command line, argv[0] included (from `/proc/self/cmdline`).
inline std::vector<std::string> self_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  std::size_t start = 0;
  while (start < all.size()) {
    std::size_t end = all.find('\0', start);
    if (end == std::string::npos)
      end = all.size();
    args.emplace_back(all, start, end - start);
    start = end + 1;
  }
  return args;
}

/// This process's arguments without argv[0].
inline std::vector<std::string> self_arguments() {
  auto args = self_command_line();
  if (!args.empty())
    args.erase(args.begin());
  return args;
}

/// This process's environment now, as a map.
inline std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0)
      continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

/// Resolves `name` as `execvp` would: a name with a slash is used as it is; otherwise each
/// directory of `path_variable` is tried. Returns nothing when no executable file is found.
inline std::optional<std::string> find_executable(const std::string& name,
                                                  std::string_view path_variable) {
  if (name.find('/') != std::string::npos)
    return name;
  if (path_variable.empty())
    path_variable = "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path_variable.size()) {
    std::size_t end = path_variable.find(':', start);
    if (end == std::string_view::npos)
      end = path_variable.size();
    // An empty entry means the current directory. (Built with append: g++ 12 at -O3 warns
    // -Wrestrict, wrongly, on `dir = "."` and `dir + "/" + name`; GCC PR105651.)
    const std::string_view dir = end > start ? path_variable.substr(start, end - start)
                                             : std::string_view(".");
    std::string candidate;
    candidate.reserve(dir.size() + 1 + name.size());
    candidate.append(dir).append(1, '/').append(name);
    struct stat info{};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_PROCESS_ENVIRONMENT_HPP
