// cocluster_metrics: what a metrics snapshot costs the primary's event loop.
//
//   cocluster_metrics [--workers 64] [--reps 200]
//       Forks N idle cocluster workers and waits until every one is online, then measures:
//       proc_all_us, the time to read /proc/<pid>/stat of all N (what one snapshot reads);
//       proc_turn_us, the longest turn of the loop a snapshot spends reading /proc (16 processes
//       per turn); snapshot_ms, a whole `cluster.async_metrics()`, the workers' answers to
//       `cocluster.stats` included. Prints {"workers":N,"proc_all_us":median,...}, then
//       disconnects the workers.
#include "common.hpp"

#include <unistd.h>

#include <algorithm>
#include <csignal>

#include <cocluster/detail/cluster/metrics_collector.hpp>

namespace {

using cluster_type = cocluster::cluster<>;

double micros_since(bench::clock::time_point start) {
  return std::chrono::duration<double, std::micro>(bench::clock::now() - start).count();
}

asio::awaitable<void> run(cluster_type& cluster, int n, int reps) {
  std::vector<cluster_type::worker_type> workers;
  for (int i = 0; i < n; ++i)
    workers.push_back(cluster.fork());
  std::vector<pid_t> pids;
  for (auto& worker : workers) {
    co_await worker.online();
    pids.push_back(worker.pid());
  }
  std::vector<double> all, turn, snapshot;
  for (int r = 0; r < reps; ++r) {
    double longest = 0;
    const auto start = bench::clock::now();
    for (std::size_t i = 0; i < pids.size(); i += cocluster::detail::proc_reads_per_turn) {
      const auto batch = bench::clock::now();
      const auto end = std::min(pids.size(), i + cocluster::detail::proc_reads_per_turn);
      for (std::size_t j = i; j < end; ++j)
        if (!cocluster::detail::read_process_usage(pids[j]))
          throw std::runtime_error("no /proc/<pid>/stat for a live worker");
      longest = std::max(longest, micros_since(batch));
    }
    all.push_back(micros_since(start));
    turn.push_back(longest);
  }
  for (int r = 0; r < std::min(reps, 50); ++r) {
    const auto start = bench::clock::now();
    const auto m = co_await cluster.async_metrics();
    snapshot.push_back(micros_since(start) / 1000);
    if (m.workers.size() != pids.size() || m.totals.open_connections != 0)
      throw std::runtime_error("a snapshot without every worker");
    for (const auto& w : m.workers)
      if (!w.open_connections || !w.usage)
        throw std::runtime_error("a worker did not answer");
  }
  nlohmann::json out;
  out["impl"] = "cocluster";
  out["workers"] = n;
  out["proc_all_us"] = bench::median(all);
  out["proc_turn_us"] = bench::median(turn);
  out["proc_turn_max_us"] = *std::max_element(turn.begin(), turn.end());
  out["snapshot_ms"] = bench::median(snapshot);
  bench::emit(out);
  co_await cluster.disconnect();
}

} // namespace

int main(int argc, char** argv) {
  bench::first_byte_gate();
  const auto args = bench::parse_arguments(argc, argv);
  asio::io_context io;
  cluster_type cluster(io);
  if (cluster.is_worker()) {
    std::signal(SIGINT, SIG_IGN); // Ctrl-C reaches the group: the primary decides
    io.run();
    return 0;
  }
  asio::co_spawn(io, run(cluster, args.get_int("workers", 64), args.get_int("reps", 200)),
                 bench::fail_on_exception);
  io.run();
  return 0;
}
