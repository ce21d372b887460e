// The README's example: four workers share port 8000; a worker that dies is replaced.
#include <cocluster.hpp>

#include <cstdio>

asio::awaitable<void> primary(cocluster::cluster<>& cluster) {
  auto exits = cluster.subscribe(cocluster::event::exit);
  for (int i = 0; i < 4; ++i)
    cluster.fork();
  for (;;) {
    auto exit = co_await exits.async_receive(asio::use_awaitable);
    std::printf("worker %d died (%s), forking another\n", exit.worker.id(),
                exit.status.to_string().c_str());
    cluster.fork();
  }
}

asio::awaitable<void> worker(cocluster::cluster<>& cluster) {
  auto server = co_await cluster.listen(cocluster::tcp_listen_options(8000));
  for (;;) {
    asio::ip::tcp::socket client = co_await server.async_accept(asio::use_awaitable);
    std::string_view reply =
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nhi\n";
    co_await asio::async_write(client, asio::buffer(reply), asio::use_awaitable);
  }
}

int main() {
  asio::io_context io;
  cocluster::cluster<> cluster(io); // cluster<round_robin, json>: Node's defaults
  asio::co_spawn(io, cluster.is_primary() ? primary(cluster) : worker(cluster), asio::detached);
  io.run();
}
