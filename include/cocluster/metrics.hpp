// SPDX-License-Identifier: MIT
/// @file
/// A snapshot of a cluster's metrics: per worker, in all, and the primary's own usage
/// (`cluster::async_metrics`, `supervisor::async_metrics`; `to_prometheus_text` prints one).
#ifndef COCLUSTER_METRICS_HPP
#define COCLUSTER_METRICS_HPP

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "cocluster/worker_state.hpp"

namespace cocluster {

/// A process's memory and CPU use, read from `/proc/<pid>/stat`.
struct process_usage {
  /// Resident set size, in bytes.
  std::uint64_t resident_memory_bytes = 0;
  /// User and system CPU time, in seconds (the process's own, not its children's).
  double cpu_seconds = 0;
};

/// Messages and bytes carried by an IPC channel since it was made (the primary's end). Every
/// frame is a message: cocluster's and Node's internal ones (`NODE_CLUSTER`, `NODE_HANDLE`,
/// acknowledgements) and user messages; `user_messages_*` counts the user messages among them.
struct channel_traffic {
  /// Frames the primary queued for the worker.
  std::uint64_t messages_sent = 0;
  /// User messages among `messages_sent` (`worker.send`).
  std::uint64_t user_messages_sent = 0;
  /// Frames the primary received from the worker.
  std::uint64_t messages_received = 0;
  /// User messages among `messages_received` (the worker's `send`).
  std::uint64_t user_messages_received = 0;
  /// Bytes written to the channel.
  std::uint64_t bytes_sent = 0;
  /// Bytes read from the channel.
  std::uint64_t bytes_received = 0;
};

/// One worker's metrics, as the primary sees them.
struct worker_metrics {
  /// The worker's id.
  int id = 0;
  /// Its process id (-1 when the process could not be started).
  pid_t pid = -1;
  /// Its state.
  worker_state state = worker_state::none;
  /// True when it said it is a cocluster worker (false: a Node worker, or not online yet).
  bool cocluster_peer = false;
  /// When it was forked (wall clock).
  std::chrono::system_clock::time_point start_time{};
  /// When it reported `online`.
  std::optional<std::chrono::system_clock::time_point> online_time;
  /// When it got ready: from `cluster::async_metrics`, when it first listened; from
  /// `supervisor::async_metrics`, when the supervisor counted it ready (its `readiness`).
  std::optional<std::chrono::system_clock::time_point> ready_time;
  /// The pool slot it was forked into (`fork_options::slot`, the supervisor's slots).
  std::optional<int> slot;
  /// How many times the supervisor restarted a worker in its slot (set by
  /// `supervisor::async_metrics` only): respawns after a crash, a failed boot, a hang or a
  /// worker's own disconnect; not the replacements of a reload.
  std::optional<std::uint64_t> restarts;
  /// Connections the primary handed to it that it accepted (when the primary accepts: the
  /// round-robin family of policies; 0 under `shared_socket` and `reuse_port`).
  std::uint64_t connections_handed = 0;
  /// Connections the primary handed to it that it refused (its server closing, its
  /// `max_connections` reached); they went to another worker.
  std::uint64_t connections_refused = 0;
  /// Connections its servers hold open now, as the worker counts them. Only cocluster workers
  /// report it, when they answer within the metrics' wait (1 s): a Node worker has none.
  std::optional<std::uint64_t> open_connections;
  /// Its channel's traffic.
  channel_traffic ipc;
  /// Bytes queued on its channel, not yet written.
  std::uint64_t queued_bytes = 0;
  /// Its memory and CPU use; none when `/proc/<pid>/stat` could not be read (it has exited).
  std::optional<process_usage> usage;
};

/// Sums over the workers of a cluster.
struct cluster_totals {
  /// `worker_metrics::connections_handed` of every worker the cluster has had, gone ones
  /// included (so that it only grows).
  std::uint64_t connections_handed = 0;
  /// `worker_metrics::connections_refused`, as `connections_handed`.
  std::uint64_t connections_refused = 0;
  /// The channel traffic of every worker the cluster has had, gone ones included.
  channel_traffic ipc;
  /// Open connections of the workers that reported them.
  std::uint64_t open_connections = 0;
  /// Bytes queued on the workers' channels.
  std::uint64_t queued_bytes = 0;
  /// The resident memory of the workers whose usage was read.
  std::uint64_t resident_memory_bytes = 0;
  /// The CPU time of the workers whose usage was read (the live ones: it drops when a worker
  /// leaves).
  double cpu_seconds = 0;
};

/// A snapshot of a cluster's metrics.
struct cluster_metrics {
  /// When it was taken (wall clock).
  std::chrono::system_clock::time_point time{};
  /// The workers in the cluster's registry (those not yet both disconnected and exited), by id.
  std::vector<worker_metrics> workers;
  /// Sums over the workers.
  cluster_totals totals;
  /// The primary's own memory and CPU use (none if `/proc/self/stat` could not be read).
  std::optional<process_usage> primary;
};

} // namespace cocluster

#endif // COCLUSTER_METRICS_HPP
