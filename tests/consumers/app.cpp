// A user's program, built by each consumer project in tests/consumers/ with only the flags its
// package gives. Asio comes first, as in many users' code, so cocluster's headers cannot switch
// on Asio's co_await support themselves: clang builds only when the package's flags do.
// The primary forks one worker; the worker sends a message; the primary checks it, disconnects
// the worker and exits 0 only when the message was right and the worker exited cleanly.
// Standalone Asio 1.22 and later define ASIO_STANDALONE themselves, so only this check sees a
// package that forgot the flags it promises.
#if !defined(ASIO_STANDALONE) || !defined(ASIO_NO_DEPRECATED)
#error "the package's flags must define ASIO_STANDALONE and ASIO_NO_DEPRECATED"
#endif

#include <cocluster.hpp>
#include <asio.hpp>

#include <cstdio>
#include <string>

asio::awaitable<int> run_primary(cocluster::cluster<>& cluster) {
  auto worker = cluster.fork();
  auto messages = worker.subscribe(cocluster::event::message);
  co_await worker.online();
  nlohmann::json message = co_await messages.async_receive(asio::use_awaitable);
  co_await cluster.disconnect();
  cocluster::exit_status status = co_await worker.exited();
  std::printf("primary: got %s from worker %d, which exited: %s\n", message.dump().c_str(),
              worker.id(), status.to_string().c_str());
  co_return message.value("greeting", "") == "hello from worker 1" && status.success() ? 0 : 1;
}

asio::awaitable<int> run_worker(cocluster::cluster<>& cluster) {
  nlohmann::json message;
  message["greeting"] = "hello from worker " + std::to_string(cluster.worker().id());
  co_await cluster.worker().async_send(std::move(message), asio::use_awaitable);
  co_return 0; // the primary's disconnect ends this process's work
}

int main() {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  int result = 1;
  asio::co_spawn(io, cluster.is_primary() ? run_primary(cluster) : run_worker(cluster),
                 [&](std::exception_ptr error, int value) {
                   try {
                     if (error)
                       std::rethrow_exception(error);
                     result = value;
                   } catch (const std::exception& e) {
                     std::fprintf(stderr, "error: %s\n", e.what());
                   }
                 });
  io.run();
  return result;
}
