// cocluster_spawn: the spawn and memory workloads.
//
//   cocluster_spawn spawn [--counts 1,2,8,32] [--reps 5,5,3,1] [--ballast MiB]
//       For each count N, `reps` times: fork N workers and wait until every one is online
//       (online_ms), then cluster.disconnect() until every one has exited (exit_ms). Prints
//       {"results":[{"workers":N,"online_ms":median,"exit_ms":median,...},...]}.
//   cocluster_spawn idle [--workers 8]
//       Forks N idle workers, prints {"ready":true,"primary":PID,"workers":[PIDs]}, waits for
//       SIGTERM (the runner reads their memory meanwhile), disconnects, prints {"done":true}.
//
// Workers are idle: they construct the cluster (which reports online) and run until the primary
// disconnects them.
#include "common.hpp"

#include <csignal>

namespace {

using cluster_type = cocluster::cluster<>;

nlohmann::json spawn_result(int workers, const std::vector<double>& online,
                            const std::vector<double>& exited) {
  nlohmann::json r;
  r["workers"] = workers;
  r["online_ms"] = bench::median(online);
  r["exit_ms"] = bench::median(exited);
  r["online_all"] = online;
  r["exit_all"] = exited;
  return r;
}

nlohmann::json ready_line(pid_t primary, const std::vector<pid_t>& workers) {
  nlohmann::json r;
  r["ready"] = true;
  r["impl"] = "cocluster";
  r["primary"] = primary;
  r["workers"] = workers;
  return r;
}

nlohmann::json flag_line(const char* key) {
  nlohmann::json r;
  r[key] = true;
  return r;
}

asio::awaitable<void> run_spawn(cluster_type& cluster, std::vector<int> counts,
                                std::vector<int> reps) {
  nlohmann::json out;
  out["impl"] = "cocluster";
  out["results"] = nlohmann::json::array();
  for (std::size_t c = 0; c < counts.size(); ++c) {
    const int n = counts[c];
    const int r = c < reps.size() ? reps[c] : 1;
    std::vector<double> online, exited;
    for (int rep = 0; rep < r; ++rep) {
      const auto t0 = bench::clock::now();
      std::vector<cluster_type::worker_type> workers;
      workers.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i)
        workers.push_back(cluster.fork());
      for (auto& worker : workers)
        co_await worker.online();
      const auto t1 = bench::clock::now();
      co_await cluster.disconnect(); // completes once every worker has exited
      const auto t2 = bench::clock::now();
      online.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      exited.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    out["results"].push_back(spawn_result(n, online, exited));
  }
  bench::emit(out);
}

asio::awaitable<void> run_idle(cluster_type& cluster, int n) {
  std::vector<cluster_type::worker_type> workers;
  for (int i = 0; i < n; ++i)
    workers.push_back(cluster.fork());
  std::vector<pid_t> pids;
  for (auto& worker : workers) {
    co_await worker.online();
    pids.push_back(worker.pid());
  }
  bench::emit(ready_line(::getpid(), pids));
  asio::signal_set signals(co_await asio::this_coro::executor, SIGTERM, SIGINT);
  co_await signals.async_wait(asio::use_awaitable);
  co_await cluster.disconnect();
  bench::emit(flag_line("done"));
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
  // --ballast MiB: the primary first makes that much memory resident, to show that spawning
  // does not slow down as the primary grows (fork() copies page tables; cocluster spawns with
  // clone(CLONE_VM | CLONE_VFORK), as posix_spawn does).
  const std::vector<char> ballast(static_cast<std::size_t>(args.get_int("ballast", 0)) << 20, 1);
  if (args.mode == "spawn")
    asio::co_spawn(io,
                   run_spawn(cluster, bench::parse_list(args.get("counts", "1,2,8,32")),
                             bench::parse_list(args.get("reps", "5,5,3,1"))),
                   bench::fail_on_exception);
  else if (args.mode == "idle")
    asio::co_spawn(io, run_idle(cluster, args.get_int("workers", 8)), bench::fail_on_exception);
  else {
    std::fprintf(stderr, "usage: cocluster_spawn spawn|idle [options]\n");
    return 2;
  }
  io.run();
  return 0;
}
