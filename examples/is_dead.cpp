// worker.is_dead() before and after the worker's exit (Node's docs for worker.isDead()).
#include <cocluster.hpp>

#include <csignal>
#include <cstdio>
#include <thread>

asio::awaitable<void> primary(cocluster::cluster<>& cluster) {
  std::vector<cocluster::cluster<>::worker_type> workers;
  for (unsigned i = 0; i < std::max(2u, std::thread::hardware_concurrency()); ++i) {
    workers.push_back(cluster.fork());
    std::printf("worker %d is dead: %s\n", workers.back().id(),
                workers.back().is_dead() ? "true" : "false");
  }
  for (auto& worker : workers) {
    co_await worker.exited();
    std::printf("worker %d is dead: %s\n", worker.id(), worker.is_dead() ? "true" : "false");
  }
}

int main() {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  if (cluster.is_primary())
    asio::co_spawn(io, primary(cluster), asio::detached);
  else
    ::kill(::getpid(), SIGTERM); // the worker ends itself, as process.kill(process.pid) does
  io.run();
}
