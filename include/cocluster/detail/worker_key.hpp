// SPDX-License-Identifier: MIT
/// @file
/// The passkey of a worker's cluster-only members (making one, starting it, sending internal
/// messages for it).
///
/// It sits in the foundation layer: the worker layer takes it, and both layers above or beside
/// it that call those members — the roles (cluster) and the listeners and servers (net, of the
/// worker's rank, which may not include the worker layer) — name it.
#ifndef COCLUSTER_DETAIL_WORKER_KEY_HPP
#define COCLUSTER_DETAIL_WORKER_KEY_HPP

namespace cocluster::detail {

/// Only the cluster can name this, so only the cluster makes workers.
struct worker_key {
  explicit worker_key() = default;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_WORKER_KEY_HPP
