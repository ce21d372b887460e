// SPDX-License-Identifier: MIT
/// @file
/// The scheduling policy concept: who gets each new connection.
///
/// A policy makes pure decisions; the primary's listener does the I/O (accepting, passing
/// descriptors, waiting for acknowledgements, redistributing refused or orphaned connections).
/// Its hooks are the ones Node's maintainers sketched for a pluggable scheduler
/// (nodejs/node#11546): a worker joins, a worker leaves, pick a worker for a connection given its
/// peer address, a connection ended.
#ifndef COCLUSTER_SCHEDULING_POLICY_HPP
#define COCLUSTER_SCHEDULING_POLICY_HPP

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "cocluster/detail/asio_setup.hpp"

// Asio's address value type only (no I/O): a client's address is part of a decision.
#if defined(COCLUSTER_USE_BOOST_ASIO)
#include <boost/asio/ip/address.hpp>
#else
#include <asio/ip/address.hpp>
#endif

namespace cocluster {

/// How connections reach workers.
enum class distribution {
  /// The primary accepts and hands each connection to the worker the policy picks (Node's
  /// SCHED_RR).
  primary_accepts,
  /// The primary binds once and every worker accepts on that socket (Node's SCHED_NONE).
  shared_socket,
  /// Each worker binds its own SO_REUSEPORT socket; the kernel balances.
  reuse_port,
};

/// One worker of a listener, as the policy sees it when picking.
struct worker_load {
  /// The worker's id.
  int id = 0;
  /// Connections handed to it and not yet acknowledged.
  std::size_t in_flight = 0;
  /// Connections assigned to it that wait for room in its window.
  std::size_t queued = 0;
  /// How many connections may be in flight to it at once.
  std::size_t window = 1;
  /// Connections it accepted and has not reported closed: kept for a policy that tracks
  /// connections (`tracks_connections`, below) and a cocluster worker; otherwise the
  /// connections it accepted, in all.
  std::size_t open_connections = 0;
  /// When it was last given a connection (a counter: lower means longer ago).
  std::uint64_t idle_since = 0;
  /// True when it can take a connection now (room in its in-flight window). A policy may pick a
  /// worker that is not available: the connection then waits for that worker.
  bool available = false;
  /// True when it has left connections handed to it unanswered for the stall timeout
  /// (`handoff_options::stall_timeout`): it may be stuck, and a policy should not make
  /// connections wait for it.
  bool stalled = false;
};

/// A new connection.
struct connection_request {
  /// The client's address (empty for Unix sockets).
  std::optional<asio::ip::address> peer;
};

/// The available worker that was given a connection least recently, if any: the fallback of
/// the built-in policies (a connection without a client address, a sticky choice that refused
/// it), there for custom policies too.
/// @param workers the listener's workers, as given to `pick`.
/// @return the id of the available worker with the lowest `idle_since` (the first of equals),
///         or `std::nullopt` when none is available.
inline std::optional<int> least_recently_used(std::span<const worker_load> workers) noexcept {
  const worker_load* best = nullptr;
  for (const auto& worker : workers)
    if (worker.available && (!best || worker.idle_since < best->idle_since))
      best = &worker;
  if (!best)
    return std::nullopt;
  return best->id;
}

/// A scheduling policy `P`:
/// - `P::mode`: a `distribution`; the hooks below are used only for `primary_accepts`;
/// - `p.pick(request, workers) -> std::optional<int>`: the id of the worker that gets the
///   connection, or nothing to keep it queued until a worker becomes available (the listener
///   asks again then);
/// - `p.worker_added(id)` / `p.worker_removed(id)`: a worker joined or left the listener;
/// - `p.connection_closed(id)`: a connection worker `id` accepted has ended. It is called only
///   for a policy that tracks connections (below), only for cocluster workers (a Node worker
///   does not say when its connections end), once per connection, within about 100 ms of the
///   end, and only between `worker_added(id)` and `worker_removed(id)`;
/// - optional, `P::tracks_connections`: `static constexpr bool tracks_connections = true` asks
///   cocluster workers to report when their connections end. Without it (or with false)
///   `connection_closed` is never called, and workers spend nothing on counting.
/// One policy object exists per shared listener; it must be default-constructible.
///
/// @par Example
/// A custom policy: the available worker with the lowest id (`tests/net_tests.cpp`), given to
/// the cluster as its first template argument.
/// @code
/// struct lowest_id_first : cocluster::stateless_policy {
///   static constexpr cocluster::distribution mode = cocluster::distribution::primary_accepts;
///   std::optional<int> pick(const cocluster::connection_request&,
///                           std::span<const cocluster::worker_load> workers) const {
///     std::optional<int> best;
///     for (const auto& worker : workers)
///       if (worker.available && (!best || worker.id < *best))
///         best = worker.id;
///     return best; // nothing available: the connection waits in the primary
///   }
/// };
/// cocluster::cluster<lowest_id_first> cluster(io);
/// @endcode
///
/// @tparam P the policy type checked.
template <class P>
concept scheduling_policy = std::default_initializable<P> &&
                            requires(P& policy, const connection_request& request,
                                     std::span<const worker_load> workers, int id) {
                              { P::mode } -> std::convertible_to<distribution>;
                              { policy.pick(request, workers) } -> std::same_as<std::optional<int>>;
                              policy.worker_added(id);
                              policy.worker_removed(id);
                              policy.connection_closed(id);
                            };

/// A base for policies that need no bookkeeping hooks.
struct stateless_policy {
  /// Does nothing.
  void worker_added(int) noexcept {}
  /// Does nothing.
  void worker_removed(int) noexcept {}
  /// Does nothing (and is not called unless the policy sets `tracks_connections`).
  void connection_closed(int) noexcept {}
};

} // namespace cocluster

#endif // COCLUSTER_SCHEDULING_POLICY_HPP
