// A multi-worker HTTP server under a supervisor: Node's first cluster example, in C++, run the way
// PM2, gunicorn or nginx run their workers.
//
//   http_cluster [--port N] [--workers N] [--policy rr|none|reuseport|least|iphash]
//                [--demo SECONDS] [--boot-timeout MS] [--drain-timeout MS] [--kill-timeout MS]
//                [--metrics-port N [--metrics-address A] [--health [--min-ready N]]]
//                [--socket-name NAME] [--upgrade-timeout MS]
//   http_cluster --help
//
// N workers (default: the CPUs this process may use) share the port and answer every request
// with the bytes Node's `http.createServer((req, res) => res.end('Hello World\n'))` sends,
// keep-alive included. The primary prints one line per supervisor event. Signals to the primary:
//
//   SIGHUP           rolling reload: each worker is replaced by a fresh one, the old one retired
//                    only once its replacement listens; no request is lost
//   SIGTERM, SIGINT  graceful stop: workers finish their connections (--drain-timeout), are
//                    killed after --kill-timeout; a second signal kills at once. Exit code 0
//   SIGTTIN/SIGTTOU  one worker more / one less
//   SIGUSR2          hot upgrade of the primary itself: the program is started again by the
//                    path it was started with (a new release installed there), gets the
//                    listening sockets and starts its workers; once they are ready this primary
//                    stops its own gracefully and exits 0 ("pool upgraded: new primary PID"
//                    names the successor). A new primary that fails, or is not ready within
//                    --upgrade-timeout, is killed, and this one serves on
//   (kill -9 of a worker: it is replaced, after a back-off that grows while crashes repeat)
//
// A worker whose server is closing (reload, scale-down, stop) answers what it holds and every
// next request on a kept-alive connection with `Connection: close`, then closes that connection;
// idle ones end at the 5 s keep-alive timeout or at the drain timeout. Each worker sends its
// request count to the primary whenever it has no connection left, and the primary prints the
// counts when it stops. With --demo, the primary also drives load at its own server for a few
// seconds, prints the request rate, and stops under that load. With --metrics-port, the primary
// also answers `GET /metrics` on that port (on 127.0.0.1 unless --metrics-address says otherwise:
// the metrics name pids and counts, not for every network) with the supervisor's metrics in
// Prometheus's text format: per worker its state, times, connections handed and refused, open
// connections, IPC traffic, memory and CPU; the totals; the primary's own memory and CPU (the
// README's "Metrics" section lists them). With --health as well, the metrics port answers
// Kubernetes' probes: GET /healthz is 200 whenever the primary's event loop runs (a blocked loop
// answers nothing: the probe times out), GET /readyz is 200 while at least --min-ready workers
// are ready (default 1) and 503 otherwise and from the start of a graceful stop on, with the
// counts in the body. Exit codes: 0 after a stop (also one that a second signal made a kill, and
// the old primary's after a hot upgrade), 1 for a failure (a crash loop of workers included, so
// that systemd or Kubernetes restarts the program), 2 for a bad command line. As a container's entry point (PID 1) the primary also
// reaps the orphans re-parented to it (the supervisor does it by itself: README, "Containers and
// Kubernetes"; examples/kubernetes/ has a Deployment).
//
// Under systemd (examples/systemd/: a Type=notify service and its .socket unit) the primary
// adopts the socket systemd bound for --port (or the one named --socket-name, the unit's
// FileDescriptorName=) and tells systemd when the pool is ready, reloading or stopping, and pets
// its watchdog: the supervisor does both by itself (README, "Running in production").
#include <cocluster.hpp>

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto as_tuple = cocluster::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------------------------------------
// The command line.

struct command_line {
  int port = 8000;
  std::optional<std::size_t> workers;
  std::string policy = "rr";
  int demo_seconds = 0;
  std::optional<std::chrono::milliseconds> boot_timeout, drain_timeout, kill_timeout;
  std::optional<int> metrics_port;           // serve GET /metrics there (0: any free port)
  std::string metrics_address = "127.0.0.1"; // ... on this address
  std::optional<std::string> socket_name;    // systemd's FileDescriptorName= to serve
  bool health = false;                       // /healthz and /readyz on the metrics port
  std::optional<std::size_t> min_ready;      // ready workers that make /readyz 200 (default 1)
  std::optional<std::chrono::milliseconds> upgrade_timeout; // SIGUSR2's new primary, to be ready
};

void print_usage(std::FILE* to) {
  std::fprintf(
      to,
      "usage: http_cluster [options]\n"
      "  --port N            the port to serve (0: any free port; default 8000)\n"
      "  --workers N         the pool size (default: the CPUs this process may use, %zu)\n"
      "  --policy P          how connections are spread: rr (default), none, reuseport,\n"
      "                      least, iphash\n"
      "  --demo SECONDS      drive keep-alive load for SECONDS, print the rate, stop\n"
      "  --boot-timeout MS   a worker not listening within MS is killed (default 30000)\n"
      "  --drain-timeout MS  how long a retiring worker may finish its connections\n"
      "                      (default 20000)\n"
      "  --kill-timeout MS   a retiring worker still alive after MS is killed (default 25000)\n"
      "  --metrics-port N    the primary answers GET /metrics on port N (0: any free port)\n"
      "                      with Prometheus's text format\n"
      "  --metrics-address A the address of the metrics port (default 127.0.0.1; 0.0.0.0:\n"
      "                      every IPv4 address)\n"
      "  --health            the metrics port also answers GET /healthz (200 while the\n"
      "                      primary's loop runs) and GET /readyz (200 with at least\n"
      "                      --min-ready ready workers, 503 below and once stopping)\n"
      "  --min-ready N       with --health: the ready workers /readyz needs (default 1)\n"
      "  --socket-name NAME  under systemd socket activation: serve the socket named NAME\n"
      "                      (FileDescriptorName=) whatever its port\n"
      "  --upgrade-timeout MS a new primary (SIGUSR2) not ready within MS is killed\n"
      "                      (default: the boot timeout + 30000)\n"
      "  -h, --help          print this text\n"
      "signals to the primary: SIGHUP rolling reload; SIGTERM/SIGINT graceful stop (a second\n"
      "one kills); SIGTTIN/SIGTTOU one worker more/less; SIGUSR2 hot upgrade of the primary\n"
      "(this program started again by its path, with the listening sockets; this primary exits\n"
      "once the new one is ready); a worker killed is replaced\n"
      "exit codes: 0 after a stop, 1 for a failure (a crash loop), 2 for a bad command line\n",
      static_cast<std::size_t>(cocluster::available_cpus()));
}

// An integer in [low, high], the whole text.
std::optional<long long> parse_integer(std::string_view text, long long low, long long high) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < low || value > high)
    return std::nullopt;
  return value;
}

// Fills `c`; returns -1 to go on, or the exit code (0 after --help, 2 for a bad command line).
int parse(int argc, char** argv, command_line& c) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "http_cluster: %s (try --help)\n", message.c_str());
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      print_usage(stdout);
      return 0;
    }
    if (flag == "--health") {
      c.health = true;
      continue;
    }
    const bool known = flag == "--port" || flag == "--workers" || flag == "--policy" ||
                       flag == "--demo" || flag == "--boot-timeout" || flag == "--drain-timeout" ||
                       flag == "--kill-timeout" || flag == "--metrics-port" ||
                       flag == "--metrics-address" || flag == "--socket-name" ||
                       flag == "--min-ready" || flag == "--upgrade-timeout";
    if (!known)
      return fail("unknown option '" + flag + "'");
    if (i + 1 >= argc)
      return fail(flag + " needs a value");
    const std::string value = argv[++i];
    auto number = [&](long long low, long long high) { return parse_integer(value, low, high); };
    auto bad = [&](const std::string& expected) {
      return fail("bad value '" + value + "' for " + flag + ": expected " + expected);
    };
    if (flag == "--socket-name") {
      if (value.empty() || value.find(':') != std::string::npos)
        return bad("a socket name (FileDescriptorName=, no ':')");
      c.socket_name = value;
    } else if (flag == "--policy") {
      if (value != "rr" && value != "none" && value != "reuseport" && value != "least" &&
          value != "iphash")
        return bad("rr, none, reuseport, least or iphash");
      c.policy = value;
    } else if (flag == "--port" || flag == "--metrics-port") {
      const auto n = number(0, 65535);
      if (!n)
        return bad("a port from 0 to 65535");
      if (flag == "--port")
        c.port = static_cast<int>(*n);
      else
        c.metrics_port = static_cast<int>(*n);
    } else if (flag == "--metrics-address") {
      cocluster::error_code ec;
      asio::ip::make_address(value, ec);
      if (ec)
        return bad("an IP address");
      c.metrics_address = value;
    } else if (flag == "--min-ready") {
      const auto n = number(1, 4096);
      if (!n)
        return bad("a number of workers from 1 to 4096");
      c.min_ready = static_cast<std::size_t>(*n);
    } else if (flag == "--workers") {
      const auto n = number(1, 4096);
      if (!n)
        return bad("a number of workers from 1 to 4096");
      c.workers = static_cast<std::size_t>(*n);
    } else if (flag == "--demo") {
      const auto n = number(0, 86400);
      if (!n)
        return bad("a number of seconds");
      c.demo_seconds = static_cast<int>(*n);
    } else {
      // The timeouts, in milliseconds; a drain timeout may be 0 (cut connections at once).
      const auto n = number(flag == "--drain-timeout" ? 0 : 1, 24LL * 3600 * 1000);
      if (!n)
        return bad(flag == "--drain-timeout" ? "milliseconds" : "milliseconds, at least 1");
      const std::chrono::milliseconds ms(*n);
      if (flag == "--boot-timeout")
        c.boot_timeout = ms;
      else if (flag == "--upgrade-timeout")
        c.upgrade_timeout = ms;
      else if (flag == "--drain-timeout")
        c.drain_timeout = ms;
      else
        c.kill_timeout = ms;
    }
  }
  if (c.health && !c.metrics_port)
    return fail("--health needs --metrics-port (the probes are answered there)");
  if (c.min_ready && !c.health)
    return fail("--min-ready needs --health");
  return -1;
}

// ---------------------------------------------------------------------------------------------
// The worker: a small HTTP/1.1 server that answers like Node's hello world.

// Node's Date header, rebuilt once a second.
std::string_view http_date() {
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
void append_response(std::string& out, bool keep_alive, bool http10) {
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
std::string_view header_value(std::string_view head, std::string_view name) {
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

std::optional<request> next_request(std::string_view in) {
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

asio::awaitable<void> serve_connection(std::shared_ptr<asio::ip::tcp::socket> socket,
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

asio::awaitable<void> run_worker(cocluster::cluster<>& cluster, int port,
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

int worker_main(asio::io_context& io, const command_line& options) {
  // The supervisor's signals are for the primary. One sent to the whole process group (Ctrl-C,
  // systemd's SIGTERM to every process of the service) must not end a worker before the
  // supervisor drains it; the supervisor itself kills with SIGKILL.
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGTTIN, SIGTTOU})
    std::signal(sig, SIG_IGN);
  cocluster::cluster<> cluster(io);
  asio::co_spawn(
      io, run_worker(cluster, options.port, options.socket_name), [](std::exception_ptr e) {
        if (e)
          std::rethrow_exception(e); // a failed listen: out of io.run(), to main (exit code 1)
      });
  io.run();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The primary.

struct primary_state {
  bool stopping = false;                  // a stop has begun: demo clients do not reconnect
  std::uint64_t responses = 0;            // received by the demo's clients
  asio::steady_timer* demo_end = nullptr; // cut short by a stop
  std::error_code run_error;              // how the supervisor's run ended
  std::string run_failure;
};

// 32 keep-alive clients hammering the server until the stop: each reconnects when its worker
// retires its connection (`Connection: close`, a reload) and ends when that happens during the
// stop.
asio::awaitable<void> drive_load(int port, primary_state& state) {
  auto executor = co_await asio::this_coro::executor;
  auto remaining = std::make_shared<int>(32);
  auto finished = std::make_shared<asio::steady_timer>(executor,
                                                       asio::steady_timer::time_point::max());
  const asio::ip::tcp::endpoint server(asio::ip::make_address("127.0.0.1"),
                                       static_cast<unsigned short>(port));
  for (int c = 0; c < 32; ++c)
    asio::co_spawn(
        executor,
        [=, &state]() -> asio::awaitable<void> {
          const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
          while (!state.stopping) {
            asio::ip::tcp::socket socket(executor);
            auto [connect_error] = co_await socket.async_connect(server, as_tuple);
            if (connect_error)
              break;
            std::string in;
            for (bool open = true; open;) {
              auto [we, wn] = co_await asio::async_write(socket, asio::buffer(request), as_tuple);
              if (we)
                break;
              // A response ends with "Hello World\n".
              std::size_t end;
              while ((end = in.find("Hello World\n")) == std::string::npos) {
                char buffer[4096];
                auto [re, rn] = co_await socket.async_read_some(asio::buffer(buffer), as_tuple);
                if (re) {
                  open = false;
                  break;
                }
                in.append(buffer, rn);
              }
              if (!open)
                break;
              open = in.find("Connection: close") > end; // the worker retires this connection
              in.erase(0, end + 12);
              ++state.responses;
            }
          }
          if (--*remaining == 0)
            finished->cancel();
        },
        asio::detached);
  co_await finished->async_wait(as_tuple);
}

// The demo's end: the rate so far, then a graceful stop under load (unless a signal stopped the
// supervisor first).
template <class Supervisor>
asio::awaitable<void> stop_after(Supervisor& supervisor, int seconds, primary_state& state) {
  const auto start = std::chrono::steady_clock::now();
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(seconds));
  state.demo_end = &timer;
  co_await timer.async_wait(as_tuple);
  state.demo_end = nullptr;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("demo: %llu responses, %.0f requests/s\n",
              static_cast<unsigned long long>(state.responses),
              static_cast<double>(state.responses) / elapsed);
  std::fflush(stdout);
  if (state.stopping)
    co_return; // (a second stop would kill the workers)
  std::printf("demo: stopping under load\n");
  std::fflush(stdout);
  state.stopping = true;
  co_await supervisor.async_stop(as_tuple);
}

asio::awaitable<void> print_events(cocluster::event_stream<cocluster::supervisor_event>& events,
                                   primary_state& state) {
  for (;;) {
    auto [ec, event] = co_await events.async_receive(as_tuple);
    if (ec)
      co_return; // after `stopped`
    if (event.type == cocluster::supervisor_event_type::stopping) {
      state.stopping = true;
      if (state.demo_end)
        state.demo_end->cancel();
    }
    std::printf("supervisor: %s\n", event.to_string().c_str());
    std::fflush(stdout);
  }
}

// The pool's run; when it ends, the metrics port closes too.
template <class Supervisor>
asio::awaitable<void> run_pool(Supervisor& supervisor, primary_state& state,
                               asio::ip::tcp::acceptor& metrics) {
  try {
    co_await supervisor.async_run();
  } catch (const std::system_error& e) {
    state.run_error = e.code();
    state.run_failure = e.what();
  }
  cocluster::error_code ignored;
  metrics.close(ignored);
}

// ---------------------------------------------------------------------------------------------
// The metrics port (--metrics-port): GET /metrics answers the supervisor's metrics snapshot in
// Prometheus's text format; with --health, GET /healthz and GET /readyz answer the probes
// (cocluster::health decides what); anything else is 404. One request per connection.

// The target of a GET request head ("GET /readyz HTTP/1.1" gives "/readyz"), or empty.
std::string_view get_target(std::string_view head) {
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

// Once the pool is ready: the line tests and bench/run wait for, then the demo if asked.
template <class Supervisor, class Listening>
asio::awaitable<void> announce_and_demo(Supervisor& supervisor, Listening listening,
                                        const command_line& options, primary_state& state) {
  auto [ready_error] = co_await supervisor.async_wait_ready(as_tuple);
  if (ready_error)
    co_return; // the run ended first (a crash loop)
  int port = options.port;
  if (auto first = listening.try_receive())
    port = first->address.port; // the bound port, also for --port 0
  std::printf("primary %d: %zu workers share port %d (policy %s)\n", ::getpid(), supervisor.size(),
              port, options.policy.c_str());
  std::fflush(stdout);
  if (options.demo_seconds == 0)
    co_return; // the signals decide from here
  std::printf("demo: 32 keep-alive clients for %d s...\n", options.demo_seconds);
  std::fflush(stdout);
  co_await (drive_load(port, state) && stop_after(supervisor, options.demo_seconds, state));
  std::printf("demo: %llu responses in all\n", static_cast<unsigned long long>(state.responses));
  std::fflush(stdout);
}

template <class Cluster, class Supervisor>
asio::awaitable<int> run_primary(Cluster& cluster, Supervisor& supervisor,
                                 const command_line& options, asio::ip::tcp::acceptor& metrics) {
  // Subscribed before the run starts, so that nothing is missed.
  auto reports = cluster.subscribe(cocluster::event::message);
  auto listening = cluster.subscribe(cocluster::event::listening);
  auto events = supervisor.subscribe();
  primary_state state;
  co_await (print_events(events, state) && run_pool(supervisor, state, metrics) &&
            announce_and_demo(supervisor, std::move(listening), options, state) &&
            serve_metrics(supervisor, metrics, options));

  if (state.run_error) {
    // A crash loop (errc::crash_loop) included: exit code 1, so that systemd or Kubernetes
    // restart the program with their own limits.
    std::fprintf(stderr, "http_cluster: %s\n", state.run_failure.c_str());
    co_return 1;
  }
  // The count each worker sent last (one that was killed may have served more).
  std::map<int, std::pair<pid_t, std::uint64_t>> counts;
  while (auto report = reports.try_receive())
    if (report->message.is_object() && report->message.contains("requests"))
      counts[report->worker.id()] = std::make_pair(
          report->worker.pid(), report->message["requests"].template get<std::uint64_t>());
  std::uint64_t total = 0;
  for (const auto& [id, count] : counts) {
    std::printf("worker %d (pid %d): %llu requests\n", id, count.first,
                static_cast<unsigned long long>(count.second));
    total += count.second;
  }
  std::printf("total: %llu requests\n", static_cast<unsigned long long>(total));
  std::fflush(stdout);
  co_return 0;
}

template <class Policy>
int primary_main(asio::io_context& io, const command_line& options) {
  cocluster::cluster<Policy> cluster(io);
  cocluster::supervisor_options supervision;
  supervision.workers = options.workers;
  if (options.boot_timeout)
    supervision.boot_timeout = *options.boot_timeout;
  if (options.drain_timeout)
    supervision.drain_timeout = *options.drain_timeout;
  if (options.kill_timeout)
    supervision.kill_timeout = *options.kill_timeout;
  supervision.upgrade_timeout = options.upgrade_timeout;
  cocluster::supervisor supervisor(cluster, supervision);
  supervisor.handle_signals();
  asio::ip::tcp::acceptor metrics(io);
  if (options.metrics_port) {
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(options.metrics_address),
                                           static_cast<unsigned short>(*options.metrics_port));
    // (throws: exit code 1.) SO_REUSEPORT: a new primary started by SIGUSR2 binds the port
    // while this one still holds it; both answer until this one exits.
    metrics = asio::ip::tcp::acceptor(io, endpoint.protocol());
    metrics.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    metrics.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    metrics.bind(endpoint);
    metrics.listen();
    const bool v6 = endpoint.address().is_v6();
    std::printf("metrics: http://%s%s%s:%d/metrics\n", v6 ? "[" : "",
                options.metrics_address.c_str(), v6 ? "]" : "", metrics.local_endpoint().port());
    std::fflush(stdout);
  }
  int exit_code = 1;
  asio::co_spawn(io, run_primary(cluster, supervisor, options, metrics),
                 [&exit_code](std::exception_ptr e, int code) {
                   if (e)
                     std::rethrow_exception(e); // out of io.run(), to main
                   exit_code = code;
                 });
  io.run();
  return exit_code;
}

} // namespace

int main(int argc, char** argv) {
  command_line options;
  if (const int code = parse(argc, argv, options); code >= 0)
    return code;
  // (read first: the cluster removes Node's variables from the environment)
  const bool worker = std::getenv("NODE_UNIQUE_ID") != nullptr;
  try {
    asio::io_context io;
    if (worker)
      return worker_main(io, options); // started by a primary (this program's, or Node's)
    if (options.policy == "none")
      return primary_main<cocluster::shared_socket>(io, options);
    if (options.policy == "reuseport")
      return primary_main<cocluster::reuse_port>(io, options);
    if (options.policy == "least")
      return primary_main<cocluster::least_connections>(io, options);
    if (options.policy == "iphash")
      return primary_main<cocluster::ip_hash>(io, options);
    return primary_main<cocluster::round_robin>(io, options);
  } catch (const std::exception& e) {
    // A cluster that could not be made (a worker started by a primary that speaks another
    // serialization, say), a failed listen in a worker, a failure in the primary.
    std::fprintf(stderr, "http_cluster%s: %s\n", worker ? " (worker)" : "", e.what());
    return 1;
  }
}
