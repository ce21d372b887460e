// The worker: a small HTTP/1.1 server that answers like Node's hello world, keep-alive included,
// and retires its connections gracefully when its server closes.
#ifndef HTTP_CLUSTER_HELLO_SERVER_HPP
#define HTTP_CLUSTER_HELLO_SERVER_HPP

#include <cocluster.hpp>

#include <cctype>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "as_tuple.hpp"

namespace http_cluster {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

// Node's Date header, rebuilt once a second.
inline std::string_view http_date() {
  static std::string text;
  static std::time_t last = 0;
  const std::time_t now = std::time(nullptr);
  if (now != last) {
    char buffer[64];
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    text = buffer;
    last = now;
  }
  return text;
}

// What Node sends: keep-alive for HTTP/1.1, `Connection: close` (and no length) for HTTP/1.0.
inline void append_response(std::string& out, bool keep_alive, bool http10) {
  out += "HTTP/1.1 200 OK\r\nDate: ";
  out += http_date();
  if (keep_alive)
    out += "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 12\r\n\r\n";
  else if (http10)
    out += "\r\nConnection: close\r\n\r\n";
  else
    out += "\r\nConnection: close\r\nContent-Length: 12\r\n\r\n";
  out += "Hello World\n";
}

// The value of header `name` (lower case) in a lower-cased request head, or empty.
inline std::string_view header_value(std::string_view head, std::string_view name) {
  std::string key = "\r\n";
  key += name;
  key += ':';
  const auto at = head.find(key);
  if (at == std::string_view::npos)
    return {};
  const auto start = at + key.size();
  const auto end = head.find("\r\n", start);
  return head.substr(start, end - start);
}

// The first request buffered in `in`, if it is complete.
struct request {
  std::size_t size = 0; // head and body
  bool http10 = false;
  bool wants_close = false;
  bool bad = false; // unparsable: the connection is closed without an answer
};

inline std::optional<request> next_request(std::string_view in) {
  const auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string_view::npos)
    return std::nullopt;
  std::string head(in.substr(0, head_end + 2));
  for (auto& c : head)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  request r;
  r.http10 = head.find(" http/1.0\r\n") != std::string::npos;
  r.wants_close = r.http10 || header_value(head, "connection").find("close") != std::string::npos;
  std::size_t body = 0;
  if (auto length = header_value(head, "content-length"); !length.empty()) {
    while (!length.empty() && length.front() == ' ')
      length.remove_prefix(1);
    while (!length.empty() && length.back() == ' ')
      length.remove_suffix(1);
    const auto [end, error] = std::from_chars(length.data(), length.data() + length.size(), body);
    if (error != std::errc() || end != length.data() + length.size()) {
      r.bad = true;
      return r;
    }
  }
  if (in.size() - head_end - 4 < body)
    return std::nullopt; // the body is still coming
  r.size = head_end + 4 + body;
  return r;
}

using worker_handle = cocluster::cluster<>::worker_type;

struct worker_state {
  worker_handle self;
  cocluster::tcp_server server;
  std::uint64_t requests = 0;
  std::optional<std::uint64_t> reported; // the count last sent to the primary
  std::size_t connections = 0;

  // The supervisor disconnects a worker it retires (reload, scale-down, stop): the cluster
  // closes the worker's servers, then waits for its connections (up to the drain timeout).
  bool draining() const { return !server || !server.is_open(); }

  // Sends the count to the primary if it changed: at the start, and each time the worker has no
  // connection left. That makes the last count exact without a message per request: the
  // worker cannot tell the moment its disconnect begins (its server just reads closed, and
  // with no connection open the channel closes at once), but a connection that ends before
  // that has been counted, and one still open then makes the cluster wait for it to end.
  void report() {
    if (reported == requests)
      return;
    reported = requests;
    nlohmann::json message;
    message["requests"] = requests;
    try {
      self.send(message);
    } catch (const std::system_error&) {
      // The channel has closed already: nothing to tell anyone.
    }
  }
};

// Counts a connection for as long as its coroutine runs.
struct connection_count {
  std::shared_ptr<worker_state> state;
  explicit connection_count(std::shared_ptr<worker_state> s) : state(std::move(s)) {
    ++state->connections;
  }
  connection_count(const connection_count&) = delete;
  connection_count& operator=(const connection_count&) = delete;
  ~connection_count() {
    if (--state->connections == 0)
      state->report();
  }
};

inline asio::awaitable<void> serve_connection(std::shared_ptr<asio::ip::tcp::socket> socket,
                                              std::shared_ptr<worker_state> state) {
  connection_count counted(state);
  std::string in, out;
  char buffer[16 * 1024];
  asio::steady_timer idle_timer(socket->get_executor());
  for (;;) {
    // Answer every complete request already buffered (pipelining), then write once. A draining
    // worker answers them all and marks the last `Connection: close`.
    bool close_after = false;
    while (auto r = next_request(in)) {
      if (r->bad) {
        close_after = true; // (the requests before it are answered)
        break;
      }
      in.erase(0, r->size);
      const bool more = state->draining() && next_request(in).has_value();
      const bool keep_alive = !r->wants_close && (!state->draining() || more);
      append_response(out, keep_alive, r->http10);
      ++state->requests;
      if (!keep_alive) {
        close_after = true;
        break;
      }
    }
    if (!out.empty()) {
      auto [ec, n] = co_await asio::async_write(*socket, asio::buffer(out), as_tuple);
      if (ec)
        co_return;
      out.clear();
    }
    if (close_after) {
      // Close gently, as Node does: send FIN, and read until the client closes too (1 s at
      // most), so that a request it had already sent cannot make our close a reset that
      // destroys the response it has not read yet.
      cocluster::error_code ignored;
      socket->shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      idle_timer.expires_after(1s);
      for (;;) {
        auto result = co_await (socket->async_read_some(asio::buffer(buffer), as_tuple) ||
                                idle_timer.async_wait(as_tuple));
        if (result.index() == 1 || std::get<0>(std::get<0>(result)))
          co_return;
      }
    }
    // Wait for more, at most 5 s (Node's keep-alive timeout). Idle connections are not closed
    // when the worker starts draining: that would race with a request the client is sending.
    // The next request is answered with `Connection: close`; a connection that stays idle ends
    // here, or at the drain timeout.
    idle_timer.expires_after(5s);
    // Errors as values on both sides: `||` waits for the first operation to *succeed*, so a
    // read that fails (end of file, or closed by a shutdown) must count as finishing.
    auto result = co_await (socket->async_read_some(asio::buffer(buffer), as_tuple) ||
                            idle_timer.async_wait(as_tuple));
    if (result.index() == 1)
      co_return; // idle too long
    auto [read_error, n] = std::get<0>(result);
    if (read_error)
      co_return;
    in.append(buffer, n);
  }
}

inline asio::awaitable<void> run_worker(cocluster::cluster<>& cluster, int port,
                                        std::optional<std::string> socket_name) {
  auto state = std::make_shared<worker_state>();
  state->self = cluster.worker();
  // Under systemd socket activation this takes the socket systemd bound for the port (or the
  // one of that name); otherwise the primary binds the port.
  cocluster::tcp_listen_options listen(port);
  if (socket_name)
    listen.with_systemd_name(*socket_name);
  state->server = co_await cluster.listen(listen);
  state->report(); // 0: every worker shows in the primary's summary
  for (;;) {
    auto [ec, socket] = co_await state->server.async_accept(as_tuple);
    if (ec)
      break;                       // the server closed: the worker is disconnecting
    cocluster::error_code ignored; // (a client that reset at once: its reads will fail)
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    asio::co_spawn(cluster.get_executor(),
                   serve_connection(std::make_shared<asio::ip::tcp::socket>(std::move(socket)),
                                    state),
                   asio::detached);
  }
  state->server.close(); // (closed already, unless accepting failed)
}

// A worker process's whole life: its servers on `port` (or systemd's socket `socket_name`),
// until the primary retires it. Returns the exit code.
inline int worker_main(asio::io_context& io, int port,
                       const std::optional<std::string>& socket_name) {
  // The supervisor's signals are for the primary. One sent to the whole process group (Ctrl-C,
  // systemd's SIGTERM to every process of the service) must not end a worker before the
  // supervisor drains it; the supervisor itself kills with SIGKILL.
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGTTIN, SIGTTOU})
    std::signal(sig, SIG_IGN);
  cocluster::cluster<> cluster(io);
  asio::co_spawn(io, run_worker(cluster, port, socket_name), [](std::exception_ptr e) {
    if (e)
      std::rethrow_exception(e); // a failed listen: out of io.run(), to main (exit code 1)
  });
  io.run();
  return 0;
}

} // namespace http_cluster

#endif // HTTP_CLUSTER_HELLO_SERVER_HPP
