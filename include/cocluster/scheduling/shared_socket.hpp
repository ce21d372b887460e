// SPDX-License-Identifier: MIT
/// @file
/// `shared_socket` (Node's SCHED_NONE) and `reuse_port`: the kernel distributes connections.
#ifndef COCLUSTER_SCHEDULING_SHARED_SOCKET_HPP
#define COCLUSTER_SCHEDULING_SHARED_SOCKET_HPP

#include <optional>
#include <span>

#include "cocluster/scheduling/policy.hpp"

namespace cocluster {

/// Node's SCHED_NONE: the primary binds once and sends the socket to every worker, which
/// accept on it directly. The primary is off the accept path; the kernel's wake-ups decide the
/// split, which can be uneven.
struct shared_socket : stateless_policy {
  /// Every worker accepts on the primary's one socket.
  static constexpr distribution mode = distribution::shared_socket;
  /// Never called: the kernel decides (the concept asks for it).
  /// @return `std::nullopt`.
  std::optional<int> pick(const connection_request&, std::span<const worker_load>) const {
    return std::nullopt;
  }
};

/// Each worker binds its own SO_REUSEPORT socket on the same address; the kernel hashes
/// connections across them. The fastest path: no descriptor passing, no shared accept queue.
/// `listen(0)` still gives every worker the same port (the primary picks it once).
struct reuse_port : stateless_policy {
  /// Every worker accepts on a SO_REUSEPORT socket of its own.
  static constexpr distribution mode = distribution::reuse_port;
  /// Never called: the kernel decides (the concept asks for it).
  /// @return `std::nullopt`.
  std::optional<int> pick(const connection_request&, std::span<const worker_load>) const {
    return std::nullopt;
  }
};

static_assert(scheduling_policy<shared_socket>);
static_assert(scheduling_policy<reuse_port>);

} // namespace cocluster

#endif // COCLUSTER_SCHEDULING_SHARED_SOCKET_HPP
