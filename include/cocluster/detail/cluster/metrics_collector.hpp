// SPDX-License-Identifier: MIT
/// @file
/// The primary's metrics snapshot: what it knows of each worker, the open connections that
/// cocluster workers report when asked, and the memory and CPU use read from `/proc`.
#ifndef COCLUSTER_DETAIL_CLUSTER_METRICS_COLLECTOR_HPP
#define COCLUSTER_DETAIL_CLUSTER_METRICS_COLLECTOR_HPP

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/ipc/channel_counters.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/proc/proc_stat.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/detail/worker/worker_counters.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/metrics.hpp"

namespace cocluster::detail {

/// The usage of the process whose stat file is `path` (`/proc/<pid>/stat`, `/proc/self/stat`),
/// or none when it cannot be read (the process has gone) or parsed. One `open` and a `read` or
/// two: /proc files are made by the kernel on the spot, without waiting for a disk.
inline std::optional<process_usage> read_process_usage(const char* path) {
  const unique_fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd)
    return std::nullopt;
  char buffer[2048]; // a stat line is at most about 700 bytes
  std::size_t size = 0;
  while (size < sizeof buffer) {
    const ssize_t n = ::read(fd.get(), buffer + size, sizeof buffer - size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    size += static_cast<std::size_t>(n);
  }
  const auto stat = parse_proc_stat(std::string_view(buffer, size));
  if (!stat)
    return std::nullopt;
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  static const long page = ::sysconf(_SC_PAGESIZE);
  const auto usage = usage_of(*stat, ticks, page);
  process_usage result;
  result.resident_memory_bytes = usage.resident_bytes;
  result.cpu_seconds = usage.cpu_seconds;
  return result;
}

/// The usage of process `pid`, or none.
inline std::optional<process_usage> read_process_usage(pid_t pid) {
  if (pid <= 0)
    return std::nullopt;
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  return read_process_usage(path.c_str());
}

/// A channel's counts in the public type.
inline channel_traffic traffic_of(const channel_counters& counters) {
  channel_traffic t;
  t.messages_sent = counters.messages_sent;
  t.user_messages_sent = counters.user_messages_sent;
  t.messages_received = counters.messages_received;
  t.user_messages_received = counters.user_messages_received;
  t.bytes_sent = counters.bytes_sent;
  t.bytes_received = counters.bytes_received;
  return t;
}

/// The counters of workers that left the primary's registry, kept so that the cluster's
/// totals only grow.
struct departed_counts {
  /// Connections they accepted.
  std::uint64_t connections_handed = 0;
  /// Connections they refused.
  std::uint64_t connections_refused = 0;
  /// Their channels' traffic.
  channel_counters traffic;

  /// Adds a worker that leaves the registry.
  template <class Impl>
  void add(const Impl& worker) {
    connections_handed += worker.counters().connections_handed;
    connections_refused += worker.counters().connections_refused;
    traffic += worker.traffic();
  }
};

/// What a worker's object tells of it, without asking the process.
template <class Impl>
worker_metrics known_metrics(const Impl& impl) {
  worker_metrics m;
  const worker_counters& counters = impl.counters();
  m.id = impl.id();
  m.pid = impl.pid();
  m.state = impl.state();
  m.cocluster_peer = impl.is_cocluster_peer();
  m.start_time = counters.started;
  m.online_time = counters.online_at;
  m.ready_time = counters.listening_at;
  m.slot = impl.slot();
  m.connections_handed = counters.connections_handed;
  m.connections_refused = counters.connections_refused;
  m.ipc = traffic_of(impl.traffic());
  m.queued_bytes = impl.queued_bytes();
  return m;
}

/// How long the primary waits for the workers' answers to the metrics' question.
inline constexpr std::chrono::milliseconds metrics_answer_timeout{1000};

/// Processes whose `/proc` files are read in one turn of the event loop; the next ones are read
/// in a handler posted after it, so that many workers never hold the loop for long.
inline constexpr std::size_t proc_reads_per_turn = 16;

/// One snapshot being taken: it asks every connected cocluster worker for its open
/// connections, waits for the answers (at most `metrics_answer_timeout`), reads `/proc` a few
/// processes per turn, and completes its handler.
class metrics_collection : public std::enable_shared_from_this<metrics_collection> {
public:
  /// Starts one for the workers of a primary's registry (`workers`: id → handle) with the
  /// counts of those gone; `done` gets the snapshot.
  template <class WorkerMap>
  static void start(const asio::any_io_executor& executor, const WorkerMap& workers,
                    const departed_counts& departed, erased_handler<cluster_metrics> done) {
    auto self = std::make_shared<metrics_collection>(executor, std::move(done));
    self->snapshot_.time = std::chrono::system_clock::now();
    self->departed_ = departed;
    for (const auto& entry : workers)
      self->snapshot_.workers.push_back(known_metrics(entry.second.impl(worker_key())));
    std::size_t index = 0;
    for (const auto& entry : workers) {
      auto& impl = entry.second.impl(worker_key());
      // Node workers would not answer: they are never asked.
      if (impl.is_cocluster_peer() && impl.is_connected() &&
          impl.send_request(worker_key(), protocol::stats_request(),
                            [weak = self->weak_from_this(), index](nlohmann::json&& reply,
                                                                   unique_fd) {
                              if (auto collection = weak.lock())
                                collection->answered(index, reply);
                            }))
        ++self->waiting_;
      ++index;
    }
    if (self->waiting_ == 0) {
      self->read_usage();
      return;
    }
    self->timer_.expires_after(metrics_answer_timeout);
    self->timer_.async_wait([self](std::error_code) { self->read_usage(); });
  }

  /// Made by `start`.
  metrics_collection(const asio::any_io_executor& executor, erased_handler<cluster_metrics> done)
      : executor_(executor), timer_(executor), done_(std::move(done)) {}

private:
  void answered(std::size_t index, const nlohmann::json& reply) {
    if (reading_ || index >= snapshot_.workers.size())
      return; // too late: the snapshot is past waiting
    if (auto open = protocol::integer_field(reply, protocol::field_open); open && *open >= 0)
      snapshot_.workers[index].open_connections = static_cast<std::uint64_t>(*open);
    if (--waiting_ == 0)
      timer_.cancel(); // read_usage runs from the timer's handler
  }

  // Reads the workers' /proc files from `next_`, a few per turn, then completes.
  void read_usage() {
    reading_ = true;
    const std::size_t end = std::min(snapshot_.workers.size(), next_ + proc_reads_per_turn);
    for (; next_ < end; ++next_)
      snapshot_.workers[next_].usage = read_process_usage(snapshot_.workers[next_].pid);
    if (next_ < snapshot_.workers.size()) {
      asio::post(executor_, [self = shared_from_this()] { self->read_usage(); });
      return;
    }
    snapshot_.primary = read_process_usage("/proc/self/stat");
    add_totals();
    done_.complete({}, std::move(snapshot_));
  }

  void add_totals() {
    cluster_totals& t = snapshot_.totals;
    channel_counters traffic = departed_.traffic;
    t.connections_handed = departed_.connections_handed;
    t.connections_refused = departed_.connections_refused;
    for (const auto& m : snapshot_.workers) {
      t.connections_handed += m.connections_handed;
      t.connections_refused += m.connections_refused;
      channel_counters c;
      c.messages_sent = m.ipc.messages_sent;
      c.user_messages_sent = m.ipc.user_messages_sent;
      c.messages_received = m.ipc.messages_received;
      c.user_messages_received = m.ipc.user_messages_received;
      c.bytes_sent = m.ipc.bytes_sent;
      c.bytes_received = m.ipc.bytes_received;
      traffic += c;
      t.open_connections += m.open_connections.value_or(0);
      t.queued_bytes += m.queued_bytes;
      if (m.usage) {
        t.resident_memory_bytes += m.usage->resident_memory_bytes;
        t.cpu_seconds += m.usage->cpu_seconds;
      }
    }
    t.ipc = traffic_of(traffic);
  }

  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  erased_handler<cluster_metrics> done_;
  cluster_metrics snapshot_;
  departed_counts departed_;
  std::size_t waiting_ = 0;
  std::size_t next_ = 0;
  bool reading_ = false;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CLUSTER_METRICS_COLLECTOR_HPP
