// SPDX-License-Identifier: MIT
// The compile-time baseline (bench/compile/run): hello.cpp's size and shape without cocluster, a
// coroutine TCP server on standalone Asio that answers every connection with a JSON body.
#include <asio.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

asio::awaitable<void> serve(asio::ip::tcp::socket client, int served) {
  nlohmann::json body = nlohmann::json::object();
  body["served"] = served;
  body["hello"] = "world";
  const std::string text = body.dump();
  const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(text.size()) +
                            "\r\nConnection: close\r\n\r\n" + text;
  co_await asio::async_write(client, asio::buffer(reply), asio::use_awaitable);
}

asio::awaitable<void> listen(asio::ip::tcp::acceptor acceptor) {
  for (int served = 0;; ++served) {
    asio::ip::tcp::socket client = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), serve(std::move(client), served), asio::detached);
  }
}

int main() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::tcp::v4(), 8000));
  asio::co_spawn(io, listen(std::move(acceptor)), asio::detached);
  std::puts("listening on port 8000");
  io.run();
}
