// The supervisor with an explicit readiness call (PM2's `wait_ready`): a worker counts as ready
// when it says so, not as soon as it listens.
//
// The primary supervises two workers. Each one loads its "cache" (a timer stands for the real
// start-up work), listens, and only then calls `cocluster::report_ready`. The primary prints the
// supervisor's events, waits until the pool is ready, reloads it once (each worker replaced by a
// fresh one, the old one retired only after its replacement reported ready), then stops.
//
//   ./supervised_ready
#include <cocluster.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

constexpr auto as_tuple = cocluster::as_tuple(asio::use_awaitable);

asio::awaitable<void> worker(cocluster::cluster<>& cluster) {
  const int id = cluster.worker().id();
  std::printf("worker %d: loading the cache...\n", id);
  asio::steady_timer loading(co_await asio::this_coro::executor, 300ms);
  co_await loading.async_wait(asio::use_awaitable);
  auto server = co_await cluster.listen(cocluster::tcp_listen_options(0));
  cocluster::report_ready(cluster); // only now does the supervisor count this worker
  std::printf("worker %d: ready on port %d\n", id, server.port());
  for (;;) {
    auto [ec, socket] = co_await server.async_accept(as_tuple);
    if (ec)
      co_return; // the server closed: the supervisor retires this worker
    const std::string hello = "hello from worker " + std::to_string(id) + "\n";
    co_await asio::async_write(socket, asio::buffer(hello), as_tuple);
  }
}

template <class Supervisor>
asio::awaitable<void> print_events(Supervisor& supervisor) {
  auto events = supervisor.subscribe();
  for (;;) {
    auto [ec, event] = co_await events.async_receive(as_tuple);
    if (ec)
      co_return; // after `stopped`
    std::printf("supervisor: %s\n", event.to_string().c_str());
  }
}

template <class Supervisor>
asio::awaitable<void> primary(Supervisor& supervisor) {
  co_await supervisor.async_wait_ready();
  std::printf("primary: %zu workers ready; reloading\n", supervisor.size());
  co_await supervisor.async_reload(); // the same program started afresh
  std::printf("primary: reloaded; stopping\n");
  co_await supervisor.async_stop();
}

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  if (cluster.is_worker()) {
    asio::co_spawn(io, worker(cluster), [](std::exception_ptr e) {
      if (e)
        std::rethrow_exception(e); // a failed listen: the worker ends with it (a boot failure)
    });
    io.run();
    return 0;
  }

  cocluster::supervisor_options options;
  options.workers = 2;
  options.readiness = cocluster::readiness::ready_message;
  options.boot_timeout = 10s; // a worker that never reports ready is killed and replaced
  cocluster::supervisor supervisor(cluster, options);

  int exit_code = 0;
  auto report = [&](std::exception_ptr e) {
    if (!e)
      return;
    exit_code = 1;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "primary: %s\n", error.what());
    }
    supervisor.async_stop(asio::detached); // (does nothing once stopped)
  };
  asio::co_spawn(io, print_events(supervisor), asio::detached);
  asio::co_spawn(io, supervisor.async_run(), report); // ends after the stop
  asio::co_spawn(io, primary(supervisor), report);
  io.run();
  return exit_code;
}
