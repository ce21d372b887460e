// SPDX-License-Identifier: MIT
/// @file
/// `to_prometheus_text`: a metrics snapshot in Prometheus's text exposition format (0.0.4).
/// Pure: it formats a `cluster_metrics`, and does no I/O.
#ifndef COCLUSTER_METRICS_PROMETHEUS_HPP
#define COCLUSTER_METRICS_PROMETHEUS_HPP

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "cocluster/metrics.hpp"
#include "cocluster/worker_state.hpp"

namespace cocluster {

/// The content type of `to_prometheus_text`'s output, for an HTTP response.
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; "
                                                            "charset=utf-8";

namespace detail::prometheus {

/// A label value as the format writes it between double quotes: backslash, double quote and
/// line feed escaped (`\\`, `\"`, `\n`).
inline std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

/// A HELP text as the format writes it: backslash and line feed escaped.
inline std::string escape_help(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

/// A sample value: integers as integers, others in the shortest form that reads back the same;
/// `NaN`, `+Inf`, `-Inf` as the format spells them.
inline std::string format_value(double value) {
  if (std::isnan(value))
    return "NaN";
  if (std::isinf(value))
    return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return error == std::errc() ? std::string(buffer, end) : std::string("NaN");
}

/// An unsigned count.
inline std::string format_value(std::uint64_t value) { return std::to_string(value); }

/// Seconds since the Unix epoch.
inline std::string format_time(std::chrono::system_clock::time_point time) {
  return format_value(std::chrono::duration<double>(time.time_since_epoch()).count());
}

/// One label: name and (unescaped) value.
using label = std::pair<std::string_view, std::string>;

/// Writes metric families: each family's HELP and TYPE lines, then its samples, together.
class writer {
public:
  /// Starts family `name` of `type` ("counter", "gauge").
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  /// A sample of the current family with these labels.
  void sample(std::initializer_list<label> labels, const std::string& value) {
    out_ += name_;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [name, text] : labels) {
        if (!first)
          out_ += ',';
        first = false;
        out_ += name;
        out_ += "=\"";
        out_ += escape_label_value(text);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  /// What was written.
  std::string take() { return std::move(out_); }

private:
  std::string out_;
  std::string name_;
};

} // namespace detail::prometheus

/// `snapshot` in Prometheus's text exposition format 0.0.4 (serve it with
/// `prometheus_content_type`). Names follow Prometheus's conventions: prefix `cocluster_`,
/// counters end in `_total`, units in `_bytes` and `_seconds`; per-worker series carry the
/// labels `worker` (the id) and `pid`. The README's "Metrics" section lists every family. A
/// value that is unknown (a Node worker's open connections, the usage of a process that has
/// exited) has no sample.
/// @param snapshot the pool's metrics, as `supervisor::async_metrics` or
/// `cluster::async_metrics` deliver them.
/// @return the exposition's text: `# HELP` and `# TYPE` lines and the samples of each family,
/// each line ended by a newline, ready to be the body of a `GET /metrics` answer.
inline std::string to_prometheus_text(const cluster_metrics& snapshot) {
  using detail::prometheus::format_time;
  using detail::prometheus::format_value;
  detail::prometheus::writer w;

  w.family("cocluster_workers", "gauge", "Workers in the cluster's registry, by state.");
  for (const auto state : {worker_state::none, worker_state::online, worker_state::listening,
                           worker_state::disconnected, worker_state::dead}) {
    std::uint64_t count = 0;
    for (const auto& worker : snapshot.workers)
      count += worker.state == state ? 1 : 0;
    w.sample({{"state", std::string(to_string(state))}}, format_value(count));
  }

  // Every per-worker family: its samples are written by `each(worker)`.
  auto per_worker = [&](std::string_view name, std::string_view type, std::string_view help,
                        auto each) {
    w.family(name, type, help);
    for (const auto& worker : snapshot.workers)
      each(worker, std::to_string(worker.id), std::to_string(worker.pid));
  };
  using worker_ref = const worker_metrics&;
  using text = const std::string&;

  per_worker("cocluster_worker_info", "gauge",
             "1 for each worker, with its state and its kind: cocluster, node (a worker that is "
             "online and did not say it is cocluster), or unknown (not online yet).",
             [&](worker_ref m, text id, text pid) {
               const char* kind = m.cocluster_peer ? "cocluster"
                                  : m.online_time  ? "node"
                                                   : "unknown";
               w.sample({{"worker", id},
                         {"pid", pid},
                         {"state", std::string(to_string(m.state))},
                         {"kind", kind}},
                        "1");
             });
  per_worker("cocluster_worker_start_time_seconds", "gauge",
             "When the worker was forked, in seconds since the Unix epoch.",
             [&](worker_ref m, text id, text pid) {
               w.sample({{"worker", id}, {"pid", pid}}, format_time(m.start_time));
             });
  per_worker("cocluster_worker_online_time_seconds", "gauge",
             "When the worker reported online, in seconds since the Unix epoch.",
             [&](worker_ref m, text id, text pid) {
               if (m.online_time)
                 w.sample({{"worker", id}, {"pid", pid}}, format_time(*m.online_time));
             });
  per_worker("cocluster_worker_ready_time_seconds", "gauge",
             "When the worker got ready (it listened; under the supervisor, its readiness), in "
             "seconds since the Unix epoch.",
             [&](worker_ref m, text id, text pid) {
               if (m.ready_time)
                 w.sample({{"worker", id}, {"pid", pid}}, format_time(*m.ready_time));
             });
  per_worker("cocluster_worker_connections_handed_total", "counter",
             "Connections the primary handed to the worker that it accepted.",
             [&](worker_ref m, text id, text pid) {
               w.sample({{"worker", id}, {"pid", pid}}, format_value(m.connections_handed));
             });
  per_worker("cocluster_worker_connections_refused_total", "counter",
             "Connections the primary handed to the worker that it refused.",
             [&](worker_ref m, text id, text pid) {
               w.sample({{"worker", id}, {"pid", pid}}, format_value(m.connections_refused));
             });
  per_worker("cocluster_worker_open_connections", "gauge",
             "Connections the worker's servers hold open (cocluster workers only).",
             [&](worker_ref m, text id, text pid) {
               if (m.open_connections)
                 w.sample({{"worker", id}, {"pid", pid}}, format_value(*m.open_connections));
             });
  per_worker("cocluster_worker_ipc_messages_sent_total", "counter",
             "Messages the primary sent the worker on its channel, by kind (user, internal).",
             [&](worker_ref m, text id, text pid) {
               w.sample({{"worker", id}, {"pid", pid}, {"kind", "user"}},
                        format_value(m.ipc.user_messages_sent));
               w.sample({{"worker", id}, {"pid", pid}, {"kind", "internal"}},
                        format_value(m.ipc.messages_sent - m.ipc.user_messages_sent));
             });
  per_worker("cocluster_worker_ipc_messages_received_total", "counter",
             "Messages the primary received from the worker on its channel, by kind (user, "
             "internal).",
             [&](worker_ref m, text id, text pid) {
               w.sample({{"worker", id}, {"pid", pid}, {"kind", "user"}},
                        format_value(m.ipc.user_messages_received));
               w.sample({{"worker", id}, {"pid", pid}, {"kind", "internal"}},
                        format_value(m.ipc.messages_received - m.ipc.user_messages_received));
             });
  per_worker("cocluster_worker_ipc_sent_bytes_total", "counter",
             "Bytes the primary wrote to the worker's channel.",
             [&](worker_ref m, text id, text pid) {
               w.sample({{"worker", id}, {"pid", pid}}, format_value(m.ipc.bytes_sent));
             });
  per_worker("cocluster_worker_ipc_received_bytes_total", "counter",
             "Bytes the primary read from the worker's channel.",
             [&](worker_ref m, text id, text pid) {
               w.sample({{"worker", id}, {"pid", pid}}, format_value(m.ipc.bytes_received));
             });
  per_worker("cocluster_worker_ipc_queued_bytes", "gauge",
             "Bytes queued on the worker's channel and not yet written.",
             [&](worker_ref m, text id, text pid) {
               w.sample({{"worker", id}, {"pid", pid}}, format_value(m.queued_bytes));
             });
  per_worker("cocluster_worker_resident_memory_bytes", "gauge",
             "The worker process's resident memory.", [&](worker_ref m, text id, text pid) {
               if (m.usage)
                 w.sample({{"worker", id}, {"pid", pid}},
                          format_value(m.usage->resident_memory_bytes));
             });
  per_worker("cocluster_worker_cpu_seconds_total", "counter",
             "The worker process's user and system CPU time.",
             [&](worker_ref m, text id, text pid) {
               if (m.usage)
                 w.sample({{"worker", id}, {"pid", pid}}, format_value(m.usage->cpu_seconds));
             });

  // Restarts are the slot's: one sample per slot (the workers of a slot share the count).
  std::map<int, std::uint64_t> restarts;
  for (const auto& worker : snapshot.workers)
    if (worker.slot && worker.restarts && *worker.restarts >= restarts[*worker.slot])
      restarts[*worker.slot] = *worker.restarts;
  w.family("cocluster_slot_restarts_total", "counter",
           "Workers the supervisor restarted in the pool slot (crashes, failed boots, hangs, "
           "workers that left on their own).");
  for (const auto& [slot, count] : restarts)
    w.sample({{"slot", std::to_string(slot)}}, format_value(count));

  const auto& t = snapshot.totals;
  w.family("cocluster_connections_handed_total", "counter",
           "Connections handed to workers and accepted, every worker the cluster has had.");
  w.sample({}, format_value(t.connections_handed));
  w.family("cocluster_connections_refused_total", "counter",
           "Connections handed to workers and refused, every worker the cluster has had.");
  w.sample({}, format_value(t.connections_refused));
  w.family("cocluster_ipc_messages_sent_total", "counter",
           "Messages the primary sent on workers' channels, by kind (user, internal).");
  w.sample({{"kind", "user"}}, format_value(t.ipc.user_messages_sent));
  w.sample({{"kind", "internal"}}, format_value(t.ipc.messages_sent - t.ipc.user_messages_sent));
  w.family("cocluster_ipc_messages_received_total", "counter",
           "Messages the primary received on workers' channels, by kind (user, internal).");
  w.sample({{"kind", "user"}}, format_value(t.ipc.user_messages_received));
  w.sample({{"kind", "internal"}},
           format_value(t.ipc.messages_received - t.ipc.user_messages_received));
  w.family("cocluster_ipc_sent_bytes_total", "counter",
           "Bytes the primary wrote to workers' channels.");
  w.sample({}, format_value(t.ipc.bytes_sent));
  w.family("cocluster_ipc_received_bytes_total", "counter",
           "Bytes the primary read from workers' channels.");
  w.sample({}, format_value(t.ipc.bytes_received));
  w.family("cocluster_open_connections", "gauge",
           "Connections open in the workers that report them (cocluster workers).");
  w.sample({}, format_value(t.open_connections));
  w.family("cocluster_ipc_queued_bytes", "gauge",
           "Bytes queued on workers' channels and not yet written.");
  w.sample({}, format_value(t.queued_bytes));
  w.family("cocluster_workers_resident_memory_bytes", "gauge",
           "The resident memory of the live workers, summed.");
  w.sample({}, format_value(t.resident_memory_bytes));
  w.family("cocluster_workers_cpu_seconds", "gauge",
           "The CPU time of the live workers, summed (it drops when a worker leaves).");
  w.sample({}, format_value(t.cpu_seconds));

  w.family("cocluster_primary_resident_memory_bytes", "gauge",
           "The primary process's resident memory.");
  if (snapshot.primary)
    w.sample({}, format_value(snapshot.primary->resident_memory_bytes));
  w.family("cocluster_primary_cpu_seconds_total", "counter",
           "The primary process's user and system CPU time.");
  if (snapshot.primary)
    w.sample({}, format_value(snapshot.primary->cpu_seconds));
  return w.take();
}

} // namespace cocluster

#endif // COCLUSTER_METRICS_PROMETHEUS_HPP
