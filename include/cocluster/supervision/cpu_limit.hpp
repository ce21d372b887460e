// SPDX-License-Identifier: MIT
/// @file
/// How many CPUs a process may use: the pure arithmetic over the affinity mask and the cgroup
/// CPU quota, v2 (`cpu.max`) or v1 (`cpu.cfs_quota_us`) (reading them is `available_cpus`, in the
/// supervisor).
#ifndef COCLUSTER_SUPERVISION_CPU_LIMIT_HPP
#define COCLUSTER_SUPERVISION_CPU_LIMIT_HPP

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cocluster::cpu_limit {

namespace detail {

/// The first line of `text` for which `matches(line)` holds, if any.
template <typename Predicate>
std::optional<std::string_view> find_line(std::string_view text, Predicate matches) {
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = text.substr(0, end);
    if (matches(line))
      return line;
    if (end == std::string_view::npos)
      break;
    text.remove_prefix(end + 1);
  }
  return std::nullopt;
}

/// `text` without the newlines and spaces that end it.
inline std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.remove_suffix(1);
  return text;
}

/// Whether the whole of `text` is a decimal number; the number in `out`.
inline bool parse_whole(std::string_view text, long long& out) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && r.ec == std::errc() && r.ptr == text.data() + text.size();
}

/// Whether the comma-separated `list` has the item `name` ("cpu,cpuacct" has "cpu").
inline bool has_item(std::string_view list, std::string_view name) {
  for (;;) {
    const auto comma = list.find(',');
    if (list.substr(0, comma) == name)
      return true;
    if (comma == std::string_view::npos)
      return false;
    list.remove_prefix(comma + 1);
  }
}

} // namespace detail

/// The cgroup v2 path of a process from the text of `/proc/<pid>/cgroup` (the `0::/path` line),
/// or empty when it has none (cgroup v1 only).
/// @param proc_cgroup the whole text of `/proc/<pid>/cgroup`, one "ID:controllers:path" line
/// per hierarchy.
/// @return the path after "0::" on the first such line ("/kubepods/pod1/c2"), or `std::nullopt`.
inline std::optional<std::string> cgroup_v2_path(std::string_view proc_cgroup) {
  const auto line = detail::find_line(proc_cgroup,
                                      [](std::string_view l) { return l.substr(0, 3) == "0::"; });
  if (!line)
    return std::nullopt;
  return std::string(line->substr(3));
}

/// Where a process sits in the cgroup v1 hierarchy of the `cpu` controller.
struct cgroup_v1_place {
  /// The hierarchy's controllers as `/proc/<pid>/cgroup` lists them ("cpu,cpuacct"); its folder
  /// under /sys/fs/cgroup usually has that name, and "cpu" is a link to it.
  std::string controllers;
  /// The process's cgroup in that hierarchy ("/kubepods/burstable/pod1/c2").
  std::string path;
};

namespace detail {

/// A `/proc/<pid>/cgroup` line "ID:controllers:path" as {controllers, path}; empty for a line of
/// another form. The path may hold colons.
inline std::optional<cgroup_v1_place> split_cgroup_line(std::string_view line) {
  const auto first = line.find(':');
  if (first == std::string_view::npos)
    return std::nullopt;
  const auto second = line.find(':', first + 1);
  if (second == std::string_view::npos)
    return std::nullopt;
  return cgroup_v1_place{std::string(line.substr(first + 1, second - first - 1)),
                         std::string(line.substr(second + 1))};
}

} // namespace detail

/// The cgroup v1 place of a process for the `cpu` controller from the text of
/// `/proc/<pid>/cgroup` (a line "ID:cpu,cpuacct:/path"), or empty when no v1 hierarchy has that
/// controller (cgroup v2 only).
/// @param proc_cgroup the whole text of `/proc/<pid>/cgroup`.
/// @return the first line's controllers and path whose controller list has "cpu" (v1 ID not
/// 0), or `std::nullopt`.
inline std::optional<cgroup_v1_place> cgroup_v1_cpu(std::string_view proc_cgroup) {
  std::optional<cgroup_v1_place> found;
  const bool has_cpu = detail::find_line(proc_cgroup, [&](std::string_view line) {
                         found = detail::split_cgroup_line(line);
                         return found && detail::has_item(found->controllers, "cpu");
                       }).has_value();
  return has_cpu ? found : std::nullopt;
}

/// Where a cgroup hierarchy is mounted, from `/proc/<pid>/mountinfo`.
struct cgroup_mount {
  /// The cgroup at the mount's root: "/" on a host; in a container that shares the host's
  /// cgroup namespace, the container's own cgroup ("/docker/abc"), which `/proc/self/cgroup`
  /// names from the host's root.
  std::string root;
  /// The mount point ("/sys/fs/cgroup/cpu,cpuacct").
  std::string mount_point;
};

namespace detail {

/// A mountinfo path with its octal escapes ("\040" for a space) decoded.
inline std::string unescaped(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '3' &&
        text[i + 2] >= '0' && text[i + 2] <= '7' && text[i + 3] >= '0' && text[i + 3] <= '7') {
      out += static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                               (text[i + 3] - '0'));
      i += 3;
    } else {
      out += text[i];
    }
  }
  return out;
}

/// The space-separated fields of `line`.
inline std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  while (!line.empty()) {
    const auto space = line.find(' ');
    if (space != 0)
      fields.push_back(line.substr(0, space));
    if (space == std::string_view::npos)
      break;
    line.remove_prefix(space + 1);
  }
  return fields;
}

} // namespace detail

/// The mount of the cgroup v2 hierarchy (`v2`: file system type "cgroup2") or of the cgroup v1
/// hierarchy that has the `cpu` controller (type "cgroup", "cpu" among its super options), from
/// the text of `/proc/<pid>/mountinfo`; the first such line; empty when there is none.
/// @param mountinfo the whole text of `/proc/<pid>/mountinfo`; malformed lines are skipped.
/// @param v2 true for the cgroup v2 mount, false for the v1 `cpu` hierarchy's.
/// @return the mount's root and mount point, octal escapes ("\040") decoded, or `std::nullopt`.
inline std::optional<cgroup_mount> cgroup_mount_of(std::string_view mountinfo, bool v2) {
  std::optional<cgroup_mount> found;
  detail::find_line(mountinfo, [&](std::string_view line) {
    // "ID PARENT MAJOR:MINOR ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS"
    const auto fields = detail::fields_of(line);
    std::size_t dash = 6;
    while (dash < fields.size() && fields[dash] != "-")
      ++dash;
    if (dash + 1 >= fields.size())
      return false;
    const auto type = fields[dash + 1];
    const auto super_options = dash + 3 < fields.size() ? fields[dash + 3] : std::string_view();
    const bool wanted = v2 ? type == "cgroup2"
                           : type == "cgroup" && detail::has_item(super_options, "cpu");
    if (wanted)
      found = cgroup_mount{detail::unescaped(fields[3]), detail::unescaped(fields[4])};
    return wanted;
  });
  return found;
}

/// The folder of cgroup `cgroup` (a path from `/proc/self/cgroup`) under a mount whose root is
/// the cgroup `mount_root`: the path with that root taken off ("/docker/abc/app" under a root
/// "/docker/abc" is "/app"); "/" (the mount's own folder) for a cgroup that is not under it.
/// @param cgroup the process's cgroup path, from the host's root ("/docker/abc/app").
/// @param mount_root the mount's root field from mountinfo ("/" on a host; trailing slashes
/// ignored).
/// @return the path to append to the mount point; `cgroup` unchanged when the root is "/".
inline std::string path_under_mount(std::string_view cgroup, std::string_view mount_root) {
  while (mount_root.size() > 1 && mount_root.back() == '/')
    mount_root.remove_suffix(1);
  if (mount_root == "/" || mount_root.empty())
    return std::string(cgroup);
  if (cgroup == mount_root)
    return "/";
  if (cgroup.substr(0, mount_root.size()) == mount_root && cgroup.size() > mount_root.size() &&
      cgroup[mount_root.size()] == '/')
    return std::string(cgroup.substr(mount_root.size()));
  return "/";
}

/// The CPUs a `cpu.max` file allows ("150000 100000" is 1.5), or empty for no limit ("max ...")
/// or text that is not a quota.
/// @param text the file's text, "QUOTA [PERIOD]" in microseconds, trailing newline allowed; a
/// missing period is the kernel's default, 100000.
/// @return quota over period in CPUs, or `std::nullopt` for "max", a quota or period that is
/// not a positive whole number, or an empty text.
inline std::optional<double> quota_of_cpu_max(std::string_view text) {
  text = detail::trimmed(text);
  const auto space = text.find(' ');
  const auto quota_text = text.substr(0, space);
  if (quota_text == "max" || quota_text.empty())
    return std::nullopt;
  long long quota = 0, period = 100000; // the kernel's default period
  if (!detail::parse_whole(quota_text, quota) || quota <= 0)
    return std::nullopt;
  if (space != std::string_view::npos &&
      (!detail::parse_whole(text.substr(space + 1), period) || period <= 0))
    return std::nullopt;
  return static_cast<double>(quota) / static_cast<double>(period);
}

/// The CPUs a cgroup v1 CFS quota allows from the texts of `cpu.cfs_quota_us` and
/// `cpu.cfs_period_us` ("150000" over "100000" is 1.5), or empty for no limit ("-1") or text that
/// is not a quota.
/// @param quota_text the text of `cpu.cfs_quota_us` (microseconds per period; "-1" for none).
/// @param period_text the text of `cpu.cfs_period_us` (microseconds).
/// @return quota over period in CPUs, or `std::nullopt` unless both are positive whole numbers.
inline std::optional<double> quota_of_cfs(std::string_view quota_text,
                                          std::string_view period_text) {
  long long quota = 0, period = 0;
  if (!detail::parse_whole(detail::trimmed(quota_text), quota) || quota <= 0)
    return std::nullopt;
  if (!detail::parse_whole(detail::trimmed(period_text), period) || period <= 0)
    return std::nullopt;
  return static_cast<double>(quota) / static_cast<double>(period);
}

/// The worker count a pool defaults to: the CPUs in the affinity mask, lowered to the quota
/// rounded up (1.5 CPUs make 2 workers, as the JVM and .NET count them), never more than the
/// machine's CPUs, at least 1.
/// @param affinity the CPUs in the affinity mask; 0 (unknown) counts as `machine`.
/// @param quota the smallest cgroup quota in CPUs, or `std::nullopt` for no limit.
/// @param machine the machine's online CPUs; 0 (unknown) sets no upper bound.
/// @return the worker count, at least 1.
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
