// SPDX-License-Identifier: MIT
/// @file
/// How many round-robin connections may wait for one worker's answer (`cluster_options::handoff`).
#ifndef COCLUSTER_NET_HANDOFF_OPTIONS_HPP
#define COCLUSTER_NET_HANDOFF_OPTIONS_HPP

#include <chrono>
#include <cstddef>

namespace cocluster {

/// In the primary: how many connections of one shared port may be handed to a worker and wait
/// for its answer at once. Node's workers get Node's rule (one); cocluster workers, more.
struct handoff_options {
  /// For a Node worker.
  std::size_t node_peer = 1;
  /// For a cocluster worker.
  std::size_t cocluster_peer = 4;
  /// A worker that leaves hand-overs unanswered this long counts as stalled
  /// (`worker_load::stalled`): `round_robin` stops waiting for its turn and skips it.
  std::chrono::milliseconds stall_timeout{50};
};

} // namespace cocluster

#endif // COCLUSTER_NET_HANDOFF_OPTIONS_HPP
