// SPDX-License-Identifier: MIT
/// @file
/// How many CPUs a process may use: the pure arithmetic over the affinity mask and the cgroup v2
/// CPU quota (reading them is `available_cpus`, in the supervisor).
#ifndef COCLUSTER_SUPERVISION_CPU_LIMIT_HPP
#define COCLUSTER_SUPERVISION_CPU_LIMIT_HPP

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>

namespace cocluster::cpu_limit {

/// The cgroup v2 path of a process from the text of `/proc/<pid>/cgroup` (the `0::/path` line),
/// or empty when it has none (cgroup v1 only).
inline std::optional<std::string> cgroup_v2_path(std::string_view proc_cgroup) {
  while (!proc_cgroup.empty()) {
    const auto end = proc_cgroup.find('\n');
    const auto line = proc_cgroup.substr(0, end);
    if (line.substr(0, 3) == "0::")
      return std::string(line.substr(3));
    if (end == std::string_view::npos)
      break;
    proc_cgroup.remove_prefix(end + 1);
  }
  return std::nullopt;
}

/// The CPUs a `cpu.max` file allows ("150000 100000" is 1.5), or empty for no limit ("max ...")
/// or text that is not a quota.
inline std::optional<double> quota_of_cpu_max(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.remove_suffix(1);
  const auto space = text.find(' ');
  const auto quota_text = text.substr(0, space);
  if (quota_text == "max" || quota_text.empty())
    return std::nullopt;
  long long quota = 0, period = 100000; // the kernel's default period
  auto parse = [](std::string_view s, long long& out) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
  };
  if (!parse(quota_text, quota) || quota <= 0)
    return std::nullopt;
  if (space != std::string_view::npos && (!parse(text.substr(space + 1), period) || period <= 0))
    return std::nullopt;
  return static_cast<double>(quota) / static_cast<double>(period);
}

/// The worker count a pool defaults to: the CPUs in the affinity mask, lowered to the quota
/// rounded up (1.5 CPUs make 2 workers, as the JVM and .NET count them), never more than the
/// machine's CPUs, at least 1.
inline unsigned usable_cpus(unsigned affinity, std::optional<double> quota, unsigned machine) {
  double cpus = affinity > 0 ? affinity : machine;
  if (quota)
    cpus = std::min(cpus, std::ceil(*quota));
  if (machine > 0)
    cpus = std::min(cpus, static_cast<double>(machine));
  return std::max(1u, static_cast<unsigned>(cpus));
}

} // namespace cocluster::cpu_limit

#endif // COCLUSTER_SUPERVISION_CPU_LIMIT_HPP
