// Clients for the shared-port tests (one line out, one line back), and a UDP answering loop for
// workers.
#ifndef COCLUSTER_TESTS_SUPPORT_NET_HPP
#define COCLUSTER_TESTS_SUPPORT_NET_HPP

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <cocluster.hpp>

namespace test {

/// A client connection that got its answer and is still open (for tests that hold them).
struct held_connection {
  asio::ip::tcp::socket socket;
  std::string reply;
};

/// Connects to 127.0.0.1:port (or `host`), optionally from `source` address, sends `line`
/// and a newline, and returns the line received (without the newline); empty if the
/// connection ended first.
inline asio::awaitable<held_connection> ask_and_hold(int port, std::string line,
                                                     std::string host = "127.0.0.1",
                                                     std::optional<std::string> source = {}) {
  auto executor = co_await asio::this_coro::executor;
  const auto address = asio::ip::make_address(host);
  asio::ip::tcp::socket socket(executor,
                               address.is_v6() ? asio::ip::tcp::v6() : asio::ip::tcp::v4());
  if (source) {
    socket.set_option(asio::socket_base::reuse_address(true));
    socket.bind({asio::ip::make_address(*source), 0});
  }
  co_await socket.async_connect({address, static_cast<unsigned short>(port)}, asio::use_awaitable);
  line += "\n";
  co_await asio::async_write(socket, asio::buffer(line), asio::use_awaitable);
  std::string in;
  auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in), '\n',
                                                 cocluster::as_tuple(asio::use_awaitable));
  if (ec)
    co_return held_connection{std::move(socket), std::string()};
  co_return held_connection{std::move(socket), in.substr(0, n - 1)};
}

/// `ask_and_hold`, closing the connection afterwards.
inline asio::awaitable<std::string> ask(int port, std::string line, std::string host = "127.0.0.1",
                                        std::optional<std::string> source = {}) {
  auto held = co_await ask_and_hold(port, std::move(line), std::move(host), std::move(source));
  co_return std::move(held.reply);
}

/// The same over a Unix socket.
inline asio::awaitable<std::string> ask_unix(std::string path, std::string line) {
  auto executor = co_await asio::this_coro::executor;
  asio::local::stream_protocol::socket socket(executor);
  co_await socket.async_connect(asio::local::stream_protocol::endpoint(path), asio::use_awaitable);
  line += "\n";
  co_await asio::async_write(socket, asio::buffer(line), asio::use_awaitable);
  std::string in;
  auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in), '\n',
                                                 cocluster::as_tuple(asio::use_awaitable));
  co_return ec ? std::string() : in.substr(0, n - 1);
}

/// The worker id in a "<id> <line>" answer, or 0.
inline int answered_by(const std::string& reply) {
  const auto space = reply.find(' ');
  if (space == std::string::npos || space == 0)
    return 0;
  return std::stoi(reply.substr(0, space));
}

/// A port that was free a moment ago (bound to 0 and released), for tests that need an
/// explicit port number.
inline int free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
  return probe.local_endpoint().port();
}

/// True when this machine can make IPv6 sockets.
inline bool has_ipv6() {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  cocluster::error_code ec;
  s.open(asio::ip::tcp::v6(), ec);
  if (ec)
    return false;
  s.bind({asio::ip::address_v6::loopback(), 0}, ec);
  return !ec;
}

/// A worker's UDP service: answers each datagram on `socket` with `answer(datagram)` until a
/// message comes or the channel ends (`messages`: the worker's message stream; a disconnect
/// ends it).
template <class Messages, class Answer>
asio::awaitable<void> answer_datagrams(asio::ip::udp::socket& socket, Messages& messages,
                                       Answer answer) {
  using namespace asio::experimental::awaitable_operators;
  constexpr auto tuple = cocluster::as_tuple(asio::use_awaitable);
  for (;;) {
    char buffer[512];
    asio::ip::udp::endpoint from;
    auto got = co_await (socket.async_receive_from(asio::buffer(buffer), from, tuple) ||
                         messages.async_receive(tuple));
    if (got.index() == 1 || std::get<0>(std::get<0>(got)))
      co_return;
    const std::string reply = answer(std::string(buffer, std::get<1>(std::get<0>(got))));
    co_await socket.async_send_to(asio::buffer(reply), from, tuple);
  }
}

} // namespace test

#endif
