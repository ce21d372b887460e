// A small HTTP/1.1 server for supervised workers, and the load generator the supervisor tests
// drive it with. The server drains as a production one must: once its server is closed (the
// supervisor disconnects the worker for a reload, a scale-down or a stop) it answers every
// request it holds, and the next one on each kept-alive connection, with `Connection: close`,
// and closes after that response; it never closes an idle kept-alive connection early, which
// would race a client's next request.
#ifndef COCLUSTER_TESTS_SUPPORT_HTTP_HPP
#define COCLUSTER_TESTS_SUPPORT_HTTP_HPP

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include <cocluster.hpp>

#include "support/scenario.hpp"

namespace test::http {

inline constexpr auto tuple = cocluster::as_tuple(asio::use_awaitable);

/// Serves one connection: "GET /" answers this process's pid; "GET /slow/N" answers it after N
/// milliseconds.
inline asio::awaitable<void> serve_connection(asio::ip::tcp::socket socket,
                                              cocluster::tcp_server server) {
  std::string in;
  char buffer[4096];
  const std::string pid = std::to_string(::getpid()) + "\n";
  for (;;) {
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), tuple);
      if (ec)
        co_return; // the client closed (or the drain's deadline shut the connection down)
      in.append(buffer, n);
    }
    const std::string head = in.substr(0, end);
    in.erase(0, end + 4);
    if (head.rfind("GET /slow/", 0) == 0) {
      asio::steady_timer wait(socket.get_executor(),
                              std::chrono::milliseconds(std::stoi(head.substr(10))));
      co_await wait.async_wait(tuple);
    }
    // Keep-alive unless the client asked to close or this worker is draining.
    const bool keep = server.is_open() && head.find("Connection: close") == std::string::npos;
    std::string out = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(pid.size()) +
                      (keep ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n") + pid;
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(out), tuple);
    if (ec || !keep)
      co_return;
  }
}

/// Listens on `port` through the cluster and serves until the server closes.
template <class Cluster>
asio::awaitable<void> serve(Cluster& cluster, int port) {
  auto server = co_await cluster.listen(cocluster::tcp_listen_options(port, "127.0.0.1"));
  for (;;) {
    auto [ec, socket] = co_await server.async_accept(tuple);
    if (ec)
      co_return;
    asio::co_spawn(cluster.get_executor(), serve_connection(std::move(socket), server),
                   exit_on_failure("http: a connection"));
  }
}

/// Connects to 127.0.0.1:port and sends `request`; the connection stays open for the answer.
inline asio::awaitable<asio::ip::tcp::socket> send_request(int port, std::string request) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(port)},
                                asio::use_awaitable);
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  co_return socket;
}

/// Everything the peer sends until it closes (or resets) the connection.
inline asio::awaitable<std::string> read_to_end(asio::ip::tcp::socket& socket) {
  std::string answer;
  char buffer[1024];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), tuple);
    if (ec)
      co_return answer;
    answer.append(buffer, n);
  }
}

/// What a load run saw.
struct load_report {
  std::uint64_t answered = 0;
  std::uint64_t failed = 0;     // connect refused or reset, write failed
  std::uint64_t unanswered = 0; // the connection ended after a request was sent, before its answer
  std::set<std::string> pids;   // who answered
  std::string first_error;
};

/// Clients that send requests to 127.0.0.1:port until `*stop` or `max_requests` in all:
/// `keep_alive` of them on kept-alive connections (a new one after a `Connection: close`
/// answer), `closing` of them one request per connection.
class load {
public:
  load(asio::any_io_executor executor, int port, int keep_alive, int closing,
       std::uint64_t max_requests = 400'000)
      : executor_(executor), port_(port), max_(max_requests), done_(executor) {
    remaining_ = keep_alive + closing;
    for (int i = 0; i < keep_alive; ++i)
      asio::co_spawn(executor_, client(true), exit_on_failure("load: a client"));
    for (int i = 0; i < closing; ++i)
      asio::co_spawn(executor_, client(false), exit_on_failure("load: a client"));
  }

  /// Stops the clients after their request in flight; waits for them; returns the report.
  asio::awaitable<load_report> finish() {
    stop_ = true;
    if (remaining_ > 0)
      co_await done_.async_wait(asio::use_awaitable);
    co_return report_;
  }

  const load_report& report() const { return report_; }

private:
  asio::awaitable<void> client(bool keep_alive) {
    const std::string request = keep_alive
                                    ? "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                                    : "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    const asio::ip::tcp::endpoint to(asio::ip::make_address("127.0.0.1"),
                                     static_cast<unsigned short>(port_));
    while (!stop_ && report_.answered + report_.failed + report_.unanswered < max_) {
      asio::ip::tcp::socket socket(executor_);
      auto [connect_error] = co_await socket.async_connect(to, tuple);
      if (connect_error) {
        fail(report_.failed, "connect: " + connect_error.message());
        continue;
      }
      std::string in;
      bool open = true;
      while (open && !stop_) {
        auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(request),
                                                                 tuple);
        if (write_error) {
          fail(report_.failed, "write: " + write_error.message());
          break;
        }
        // Headers, then Content-Length bytes of body.
        std::size_t end;
        bool broken = false;
        char buffer[2048];
        while ((end = in.find("\r\n\r\n")) == std::string::npos ||
               in.size() < end + 4 + body_length(in, end)) {
          auto [read_error, n] = co_await socket.async_read_some(asio::buffer(buffer), tuple);
          if (read_error) {
            broken = true;
            fail(read_error == asio::error::eof ? report_.unanswered : report_.failed,
                 "read: " + read_error.message());
            break;
          }
          in.append(buffer, n);
        }
        if (broken)
          break;
        const std::size_t length = body_length(in, end);
        report_.pids.insert(in.substr(end + 4, length > 0 ? length - 1 : 0));
        ++report_.answered;
        open = keep_alive && in.substr(0, end).find("Connection: close") == std::string::npos;
        in.erase(0, end + 4 + length);
      }
    }
    if (--remaining_ == 0)
      done_.set({});
  }

  static std::size_t body_length(const std::string& in, std::size_t head_end) {
    const auto at = in.find("Content-Length: ");
    if (at == std::string::npos || at > head_end)
      return 0;
    return std::stoul(in.substr(at + 16, head_end - at - 16));
  }

  void fail(std::uint64_t& counter, const std::string& what) {
    ++counter;
    if (report_.first_error.empty())
      report_.first_error = what;
  }

  asio::any_io_executor executor_;
  int port_;
  std::uint64_t max_;
  bool stop_ = false;
  int remaining_ = 0;
  load_report report_;
  cocluster::detail::oneshot_event<> done_;
};

} // namespace test::http

#endif
