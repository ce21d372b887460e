/// @file
/// `round_robin`: Node's SCHED_RR — the longest-idle available worker gets the connection.
#ifndef COCLUSTER_SCHEDULING_ROUND_ROBIN_HPP
#define COCLUSTER_SCHEDULING_ROUND_ROBIN_HPP

#include <optional>
#include <span>

#include "cocluster/scheduling/policy.hpp"

namespace cocluster {

/// Round-robin: each connection goes to the worker that was given one least recently, so with
/// equal workers the split is even to within one connection. A worker that is momentarily busy
/// keeps its turn (the connection waits briefly for it); one that has fallen behind by more than
/// twice its window is skipped until it catches up, so a stuck worker does not stall the others
/// (Node's "built-in smarts to avoid overloading a worker").
struct round_robin : stateless_policy {
  static constexpr distribution mode = distribution::primary_accepts;

  std::optional<int> pick(const connection_request&, std::span<const worker_load> workers) const {
    const worker_load* best = nullptr;
    for (const auto& worker : workers) {
      if (worker.in_flight + worker.queued >= 2 * worker.window)
        continue;
      if (best == nullptr || worker.idle_since < best->idle_since)
        best = &worker;
    }
    if (best == nullptr)
      return std::nullopt;
    return best->id;
  }
};

static_assert(scheduling_policy<round_robin>);

} // namespace cocluster

#endif // COCLUSTER_SCHEDULING_ROUND_ROBIN_HPP
