// The primary's metrics port (--metrics-port, --health): GET /metrics, /healthz, /readyz.
#ifndef HTTP_CLUSTER_METRICS_PORT_HPP
#define HTTP_CLUSTER_METRICS_PORT_HPP

#include <cocluster.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "as_tuple.hpp"
#include "command_line.hpp"

namespace http_cluster {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

// The metrics port (--metrics-port): one request per connection, answered by the library
// (cocluster::async_admin_answer): GET /metrics, and with --health GET /healthz and /readyz;
// 404 for other paths, 405 for other methods.
template <class Supervisor>
asio::awaitable<void> answer_metrics(Supervisor& supervisor, asio::ip::tcp::socket socket,
                                     const command_line& options) {
  // The request head: 8 KiB and 5 s at most.
  std::string in;
  char buffer[1024];
  asio::steady_timer timer(socket.get_executor(), 5s);
  while (in.find("\r\n\r\n") == std::string::npos) {
    auto result = co_await (socket.async_read_some(asio::buffer(buffer), as_tuple) ||
                            timer.async_wait(as_tuple));
    if (result.index() == 1 || std::get<0>(std::get<0>(result)) || in.size() > 8192)
      co_return;
    in.append(buffer, std::get<1>(std::get<0>(result)));
  }
  const auto request = cocluster::admin::request_line_of(in);
  if (!request)
    co_return; // (not HTTP)
  cocluster::admin::paths which;
  which.health = options.health;
  which.min_ready = options.min_ready.value_or(1);
  auto [ec, answer] = co_await cocluster::async_admin_answer(supervisor, request->first,
                                                             request->second, which, as_tuple);
  co_await asio::async_write(socket, asio::buffer(cocluster::admin::to_http(answer)), as_tuple);
  cocluster::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

// Accepts until the acceptor closes (the pool's run ended); nothing when it was not opened.
template <class Supervisor>
asio::awaitable<void> serve_metrics(Supervisor& supervisor, asio::ip::tcp::acceptor& acceptor,
                                    const command_line& options) {
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(as_tuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open())
      co_return;
    if (!ec)
      asio::co_spawn(acceptor.get_executor(),
                     answer_metrics(supervisor, std::move(socket), options), asio::detached);
  }
}

// Opens the metrics port (--metrics-port; not opened without it) and prints its URL. Throws a
// std::system_error when the bind fails. SO_REUSEPORT: a new primary started by SIGUSR2 binds
// the port while this one still holds it; both answer until this one exits.
inline asio::ip::tcp::acceptor open_metrics_port(asio::io_context& io,
                                                 const command_line& options) {
  asio::ip::tcp::acceptor metrics(io);
  if (!options.metrics_port)
    return metrics;
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(options.metrics_address),
                                         static_cast<unsigned short>(*options.metrics_port));
  metrics = asio::ip::tcp::acceptor(io, endpoint.protocol());
  metrics.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  metrics.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
  metrics.bind(endpoint);
  metrics.listen();
  const bool v6 = endpoint.address().is_v6();
  std::printf("metrics: http://%s%s%s:%d/metrics\n", v6 ? "[" : "", options.metrics_address.c_str(),
              v6 ? "]" : "", metrics.local_endpoint().port());
  std::fflush(stdout);
  return metrics;
}

} // namespace http_cluster

#endif // HTTP_CLUSTER_METRICS_PORT_HPP
