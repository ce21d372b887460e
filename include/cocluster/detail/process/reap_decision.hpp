// SPDX-License-Identifier: MIT
/// @file
/// The pure decisions of the orphan reaper (`orphan_reaper`, the I/O): whether a primary reaps
/// children that are not its workers, and what it does with one exited child it has seen.
#ifndef COCLUSTER_DETAIL_PROCESS_REAP_DECISION_HPP
#define COCLUSTER_DETAIL_PROCESS_REAP_DECISION_HPP

#include <sys/types.h>

#include <algorithm>
#include <optional>
#include <vector>

namespace cocluster::detail {

/// What the reaper does with an exited child that `waitid(WNOWAIT)` showed it.
enum class reap_action {
  /// Not a worker of ours (an orphan re-parented to us): reap it now.
  reap,
  /// A live worker: its own watcher reaps it and reports its status; the reaper looks again
  /// later, once the watcher has run.
  leave_to_watcher,
};

/// The action for exited child `child`, given the pids of the workers whose exit has not been
/// seen yet (`workers`).
inline reap_action reap_action_for(pid_t child, const std::vector<pid_t>& workers) {
  return std::find(workers.begin(), workers.end(), child) != workers.end()
             ? reap_action::leave_to_watcher
             : reap_action::reap;
}

/// Whether the primary reaps orphans: `option` when set, otherwise only when it is PID 1 (a
/// container's entry point: orphans of the whole namespace come to it) or a child subreaper
/// (`PR_SET_CHILD_SUBREAPER`: orphans of its descendants come to it).
inline bool reaps_orphans(std::optional<bool> option, pid_t self, bool child_subreaper) {
  if (option)
    return *option;
  return self == 1 || child_subreaper;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_PROCESS_REAP_DECISION_HPP
