// SPDX-License-Identifier: MIT
/// @file
/// `least_connections`: the worker with the fewest open connections gets the next one.
#ifndef COCLUSTER_SCHEDULING_LEAST_CONNECTIONS_HPP
#define COCLUSTER_SCHEDULING_LEAST_CONNECTIONS_HPP

#include <optional>
#include <span>

#include "cocluster/scheduling/policy.hpp"

namespace cocluster {

/// Picks the available worker with the fewest open connections (counting those still being
/// handed over); ties go to the one idle longest. cocluster workers report when their
/// connections end (every 100 ms while it changes); a Node worker does not, so its count only
/// grows — use this policy with cocluster workers.
struct least_connections : stateless_policy {
  /// The primary accepts and hands each connection over.
  static constexpr distribution mode = distribution::primary_accepts;
  /// Ask cocluster workers to report when their connections end (see `scheduling_policy`).
  static constexpr bool tracks_connections = true;

  /// The available worker with the fewest open and in-flight connections (ties: the one idle
  /// longest); nothing (the connection waits) when none is available.
  /// @param workers the listener's workers now; only those `available` count.
  /// @return the chosen worker's id, or `std::nullopt`.
  std::optional<int> pick(const connection_request&, std::span<const worker_load> workers) const {
    const worker_load* best = nullptr;
    for (const auto& worker : workers) {
      if (!worker.available)
        continue;
      const auto load = worker.open_connections + worker.in_flight;
      if (best == nullptr || load < best->open_connections + best->in_flight ||
          (load == best->open_connections + best->in_flight &&
           worker.idle_since < best->idle_since))
        best = &worker;
    }
    if (best == nullptr)
      return std::nullopt;
    return best->id;
  }
};

static_assert(scheduling_policy<least_connections>);

} // namespace cocluster

#endif // COCLUSTER_SCHEDULING_LEAST_CONNECTIONS_HPP
