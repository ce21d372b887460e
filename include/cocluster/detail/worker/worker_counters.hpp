// SPDX-License-Identifier: MIT
/// @file
/// What the primary counts and timestamps for one worker, for its metrics.
#ifndef COCLUSTER_DETAIL_WORKER_WORKER_COUNTERS_HPP
#define COCLUSTER_DETAIL_WORKER_WORKER_COUNTERS_HPP

#include <chrono>
#include <cstdint>
#include <optional>

namespace cocluster::detail {

/// A worker's times (wall clock) and connection hand-over counts, kept by its object.
struct worker_counters {
  /// When the object was made: the fork, in the primary.
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  /// When it reported `online`.
  std::optional<std::chrono::system_clock::time_point> online_at;
  /// When it first reported a listening server.
  std::optional<std::chrono::system_clock::time_point> listening_at;
  /// Connections the primary handed to it that it accepted (round-robin family).
  std::uint64_t connections_handed = 0;
  /// Connections the primary handed to it that it refused (closing server, max_connections).
  std::uint64_t connections_refused = 0;

  /// Counts a worker's answer to a hand-over.
  void count_handover(bool accepted) noexcept {
    if (accepted)
      ++connections_handed;
    else
      ++connections_refused;
  }
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_WORKER_WORKER_COUNTERS_HPP
