// Disconnect a worker gracefully, and kill it if it has not left after a timeout (Node's docs:
// worker.disconnect() with a setTimeout(() => worker.kill(), 2000)).
//
// The worker has a long job to finish when asked to shut down; the primary gives it two
// seconds to exit. (Node's example races the 'disconnect' event because its worker's server
// holds connections open; this worker has no server, so its channel closes at once and the exit
// is what takes time.) Run with a job shorter than the timeout to see the graceful path:
//
//   ./disconnect_timeout [job-milliseconds]     (default 5000: the worker gets killed)
#include <cocluster.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

asio::awaitable<void> primary(cocluster::cluster<>& cluster) {
  auto worker = cluster.fork();
  co_await worker.online();
  worker.send("shutdown"); // let the application wind down its work
  worker.disconnect();

  asio::steady_timer timeout(co_await asio::this_coro::executor, 2s);
  auto first = co_await (worker.exited() || timeout.async_wait(asio::use_awaitable));
  if (first.index() == 1) {
    std::printf("primary: worker %d did not exit within 2 s: killing it\n", worker.id());
    worker.kill();
  }
  auto status = co_await worker.exited();
  std::printf("primary: worker %d ended: %s, exited_after_disconnect=%s\n", worker.id(),
              status.to_string().c_str(),
              worker.exited_after_disconnect().value_or(false) ? "true" : "false");
}

asio::awaitable<void> worker(cocluster::cluster<>& cluster, std::chrono::milliseconds job) {
  auto messages = cluster.worker().subscribe(cocluster::event::message);
  auto order = co_await messages.async_receive();
  if (order == "shutdown") {
    std::printf("worker: finishing a job of %lld ms before leaving\n",
                static_cast<long long>(job.count()));
    asio::steady_timer finishing(co_await asio::this_coro::executor, job);
    co_await finishing.async_wait(asio::use_awaitable);
    std::printf("worker: done\n");
  }
}

int main(int argc, char** argv) {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  if (cluster.is_primary()) {
    asio::co_spawn(io, primary(cluster), asio::detached);
  } else {
    const auto job = std::chrono::milliseconds(argc > 1 ? std::stoi(argv[1]) : 5000);
    asio::co_spawn(io, worker(cluster, job), asio::detached);
  }
  io.run();
}
