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

// The metrics port (--metrics-port): GET /metrics answers the supervisor's metrics snapshot in
// Prometheus's text format; with --health, GET /healthz and GET /readyz answer the probes
// (cocluster::health decides what); anything else is 404. One request per connection.

// The target of a GET request head ("GET /readyz HTTP/1.1" gives "/readyz"), or empty.
inline std::string_view get_target(std::string_view head) {
  if (!head.starts_with("GET "))
    return {};
  head.remove_prefix(4);
  return head.substr(0, head.find_first_of(" \r\n"));
}

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
  std::string status = "200 OK", type(cocluster::prometheus_content_type), body;
  const std::string_view target = get_target(in);
  const auto probe = options.health ? cocluster::health::probe_of(target) : std::nullopt;
  if (target == "/metrics" || target.starts_with("/metrics?")) {
    auto [ec, snapshot] = co_await supervisor.async_metrics(as_tuple);
    body = cocluster::to_prometheus_text(snapshot);
  } else if (probe) {
    // Answered from the primary's loop: while it runs, and only then, /healthz says so.
    cocluster::health::pool_state pool;
    pool.ready = supervisor.ready_count();
    pool.size = supervisor.size();
    pool.min_ready = options.min_ready.value_or(1);
    pool.stopping = supervisor.is_stopping();
    const auto answer = cocluster::health::answer_for(*probe, pool);
    status = std::to_string(answer.status) + " " + answer.reason;
    type = "text/plain";
    body = answer.body;
  } else {
    status = "404 Not Found";
    type = "text/plain";
    body = options.health ? "try GET /metrics, /healthz or /readyz\n" : "try GET /metrics\n";
  }
  std::string response = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                         "\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nConnection: close\r\n\r\n" + body;
  co_await asio::async_write(socket, asio::buffer(response), as_tuple);
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
