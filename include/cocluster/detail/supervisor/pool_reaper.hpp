// SPDX-License-Identifier: MIT
/// @file
/// `start_pool_reaper`: a pool's orphan reaper (`supervisor_options::reap_orphans`, on by
/// default for PID 1 or a child subreaper). It reaps every child but the cluster's live workers
/// (the pool's and any forked by hand) and a hot upgrade's new primary, whose own watchers
/// report their exits.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_POOL_REAPER_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_POOL_REAPER_HPP

#include <sys/types.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/process/orphan_reaper.hpp"
#include "cocluster/detail/process/reap_decision.hpp"

namespace cocluster::detail {

/// Starts the reaper when `option` (or, unset, this process's place) says so.
/// @param cluster the pool's cluster; it outlives the reaper
/// @param option `supervisor_options::reap_orphans`
/// @param new_primary the pid of a hot upgrade's new primary in flight (0: none)
/// @return the running reaper, or null when this process reaps no orphans
template <class Cluster>
std::shared_ptr<orphan_reaper> start_pool_reaper(Cluster& cluster, std::optional<bool> option,
                                                 std::function<pid_t()> new_primary) {
  if (!reaps_orphans(option, ::getpid(), is_child_subreaper()))
    return nullptr;
  auto reaper = std::make_shared<orphan_reaper>(cluster.get_executor(),
                                                [&cluster, new_primary = std::move(new_primary)] {
                                                  std::vector<pid_t> pids;
                                                  for (const auto& [id, worker] : cluster.workers())
                                                    if (worker.pid() > 0 && !worker.is_dead())
                                                      pids.push_back(worker.pid());
                                                  if (const pid_t pid = new_primary(); pid > 0)
                                                    pids.push_back(pid);
                                                  return pids;
                                                });
  reaper->start();
  return reaper;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_POOL_REAPER_HPP
