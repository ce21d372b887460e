/// @file
/// `round_robin`: Node's SCHED_RR — the longest-idle available worker gets the connection.
#ifndef COCLUSTER_SCHEDULING_ROUND_ROBIN_HPP
#define COCLUSTER_SCHEDULING_ROUND_ROBIN_HPP

#include <optional>
#include <span>

#include "cocluster/scheduling/policy.hpp"

namespace cocluster {

/// Node's round-robin: not a blind rotation but a pull model. A worker is available again once
/// it acknowledged its last connection; the one that has been idle longest goes first. A busy
/// or slow worker is skipped, and with equal workers the split is even.
struct round_robin : stateless_policy {
  static constexpr distribution mode = distribution::primary_accepts;

  std::optional<int> pick(const connection_request&, std::span<const worker_load> workers) const {
    const worker_load* best = nullptr;
    for (const auto& worker : workers)
      if (worker.available && (best == nullptr || worker.idle_since < best->idle_since))
        best = &worker;
    if (best == nullptr)
      return std::nullopt;
    return best->id;
  }
};

static_assert(scheduling_policy<round_robin>);

} // namespace cocluster

#endif // COCLUSTER_SCHEDULING_ROUND_ROBIN_HPP
