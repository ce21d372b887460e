// Restart a worker that exits unexpectedly (Node's docs: cluster.on('exit', ...) + fork()).
//
// The primary keeps three workers. Workers "crash" now and then (exit code 1); the primary
// replaces each crashed worker, but not one that left on purpose (exited_after_disconnect), and
// backs off when crashes come too fast. After a few seconds it disconnects everything.
//
//   ./restart_on_exit [seconds]
#include <cocluster.hpp>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

using namespace std::chrono_literals;

asio::awaitable<void> primary(cocluster::cluster<>& cluster, std::chrono::seconds run_for) {
  auto exits = cluster.subscribe(cocluster::event::exit);
  for (int i = 0; i < 3; ++i)
    cluster.fork();

  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer stop(executor, run_for);
  stop.async_wait([&](std::error_code) {
    std::printf("primary: time is up, disconnecting\n");
    cluster.async_disconnect(asio::detached);
  });

  auto backoff = 10ms;
  for (;;) {
    auto [ec, event] = co_await exits.async_receive(cocluster::as_tuple(asio::use_awaitable));
    if (ec)
      break;
    std::printf("primary: worker %d (pid %d) ended: %s\n", event.worker.id(), event.worker.pid(),
                event.status.to_string().c_str());
    if (event.worker.exited_after_disconnect().value_or(false)) {
      if (cluster.workers().empty())
        break; // everyone left on purpose
      continue;
    }
    // A crash: wait a little (doubling while crashes keep coming), then replace it.
    asio::steady_timer pause(executor, backoff);
    co_await pause.async_wait(asio::use_awaitable);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    auto replacement = cluster.fork();
    std::printf("primary: started worker %d to replace it\n", replacement.id());
  }
  stop.cancel();
}

asio::awaitable<void> worker(cocluster::cluster<>& cluster) {
  std::mt19937 random(static_cast<unsigned>(::getpid()));
  asio::steady_timer work(co_await asio::this_coro::executor);
  std::printf("worker %d: started\n", cluster.worker().id());
  for (;;) {
    work.expires_after(std::chrono::milliseconds(200 + random() % 800));
    auto [ec] = co_await work.async_wait(cocluster::as_tuple(asio::use_awaitable));
    if (ec || !cluster.worker().is_connected())
      co_return;
    if (random() % 4 == 0) {
      std::printf("worker %d: crashing\n", cluster.worker().id());
      std::exit(1);
    }
  }
}

int main(int argc, char** argv) {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  if (cluster.is_primary()) {
    const auto seconds = std::chrono::seconds(argc > 1 ? std::stoi(argv[1]) : 4);
    asio::co_spawn(io, primary(cluster, seconds), asio::detached);
  } else {
    asio::co_spawn(io, worker(cluster), asio::detached);
  }
  io.run();
}
