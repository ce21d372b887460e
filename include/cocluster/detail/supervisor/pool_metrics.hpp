// SPDX-License-Identifier: MIT
/// @file
/// `add_pool_metrics`: what a pool adds to its cluster's metrics snapshot: each member's
/// readiness time (by the pool's `readiness`, not its first listen) and its slot's restarts.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_POOL_METRICS_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_POOL_METRICS_HPP

#include "cocluster/detail/supervisor/member_set.hpp"
#include "cocluster/detail/supervisor/respawner.hpp"
#include "cocluster/metrics.hpp"

namespace cocluster::detail {

/// Fills in the pool's part of `snapshot`.
/// @param snapshot the cluster's metrics
/// @param members the pool's members
/// @param respawns the pool's respawns, with each slot's restarts
template <class Cluster>
void add_pool_metrics(cluster_metrics& snapshot, const member_set<Cluster>& members,
                      const respawner& respawns) {
  for (auto& worker : snapshot.workers) {
    auto it = members.all().find(worker.id);
    if (it == members.all().end() || !worker.slot)
      continue; // not the pool's (a fork made by hand), or gone from it
    worker.ready_time = it->second.ready_time;
    worker.restarts = respawns.restarts(*worker.slot);
  }
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_POOL_METRICS_HPP
