// Sticky sessions by cookie: the pattern handle passing exists for (what @socket.io/sticky does
// on Node). The primary accepts every connection itself, reads the first request's head, picks
// the worker by the session id in the `sid` cookie (or the X-Session-Id header), and sends the
// connection to that worker with the bytes it already read; the worker carries on the HTTP
// exchange, keep-alive included. Each session keeps its worker for as long as the pool is
// unchanged, however many connections it opens; a request without a session gets one, with a
// Set-Cookie, from whichever worker comes next. A worker that is stopped closes its idle
// kept-alive connections and answers a busy one with `Connection: close`.
//
//   sticky_sessions [--port N] [--workers N]
//
// The primary prints "listening on 127.0.0.1:PORT" (--port 0 picks a free port), serves until
// SIGTERM or SIGINT, then stops accepting and stops its workers gracefully (exit code 0). Each
// response says who served it: "worker <id> session <sid>".
//
// The bytes read ahead travel as a Buffer in `advanced` serialization (they need not be text),
// and the socket with them, as a `net.Socket` in a NODE_HANDLE message: a Node worker would
// get the same `(message, socket)` pair.
#include <cocluster.hpp>

#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace {

using cluster_type = cocluster::cluster<cocluster::round_robin, cocluster::advanced>;
constexpr auto as_tuple = cocluster::as_tuple(asio::use_awaitable);
constexpr std::size_t max_head = 16 * 1024; // a request head larger than this is refused

// The value of header `name` (case-insensitive) in a request head, if present.
std::optional<std::string_view> header(std::string_view head, std::string_view name) {
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;) {
    const std::size_t start = at + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line = head.substr(start, end - start);
    const std::size_t colon = line.find(':');
    if (colon == name.size() &&
        std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      return value;
    }
    at = end;
  }
  return std::nullopt;
}

// The session id of a request head: the `sid` cookie, else the X-Session-Id header.
std::string session_of(std::string_view head) {
  if (auto cookies = header(head, "cookie")) {
    for (std::size_t at = 0; at < cookies->size();) {
      std::size_t end = cookies->find(';', at);
      if (end == std::string_view::npos)
        end = cookies->size();
      std::string_view pair = cookies->substr(at, end - at);
      while (!pair.empty() && pair.front() == ' ')
        pair.remove_prefix(1);
      if (pair.substr(0, 4) == "sid=")
        return std::string(pair.substr(4));
      at = end + 1;
    }
  }
  if (auto id = header(head, "x-session-id"))
    return std::string(*id);
  return {};
}

// ---------------------------------------------------------------------------------------------
// The worker: serves each connection the primary hands over, from the bytes that came with it.

// A connection the worker serves; `idle` while it waits for a request's first byte.
struct connection {
  explicit connection(asio::ip::tcp::socket s) : socket(std::move(s)) {}
  asio::ip::tcp::socket socket;
  bool idle = true;
  bool closing = false; // the worker is leaving: close after the current response
};

asio::awaitable<void> serve(std::shared_ptr<connection> c, std::string buffer, int id) {
  int next_session = 0;
  while (!c->closing) {
    std::size_t end;
    c->idle = buffer.empty();
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (buffer.size() > max_head)
        co_return;
      char chunk[4096];
      auto [ec, n] = co_await c->socket.async_read_some(asio::buffer(chunk), as_tuple);
      if (ec)
        co_return; // the client went away, or the worker closed it while idle
      c->idle = false;
      buffer.append(chunk, n);
    }
    const std::string head = buffer.substr(0, end + 4);
    buffer.erase(0, end + 4); // (GET requests: no body)
    std::string session = session_of(head);
    std::string cookie;
    if (session.empty()) {
      session = std::to_string(id) + "-" + std::to_string(::getpid()) + "-" +
                std::to_string(++next_session);
      cookie = "Set-Cookie: sid=" + session + "\r\n";
    }
    const std::string body = "worker " + std::to_string(id) + " session " + session + "\n";
    const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + cookie +
                                 (c->closing ? "Connection: close\r\n" : "") +
                                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                                 body;
    auto [ec, n] = co_await asio::async_write(c->socket, asio::buffer(response), as_tuple);
    if (ec)
      co_return;
  }
}

asio::awaitable<void> worker(cluster_type& cluster) {
  auto self = cluster.worker();
  auto executor = co_await asio::this_coro::executor;
  auto connections = self.subscribe(cocluster::event::handle_message);
  std::vector<std::weak_ptr<connection>> open;
  cocluster::report_ready(cluster);
  for (;;) {
    auto [ec, received] = co_await connections.async_receive(as_tuple);
    if (ec)
      break; // the primary disconnected this worker
    const cocluster::value* head = received.message.find("head");
    if (head == nullptr || !head->is_buffer())
      continue; // not from our primary (the handle closes with `received`)
    const auto& read_ahead = head->as_typed_array().bytes;
    std::string buffer(read_ahead.begin(), read_ahead.end());
    auto c = std::make_shared<connection>(received.handle.take_tcp_socket(executor));
    std::erase_if(open, [](const auto& weak) { return weak.expired(); });
    open.push_back(c);
    asio::co_spawn(executor, serve(c, std::move(buffer), self.id()), asio::detached);
  }
  // Leaving: idle kept-alive connections are closed now, busy ones after their response.
  for (const auto& weak : open)
    if (auto c = weak.lock()) {
      c->closing = true;
      if (c->idle)
        c->socket.close();
    }
}

// ---------------------------------------------------------------------------------------------
// The primary: accepts, reads the head, hands the connection to the session's worker.

// The worker for a session: a hash of the id over the workers in pool order; none without one
// (the next worker in turn).
template <class Supervisor>
std::optional<cluster_type::worker_type> pick(Supervisor& supervisor, const std::string& session,
                                              std::size_t& turn) {
  std::vector<cluster_type::worker_type> ready;
  for (const auto& w : supervisor.workers())
    if (w.is_connected())
      ready.push_back(w);
  if (ready.empty())
    return std::nullopt;
  const std::size_t index = session.empty() ? turn++ % ready.size()
                                            : std::hash<std::string>{}(session) % ready.size();
  return ready[index];
}

template <class Supervisor>
asio::awaitable<void> hand_over(asio::ip::tcp::socket socket, Supervisor& supervisor,
                                std::size_t& turn) {
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (head.size() > max_head)
      co_return; // not HTTP, or a head too large: the connection is closed
    char chunk[4096];
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), as_tuple);
    if (ec)
      co_return;
    head.append(chunk, n);
  }
  auto target = pick(supervisor, session_of(head), turn);
  if (!target)
    co_return; // no worker (stopping): the connection is closed
  auto message = cocluster::value::object();
  message["head"] = cocluster::value::buffer(std::string_view(head));
  try {
    target->send(message, cocluster::handle(std::move(socket)));
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "primary: could not hand a connection over: %s\n", e.what());
  }
}

template <class Supervisor>
asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, Supervisor& supervisor) {
  auto executor = co_await asio::this_coro::executor;
  co_await supervisor.async_wait_ready();
  std::size_t turn = 0;
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(as_tuple);
    if (ec == asio::error::operation_aborted)
      co_return; // closed: stopping
    if (ec)
      continue;
    asio::co_spawn(executor, hand_over(std::move(socket), supervisor, turn), asio::detached);
  }
}

std::optional<long long> integer(const char* text, long long low, long long high) {
  long long value = 0;
  const std::string_view s(text);
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (error != std::errc() || end != s.data() + s.size() || value < low || value > high)
    return std::nullopt;
  return value;
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  asio::io_context io;
  cluster_type cluster(io);
  if (cluster.is_worker()) {
    asio::co_spawn(io, worker(cluster), asio::detached);
    io.run();
    return 0;
  }

  unsigned short port = 8000;
  std::size_t workers = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    const auto value = i + 1 < argc ? integer(argv[i + 1], flag == "--port" ? 0 : 1,
                                              flag == "--port" ? 65535 : 256)
                                    : std::nullopt;
    if ((flag != "--port" && flag != "--workers") || !value) {
      std::fprintf(stderr, "usage: sticky_sessions [--port N] [--workers N]\n");
      return 2;
    }
    if (flag == "--port")
      port = static_cast<unsigned short>(*value);
    else
      workers = static_cast<std::size_t>(*value);
    ++i;
  }

  asio::ip::tcp::acceptor acceptor(io);
  try {
    acceptor = asio::ip::tcp::acceptor(io, {asio::ip::make_address("127.0.0.1"), port});
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "sticky_sessions: listen on port %u: %s\n", port, e.what());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", acceptor.local_endpoint().port());

  cocluster::supervisor_options options;
  options.workers = workers;
  options.readiness = cocluster::readiness::ready_message;
  cocluster::supervisor supervisor(cluster, options);

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](std::error_code ec, int) {
    if (ec)
      return;
    std::error_code ignored;
    acceptor.close(ignored); // no new connections; handed-over ones finish in their workers
    supervisor.async_stop(asio::detached);
  });

  int exit_code = 0;
  asio::co_spawn(io, supervisor.async_run(), [&](std::exception_ptr e) {
    signals.cancel();
    std::error_code ignored;
    acceptor.close(ignored);
    if (!e)
      return;
    exit_code = 1;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "primary: %s\n", error.what());
    }
  });
  asio::co_spawn(io, accept_loop(acceptor, supervisor), asio::detached);
  io.run();
  return exit_code;
}
