// SPDX-License-Identifier: MIT
/// @file
/// `supervisor_options`: pool size, readiness, respawn, stop, reload, heartbeat and upgrade
/// settings.
#ifndef COCLUSTER_SUPERVISOR_OPTIONS_HPP
#define COCLUSTER_SUPERVISOR_OPTIONS_HPP

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cocluster/supervision/crash_loop_guard.hpp"
#include "cocluster/supervision/restart_backoff.hpp"
#include "cocluster/supervisor/available_cpus.hpp"

namespace cocluster {

/// When a supervised worker counts as ready to serve.
enum class readiness {
  /// When it listens on `supervisor_options::listening_servers` servers (Node's `listening`).
  listening,
  /// When it sends the message "ready" (`report_ready`; PM2's `wait_ready`).
  ready_message,
};

/// Hang detection: cocluster workers report a heartbeat from their own event loop.
struct heartbeat_options {
  /// How often a worker beats. Zero turns hang detection off.
  std::chrono::milliseconds interval{1000};
  /// A ready worker silent this long is hung: it is killed and replaced.
  std::chrono::milliseconds timeout{10'000};
  /// Send SIGABRT first (a core dump, where the system keeps them), SIGKILL after
  /// `abort_grace`; otherwise SIGKILL at once.
  bool core_dump = false;
  /// How long a SIGABRT may take before SIGKILL follows.
  std::chrono::milliseconds abort_grace{5000};
};

/// How a `supervisor` runs its pool. The defaults suit a server behind systemd or Kubernetes:
/// the stop finishes within Kubernetes' default grace period of 30 s.
///
/// @par Example
/// The main example's pool (`examples/http_cluster/main.cpp`): the command line's size and
/// timeouts, the rest left at their defaults.
/// @code
/// cocluster::supervisor_options supervision;
/// supervision.workers = options.workers; // empty: available_cpus()
/// if (options.drain_timeout)
///   supervision.drain_timeout = *options.drain_timeout;
/// supervision.upgrade_timeout = options.upgrade_timeout;
/// cocluster::supervisor supervisor(cluster, supervision); // validate() runs here
/// supervisor.handle_signals();
/// @endcode
struct supervisor_options {
  /// The pool size. Default: `available_cpus(cpu_limits)`.
  std::optional<std::size_t> workers{};
  /// Where the default pool size reads the cgroup quota (tests point it at a fake tree).
  cpu_limit_sources cpu_limits{};
  /// Variables for every worker's environment (`cluster.fork(env)`), besides the settings' own.
  /// Each worker also gets NODE_APP_INSTANCE, its slot number from 0, as under PM2.
  std::map<std::string, std::string> env{};

  /// When a worker is ready.
  cocluster::readiness readiness = cocluster::readiness::listening;
  /// With `readiness::listening`: how many servers a worker opens.
  std::size_t listening_servers = 1;
  /// A worker not ready this long after its fork is killed and counted as a failed start.
  std::chrono::milliseconds boot_timeout{30'000};

  /// Respawn delays of a slot whose worker failed.
  backoff_options backoff{};
  /// When failures stop the pool.
  crash_loop_options crash_loop{};

  /// How long a worker that is stopped, retired or replaced may finish its open connections
  /// (`worker.disconnect(drain_timeout)`: the worker shuts down what is left then).
  std::chrono::milliseconds drain_timeout{20'000};
  /// A worker still alive this long after it was asked to stop is killed with SIGKILL.
  std::chrono::milliseconds kill_timeout{25'000};

  /// How many workers a rolling reload replaces at a time.
  std::size_t reload_batch = 1;

  /// Hang detection.
  heartbeat_options heartbeat{};

  /// Tell systemd how the pool is doing (`sd_notify`), when NOTIFY_SOCKET is set (a
  /// `Type=notify` service): READY=1 once every worker is ready, RELOADING=1 and READY=1 around
  /// a rolling reload, STOPPING=1 at a stop, STATUS= lines with the counts, and WATCHDOG=1 from
  /// the primary's event loop every half of WATCHDOG_USEC. Without NOTIFY_SOCKET nothing is
  /// sent; false never sends.
  bool systemd_notify = true;

  /// Reap exited children that are not workers of the cluster, while the pool runs. A primary
  /// that is a container's entry point (PID 1) or a child subreaper (`PR_SET_CHILD_SUBREAPER`)
  /// inherits the orphans of its descendants (a worker's daemonized helper, a grandchild whose
  /// parent died); unreaped, they stay zombies until the pid table is full. Workers keep their
  /// own exit statuses: the reaper leaves their pids alone. Empty (the default): on when the
  /// primary is PID 1 or a child subreaper, off otherwise. Turn it off when the primary's own
  /// code forks children and waits for them by pid (`std::system`, `pclose`): the reaper
  /// would take their statuses.
  std::optional<bool> reap_orphans{};

  /// The hot upgrade's program and arguments (`async_upgrade`, SIGUSR2), argv[0] first. Empty:
  /// the command line this process was started with (`/proc/self/cmdline`), its argv[0] made
  /// absolute against the working directory when the supervisor is made, or searched in PATH
  /// then when it has no '/'. The path is run again at each upgrade, so a binary replaced there
  /// (or a symbolic link switched to a new release) is what starts; `/proc/self/exe` would name
  /// the old file.
  std::vector<std::string> upgrade_command{};
  /// How long the new primary of a hot upgrade may take to get its pool ready; then it is
  /// killed and this one serves on. Default: `boot_timeout` + 30 s (the new primary starts, then
  /// its workers boot).
  std::optional<std::chrono::milliseconds> upgrade_timeout{};

  /// Checks every option (the supervisor's constructor calls it).
  /// @throws std::invalid_argument naming the first option out of range.
  void validate() const {
    if (workers && *workers == 0)
      throw std::invalid_argument("cocluster: supervisor: workers must be at least 1");
    if (listening_servers == 0)
      throw std::invalid_argument("cocluster: supervisor: listening_servers must be at least 1");
    if (boot_timeout.count() <= 0)
      throw std::invalid_argument("cocluster: supervisor: boot_timeout must be positive");
    if (drain_timeout.count() < 0 || kill_timeout.count() <= 0)
      throw std::invalid_argument("cocluster: supervisor: drain_timeout and kill_timeout must "
                                  "not be negative");
    if (reload_batch == 0)
      throw std::invalid_argument("cocluster: supervisor: reload_batch must be at least 1");
    if (heartbeat.interval.count() < 0 ||
        (heartbeat.interval.count() > 0 && heartbeat.timeout <= heartbeat.interval))
      throw std::invalid_argument("cocluster: supervisor: heartbeat.timeout must be longer than "
                                  "heartbeat.interval");
    if (upgrade_timeout && upgrade_timeout->count() <= 0)
      throw std::invalid_argument("cocluster: supervisor: upgrade_timeout must be positive");
    backoff.validate();
    crash_loop.validate();
  }
};

} // namespace cocluster

#endif // COCLUSTER_SUPERVISOR_OPTIONS_HPP
