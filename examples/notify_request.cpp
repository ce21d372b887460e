// Count requests in the primary (Node's docs: the `notifyRequest` example).
//
// Workers serve HTTP and send `{"cmd": "notifyRequest"}` to the primary for each request; the
// primary adds them up and prints `numReqs = N` every second. To be a complete demo, the primary
// also sends a number of requests at its own port, waits until every notification has arrived,
// and shuts the cluster down.
//
//   ./notify_request [requests] [port]      (defaults: 20 requests, port 0 = any free port)
#include <cocluster.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
constexpr auto as_tuple = cocluster::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------------------------------------
// The worker: answer "hello world", then tell the primary.

asio::awaitable<void> answer(asio::ip::tcp::socket socket, cocluster::cluster<>::worker_type self) {
  std::string request;
  char buffer[4096];
  while (request.find("\r\n\r\n") == std::string::npos) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), as_tuple);
    if (ec)
      co_return;
    request.append(buffer, n);
  }
  static constexpr std::string_view response =
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 12\r\n\r\nhello world\n";
  co_await asio::async_write(socket, asio::buffer(response), as_tuple);
  nlohmann::json notification;
  notification["cmd"] = "notifyRequest";
  co_await self.async_send(std::move(notification), as_tuple);
}

asio::awaitable<void> run_worker(cocluster::cluster<>& cluster, int port) {
  auto server = co_await cluster.listen(cocluster::tcp_listen_options(port));
  for (;;) {
    auto [ec, socket] = co_await server.async_accept(as_tuple);
    if (ec)
      co_return; // the server closed: the worker is disconnecting
    asio::co_spawn(cluster.get_executor(), answer(std::move(socket), cluster.worker()),
                   asio::detached);
  }
}

// ---------------------------------------------------------------------------------------------
// The primary.

// Count one worker's notifications until its channel closes.
asio::awaitable<void> count_notifications(cocluster::cluster<>::worker_type worker,
                                          std::shared_ptr<int> count) {
  auto messages = worker.subscribe(cocluster::event::message);
  for (;;) {
    auto [ec, message] = co_await messages.async_receive(as_tuple);
    if (ec)
      co_return;
    if (message.is_object() && message.value("cmd", "") == "notifyRequest")
      ++*count;
  }
}

// One client request with `Connection: close`; true if the answer came.
asio::awaitable<bool> get(int port) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  const asio::ip::tcp::endpoint server(asio::ip::make_address("127.0.0.1"),
                                       static_cast<unsigned short>(port));
  if (auto [ec] = co_await socket.async_connect(server, as_tuple); ec)
    co_return false;
  static constexpr std::string_view request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  if (auto [ec, n] = co_await asio::async_write(socket, asio::buffer(request), as_tuple); ec)
    co_return false;
  std::string response;
  char buffer[4096];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), as_tuple);
    if (ec)
      break; // the worker closes after answering
    response.append(buffer, n);
  }
  co_return response.ends_with("hello world\n");
}

asio::awaitable<void> run_primary(cocluster::cluster<>& cluster, int requests) {
  auto executor = co_await asio::this_coro::executor;
  auto num_reqs = std::make_shared<int>(0);

  std::vector<cocluster::cluster<>::worker_type> workers;
  for (int i = 0; i < 2; ++i) {
    workers.push_back(cluster.fork());
    asio::co_spawn(executor, count_notifications(workers.back(), num_reqs), asio::detached);
  }
  cocluster::listen_address address;
  for (auto& worker : workers)
    address = co_await worker.listening();
  std::printf("primary: 2 workers listen on port %d\n", address.port);

  // Node's setInterval(() => console.log(`numReqs = ${numReqs}`), 1000).
  asio::steady_timer ticker(executor);
  asio::co_spawn(
      executor,
      [&ticker, num_reqs]() -> asio::awaitable<void> {
        for (;;) {
          ticker.expires_after(1s);
          if (auto [ec] = co_await ticker.async_wait(as_tuple); ec)
            co_return;
          std::printf("numReqs = %d\n", *num_reqs);
        }
      },
      asio::detached);

  int answered = 0;
  for (int i = 0; i < requests; ++i)
    answered += co_await get(address.port) ? 1 : 0;

  // Each notification is sent after its response: wait (briefly) for the stragglers.
  asio::steady_timer pause(executor);
  for (int waited = 0; *num_reqs < answered && waited < 200; ++waited) {
    pause.expires_after(10ms);
    co_await pause.async_wait(asio::use_awaitable);
  }
  ticker.cancel();
  std::printf("numReqs = %d (answered %d of %d)\n", *num_reqs, answered, requests);
  co_await cluster.disconnect();
  std::printf("primary: all workers have exited\n");
}

int main(int argc, char** argv) {
  const int requests = argc > 1 ? std::stoi(argv[1]) : 20;
  const int port = argc > 2 ? std::stoi(argv[2]) : 0;
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  int exit_code = 0;
  if (cluster.is_primary())
    asio::co_spawn(io, run_primary(cluster, requests), [&](std::exception_ptr e) {
      if (e) {
        exit_code = 1;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& error) {
          std::fprintf(stderr, "primary: %s\n", error.what());
        }
      }
    });
  else
    asio::co_spawn(io, run_worker(cluster, port), asio::detached);
  io.run();
  return exit_code;
}
