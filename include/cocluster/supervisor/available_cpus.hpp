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

/// The smallest quota that `read_level(folder)` finds on the way from the cgroup `cgroup` (a path
/// from `/proc/self/cgroup`) under the mount `mount` up to the mount itself; each level caps the
/// ones below.
template <typename ReadLevel>
std::optional<double> smallest_quota_up(const std::filesystem::path& mount,
                                        const std::string& cgroup, ReadLevel read_level) {
  std::filesystem::path relative = std::filesystem::path(cgroup).relative_path();
  // A cgroup outside this cgroup namespace shows as "/../x": not under the mount; the
  // namespace's root (a container's own cgroup) is what can be read.
  bool outside = false;
  for (const auto& part : relative)
    outside = outside || part == "..";
  if (outside)
    relative.clear();
  std::optional<double> quota;
  for (;;) {
    if (const auto level = read_level(mount / relative); level && (!quota || *level < *quota))
      quota = level;
    if (relative.empty())
      return quota;
    relative = relative.parent_path();
  }
}

} // namespace detail

/// Where `available_cpus` reads the cgroup limits from (tests point it at a fake tree).
struct cpu_limit_sources {
  /// Where the cgroup hierarchies are mounted, and their roots.
  std::filesystem::path mountinfo = "/proc/self/mountinfo";
  /// Where to look when `mountinfo` names no cgroup mount: the cgroup v2 mount, and the folder
  /// of the cgroup v1 hierarchies.
  std::filesystem::path cgroup_root = "/sys/fs/cgroup";
  /// This process's cgroup membership.
  std::filesystem::path self_cgroup = "/proc/self/cgroup";
  /// The machine's online CPUs; unset: `sysconf(_SC_NPROCESSORS_ONLN)`. Tests set it (and
  /// `mask_cpus`) to known numbers, so that a quota's effect shows on a machine of any size.
  std::optional<unsigned> online_cpus{};
  /// The CPUs of this process's affinity mask; unset: `sched_getaffinity`.
  std::optional<unsigned> mask_cpus{};
};

/// The CPUs this process may use: those of its affinity mask (`sched_getaffinity`, what
/// `taskset` and Kubernetes' static CPU manager set), lowered to its cgroup CPU quota, rounded
/// up, as a container's CPU limit (a pod's `resources.limits.cpu: 1500m` is 1.5 CPUs: 2 workers).
/// The quota is the smallest on the way from the process's cgroup up to the root of its mount:
/// under cgroup v2 `cpu.max` ("150000 100000"), under cgroup v1 `cpu.cfs_quota_us` over
/// `cpu.cfs_period_us` in the `cpu` controller's hierarchy; on a hybrid system the smaller of
/// the two. The hierarchies are found through `/proc/self/mountinfo`, whose mount roots also
/// translate the host's paths of a container that shares the host's cgroup namespace; without
/// it, under `/sys/fs/cgroup` (`cpu,cpuacct` or `cpu` for v1). Never more than the machine's
/// online CPUs, at least 1. Node's `availableParallelism()` reads the mask only.
/// @param sources where the mounts, cgroup files and CPU counts are read; the defaults read
/// this process's own (`/proc/self/...`, `/sys/fs/cgroup`). A file that cannot be read counts as
/// no quota, never as an error.
/// @return the number of workers that keeps every usable CPU busy and none oversubscribed: at
/// least 1, at most the machine's online CPUs. It is the default of
/// `supervisor_options::workers`.
inline unsigned available_cpus(const cpu_limit_sources& sources = {}) {
  const long online = sources.online_cpus ? static_cast<long>(*sources.online_cpus)
                                          : ::sysconf(_SC_NPROCESSORS_ONLN);
  const unsigned machine = online > 0 ? static_cast<unsigned>(online) : 1u;
  unsigned affinity = 0;
  if (sources.mask_cpus) {
    affinity = *sources.mask_cpus;
  } else {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
      affinity = static_cast<unsigned>(CPU_COUNT(&set));
  }

  std::optional<double> quota;
  auto lower_to = [&](std::optional<double> level) {
    if (level && (!quota || *level < *quota))
      quota = level;
  };
  const auto mounts = detail::read_small_file(sources.mountinfo).value_or("");
  if (const auto membership = detail::read_small_file(sources.self_cgroup)) {
    if (const auto path = cpu_limit::cgroup_v2_path(*membership)) {
      std::filesystem::path mount = sources.cgroup_root;
      std::string under = *path;
      if (const auto found = cpu_limit::cgroup_mount_of(mounts, true)) {
        mount = found->mount_point;
        under = cpu_limit::path_under_mount(*path, found->root);
      }
      lower_to(detail::smallest_quota_up(mount, under, [](const std::filesystem::path& folder) {
        const auto text = detail::read_small_file(folder / "cpu.max");
        return text ? cpu_limit::quota_of_cpu_max(*text) : std::nullopt;
      }));
    }
    if (const auto place = cpu_limit::cgroup_v1_cpu(*membership)) {
      std::filesystem::path mount;
      std::string under = place->path;
      if (const auto found = cpu_limit::cgroup_mount_of(mounts, false)) {
        mount = found->mount_point;
        under = cpu_limit::path_under_mount(place->path, found->root);
      } else {
        // The hierarchy's folder is named by its controllers; "cpu" is the usual link to it.
        mount = sources.cgroup_root / place->controllers;
        std::error_code ec;
        if (!std::filesystem::is_directory(mount, ec))
          mount = sources.cgroup_root / "cpu";
      }
      lower_to(detail::smallest_quota_up(mount, under, [](const std::filesystem::path& folder) {
        const auto quota_text = detail::read_small_file(folder / "cpu.cfs_quota_us");
        const auto period_text = detail::read_small_file(folder / "cpu.cfs_period_us");
        return quota_text && period_text ? cpu_limit::quota_of_cfs(*quota_text, *period_text)
                                         : std::nullopt;
      }));
    }
  }
  return cpu_limit::usable_cpus(affinity, quota, machine);
}

} // namespace cocluster

#endif // COCLUSTER_SUPERVISOR_AVAILABLE_CPUS_HPP
