// SPDX-License-Identifier: MIT
/// @file
/// `round_robin`: Node's SCHED_RR, fair for bursts — each worker in turn gets a connection.
#ifndef COCLUSTER_SCHEDULING_ROUND_ROBIN_HPP
#define COCLUSTER_SCHEDULING_ROUND_ROBIN_HPP

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <span>

#include "cocluster/scheduling/policy.hpp"

namespace cocluster {

/// Round-robin: each connection goes to the worker that has had the fewest turns, ties to the
/// one given a connection least recently, so equal workers split any run of connections, a
/// burst of long-lived ones included, to within one connection.
///
/// A worker that is slower to acknowledge keeps its turn: its connections wait in the primary
/// for room in its window, and once twice its window is outstanding the next connection waits
/// for its answer. A worker that has left hand-overs unanswered for the stall timeout
/// (`handoff_options::stall_timeout`) is skipped instead, so a stuck worker does not stall the
/// others (Node's "built-in smarts to avoid overloading a worker"); once it answers again it is
/// given the turns it missed, up to one window of them, so it is not flooded afterwards. A
/// worker that joins takes its turn after those already there.
class round_robin {
public:
  /// The primary accepts and hands over.
  static constexpr distribution mode = distribution::primary_accepts;

  /// The worker whose turn it is, or nothing while that worker has twice its window
  /// outstanding (the connection waits for its answer).
  /// @param workers the listener's workers now; the client's address is not looked at.
  /// @return the chosen worker's id (its turn counted), or `std::nullopt`: none listed, or the
  ///         one whose turn it is has `in_flight + queued` at twice its window.
  std::optional<int> pick(const connection_request&, std::span<const worker_load> workers) {
    std::uint64_t most = 0;
    for (const auto& worker : workers)
      most = std::max(most, turns_of(worker.id));
    const worker_load* best = nullptr;
    std::uint64_t best_turns = 0;
    for (const auto& worker : workers) {
      if (worker.stalled && full(worker))
        continue;
      // Turns missed beyond one window are forgiven.
      const std::uint64_t floor = most > worker.window ? most - worker.window : 0;
      const std::uint64_t turns = std::max(turns_of(worker.id), floor);
      if (best == nullptr || turns < best_turns ||
          (turns == best_turns && worker.idle_since < best->idle_since)) {
        best = &worker;
        best_turns = turns;
      }
    }
    if (best == nullptr || full(*best))
      return std::nullopt;
    turns_[best->id] = best_turns + 1;
    return best->id;
  }

  /// A worker joins with as many turns as the most served one: it waits for the others' turns.
  /// @param id the joining worker's id.
  void worker_added(int id) {
    std::uint64_t most = 0;
    for (const auto& entry : turns_)
      most = std::max(most, entry.second);
    turns_[id] = most;
  }

  /// A worker leaves: its turns are forgotten.
  /// @param id the leaving worker's id.
  void worker_removed(int id) { turns_.erase(id); }

  /// Not used: turns count the connections given, not the open ones.
  void connection_closed(int) noexcept {}

private:
  static bool full(const worker_load& worker) noexcept {
    return worker.in_flight + worker.queued >= 2 * worker.window;
  }

  std::uint64_t turns_of(int id) const {
    const auto it = turns_.find(id);
    return it == turns_.end() ? 0 : it->second;
  }

  std::map<int, std::uint64_t> turns_; // connections given to each worker since it joined
};

static_assert(scheduling_policy<round_robin>);

} // namespace cocluster

#endif // COCLUSTER_SCHEDULING_ROUND_ROBIN_HPP
