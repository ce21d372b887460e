// SPDX-License-Identifier: MIT
/// @file
/// `available_cpus`: the CPUs this process may use, quota included (the supervisor's default
/// pool size).
#ifndef COCLUSTER_SUPERVISOR_AVAILABLE_CPUS_HPP
#define COCLUSTER_SUPERVISOR_AVAILABLE_CPUS_HPP

#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "cocluster/supervision/cpu_limit.hpp"

namespace cocluster {

namespace detail {

inline std::optional<std::string> read_small_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in)
    return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace detail

/// Where `available_cpus` reads the cgroup limits from (tests point it at a fake tree).
struct cpu_limit_sources {
  /// The cgroup v2 mount.
  std::filesystem::path cgroup_root = "/sys/fs/cgroup";
  /// This process's cgroup membership.
  std::filesystem::path self_cgroup = "/proc/self/cgroup";
};

/// The CPUs this process may use: those of its affinity mask (`sched_getaffinity`, what
/// `taskset` and Kubernetes' static CPU manager set), lowered to its cgroup v2 CPU quota — the
/// smallest `cpu.max` on the way from its cgroup up to the root, rounded up — as a container's
/// CPU limit (a pod's `resources.limits.cpu: 1500m` is `cpu.max` "150000 100000": 2 workers).
/// Never more than the machine's online CPUs, at least 1. Node's `availableParallelism()` reads
/// the mask only.
inline unsigned available_cpus(const cpu_limit_sources& sources = {}) {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  const unsigned machine = online > 0 ? static_cast<unsigned>(online) : 1u;
  unsigned affinity = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    affinity = static_cast<unsigned>(CPU_COUNT(&set));

  std::optional<double> quota;
  if (auto membership = detail::read_small_file(sources.self_cgroup))
    if (auto path = cpu_limit::cgroup_v2_path(*membership)) {
      // From the process's own cgroup up to the root; each level's cpu.max caps the ones below.
      std::filesystem::path relative = std::filesystem::path(*path).relative_path();
      // A cgroup outside this cgroup namespace shows as "/../x": not under the mount; the
      // namespace's root (a container's own cgroup) is what can be read.
      bool outside = false;
      for (const auto& part : relative)
        outside = outside || part == "..";
      if (outside)
        relative.clear();
      for (;;) {
        if (auto text = detail::read_small_file(sources.cgroup_root / relative / "cpu.max"))
          if (auto level = cpu_limit::quota_of_cpu_max(*text); level && (!quota || *level < *quota))
            quota = level;
        if (relative.empty())
          break;
        relative = relative.parent_path();
      }
    }
  return cpu_limit::usable_cpus(affinity, quota, machine);
}

} // namespace cocluster

#endif // COCLUSTER_SUPERVISOR_AVAILABLE_CPUS_HPP
