// A multi-worker HTTP server under a supervisor: Node's first cluster example, in C++, run the way
// PM2, gunicorn or nginx run their workers.
//
//   http_cluster [--port N] [--workers N] [--policy rr|none|reuseport|least|iphash]
//                [--demo SECONDS] [--boot-timeout MS] [--drain-timeout MS] [--kill-timeout MS]
//                [--metrics-port N [--metrics-address A] [--health [--min-ready N]]]
//                [--socket-name NAME] [--upgrade-timeout MS]
//   http_cluster --help
//
// N workers (default: the CPUs this process may use) share the port and answer every request
// with the bytes Node's `http.createServer((req, res) => res.end('Hello World\n'))` sends,
// keep-alive included. The primary prints one line per supervisor event. Signals to the primary:
//
//   SIGHUP           rolling reload: each worker is replaced by a fresh one, the old one retired
//                    only once its replacement listens; no request is lost
//   SIGTERM, SIGINT  graceful stop: workers finish their connections (--drain-timeout), are
//                    killed after --kill-timeout; a second signal kills at once. Exit code 0
//   SIGTTIN/SIGTTOU  one worker more / one less
//   SIGUSR2          hot upgrade of the primary itself: the program is started again by the
//                    path it was started with (a new release installed there), gets the
//                    listening sockets and starts its workers; once they are ready this primary
//                    stops its own gracefully and exits 0 ("pool upgraded: new primary PID"
//                    names the successor). A new primary that fails, or is not ready within
//                    --upgrade-timeout, is killed, and this one serves on
//   (kill -9 of a worker: it is replaced, after a back-off that grows while crashes repeat)
//
// A worker whose server is closing (reload, scale-down, stop) answers what it holds and every
// next request on a kept-alive connection with `Connection: close`, then closes that connection;
// idle ones end at the 5 s keep-alive timeout or at the drain timeout. Each worker sends its
// request count to the primary whenever it has no connection left, and the primary prints the
// counts when it stops. With --demo, the primary also drives load at its own server for a few
// seconds, prints the request rate, and stops under that load. With --metrics-port, the primary
// also answers `GET /metrics` on that port (on 127.0.0.1 unless --metrics-address says otherwise:
// the metrics name pids and counts, not for every network) with the supervisor's metrics in
// Prometheus's text format: per worker its state, times, connections handed and refused, open
// connections, IPC traffic, memory and CPU; the totals; the primary's own memory and CPU (the
// README's "Metrics" section lists them). With --health as well, the metrics port answers
// Kubernetes' probes: GET /healthz is 200 whenever the primary's event loop runs (a blocked loop
// answers nothing: the probe times out), GET /readyz is 200 while at least --min-ready workers
// are ready (default 1) and 503 otherwise and from the start of a graceful stop on, with the
// counts in the body. Exit codes: 0 after a stop (also one that a second signal made a kill, and
// the old primary's after a hot upgrade), 1 for a failure (a crash loop of workers included, so
// that systemd or Kubernetes restarts the program), 2 for a bad command line. As a container's entry point (PID 1) the primary also
// reaps the orphans re-parented to it (the supervisor does it by itself: README, "Containers and
// Kubernetes"; examples/kubernetes/ has a Deployment).
//
// Under systemd (examples/systemd/: a Type=notify service and its .socket unit) the primary
// adopts the socket systemd bound for --port (or the one named --socket-name, the unit's
// FileDescriptorName=) and tells systemd when the pool is ready, reloading or stopping, and pets
// its watchdog: the supervisor does both by itself (README, "Running in production").
//
// The files: command_line.hpp (the options), hello_server.hpp (the worker), demo_load.hpp
// (--demo), metrics_port.hpp (--metrics-port and --health), and this one (the primary).
#include <cocluster.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <system_error>
#include <utility>

#include "as_tuple.hpp"
#include "command_line.hpp"
#include "demo_load.hpp"
#include "hello_server.hpp"
#include "metrics_port.hpp"

using namespace asio::experimental::awaitable_operators;

namespace http_cluster {
namespace {

// The primary's own state: the demo's, and how the supervisor's run ended.
struct primary_state {
  demo_state demo;
  std::error_code run_error;
  std::string run_failure;
};

asio::awaitable<void> print_events(cocluster::event_stream<cocluster::supervisor_event>& events,
                                   primary_state& state) {
  for (;;) {
    auto [ec, event] = co_await events.async_receive(as_tuple);
    if (ec)
      co_return; // after `stopped`
    if (event.type == cocluster::supervisor_event_type::stopping) {
      state.demo.stopping = true;
      if (state.demo.demo_end)
        state.demo.demo_end->cancel();
    }
    std::printf("supervisor: %s\n", event.to_string().c_str());
    std::fflush(stdout);
  }
}

// The pool's run; when it ends, the metrics port closes too.
template <class Supervisor>
asio::awaitable<void> run_pool(Supervisor& supervisor, primary_state& state,
                               asio::ip::tcp::acceptor& metrics) {
  try {
    co_await supervisor.async_run();
  } catch (const std::system_error& e) {
    state.run_error = e.code();
    state.run_failure = e.what();
  }
  cocluster::error_code ignored;
  metrics.close(ignored);
}

// Once the pool is ready: the line tests and bench/run wait for, then the demo if asked.
template <class Supervisor, class Listening>
asio::awaitable<void> announce_and_demo(Supervisor& supervisor, Listening listening,
                                        const command_line& options, primary_state& state) {
  auto [ready_error] = co_await supervisor.async_wait_ready(as_tuple);
  if (ready_error)
    co_return; // the run ended first (a crash loop)
  int port = options.port;
  if (auto first = listening.try_receive())
    port = first->address.port; // the bound port, also for --port 0
  std::printf("primary %d: %zu workers share port %d (policy %s)\n", ::getpid(), supervisor.size(),
              port, options.policy.c_str());
  std::fflush(stdout);
  if (options.demo_seconds == 0)
    co_return; // the signals decide from here
  std::printf("demo: 32 keep-alive clients for %d s...\n", options.demo_seconds);
  std::fflush(stdout);
  co_await (drive_load(port, state.demo) &&
            stop_after(supervisor, options.demo_seconds, state.demo));
  std::printf("demo: %llu responses in all\n",
              static_cast<unsigned long long>(state.demo.responses));
  std::fflush(stdout);
}

template <class Cluster, class Supervisor>
asio::awaitable<int> run_primary(Cluster& cluster, Supervisor& supervisor,
                                 const command_line& options, asio::ip::tcp::acceptor& metrics) {
  // Subscribed before the run starts, so that nothing is missed.
  auto reports = cluster.subscribe(cocluster::event::message);
  auto listening = cluster.subscribe(cocluster::event::listening);
  auto events = supervisor.subscribe();
  primary_state state;
  co_await (print_events(events, state) && run_pool(supervisor, state, metrics) &&
            announce_and_demo(supervisor, std::move(listening), options, state) &&
            serve_metrics(supervisor, metrics, options));

  if (state.run_error) {
    // A crash loop (errc::crash_loop) included: exit code 1, so that systemd or Kubernetes
    // restart the program with their own limits.
    std::fprintf(stderr, "http_cluster: %s\n", state.run_failure.c_str());
    co_return 1;
  }
  // The count each worker sent last (one that was killed may have served more).
  std::map<int, std::pair<pid_t, std::uint64_t>> counts;
  while (auto report = reports.try_receive())
    if (report->message.is_object() && report->message.contains("requests"))
      counts[report->worker.id()] = std::make_pair(
          report->worker.pid(), report->message["requests"].template get<std::uint64_t>());
  std::uint64_t total = 0;
  for (const auto& [id, count] : counts) {
    std::printf("worker %d (pid %d): %llu requests\n", id, count.first,
                static_cast<unsigned long long>(count.second));
    total += count.second;
  }
  std::printf("total: %llu requests\n", static_cast<unsigned long long>(total));
  std::fflush(stdout);
  co_return 0;
}

template <class Policy>
int primary_main(asio::io_context& io, const command_line& options) {
  cocluster::cluster<Policy> cluster(io);
  cocluster::supervisor_options supervision;
  supervision.workers = options.workers;
  if (options.boot_timeout)
    supervision.boot_timeout = *options.boot_timeout;
  if (options.drain_timeout)
    supervision.drain_timeout = *options.drain_timeout;
  if (options.kill_timeout)
    supervision.kill_timeout = *options.kill_timeout;
  supervision.upgrade_timeout = options.upgrade_timeout;
  cocluster::supervisor supervisor(cluster, supervision);
  supervisor.handle_signals();
  auto metrics = open_metrics_port(io, options); // (throws: exit code 1)
  int exit_code = 1;
  asio::co_spawn(io, run_primary(cluster, supervisor, options, metrics),
                 [&exit_code](std::exception_ptr e, int code) {
                   if (e)
                     std::rethrow_exception(e); // out of io.run(), to main
                   exit_code = code;
                 });
  io.run();
  return exit_code;
}

} // namespace
} // namespace http_cluster

int main(int argc, char** argv) {
  using namespace http_cluster;
  command_line options;
  if (const int code = parse(argc, argv, options); code >= 0)
    return code;
  // (read first: the cluster removes Node's variables from the environment)
  const bool worker = std::getenv("NODE_UNIQUE_ID") != nullptr;
  try {
    asio::io_context io;
    if (worker)
      return worker_main(io, options.port,
                         options.socket_name); // started by a primary (this program's, or Node's)
    if (options.policy == "none")
      return primary_main<cocluster::shared_socket>(io, options);
    if (options.policy == "reuseport")
      return primary_main<cocluster::reuse_port>(io, options);
    if (options.policy == "least")
      return primary_main<cocluster::least_connections>(io, options);
    if (options.policy == "iphash")
      return primary_main<cocluster::ip_hash>(io, options);
    return primary_main<cocluster::round_robin>(io, options);
  } catch (const std::exception& e) {
    // A cluster that could not be made (a worker started by a primary that speaks another
    // serialization, say), a failed listen in a worker, a failure in the primary.
    std::fprintf(stderr, "http_cluster%s: %s\n", worker ? " (worker)" : "", e.what());
    return 1;
  }
}
