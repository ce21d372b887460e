// cocluster_supervise: the reload, respawn and supervisor workloads (the server side; the runner
// drives it with wrk, SIGHUP and SIGKILL).
//
//   cocluster_supervise serve --port P [--workers 2] [--heartbeat-ms 1000] [--backoff-ms 100]
//                             [--drain-ms 5000] [--kill-ms 6000]
//
// The primary runs N workers under `cocluster::supervisor` with `handle_signals()`: SIGHUP is a
// rolling reload, SIGTERM a graceful stop. It prints one JSON line per supervisor event
// ({"event":"ready","worker":3,"pid":...,"t_ms":...}; `pool_ready` and `reload_finished` also
// carry the pool's pids), and {"stopped":true,...} when the run is over.
//
// Each worker is a minimal keep-alive HTTP/1.1 server on 127.0.0.1:P answering "Hello World\n"
// with the bytes of Node's hello world. It drains as a server behind a rolling reload must:
// once its server is closing (`server.is_open()` false: the supervisor disconnected the
// worker), it answers each request it holds, and the next request on each kept-alive
// connection, with `Connection: close`, then closes that connection (send side first, then it
// reads until the client's end). An idle keep-alive connection is never closed early: the
// client's next request would race the close and be lost; it waits for that request, or for
// the 5 s keep-alive timeout, or for the supervisor's drain timeout.
//
// With BENCH_READY_FILE set, each worker appends {"listening":PID,"t_ms":...} to that file when
// its listen completed (CLOCK_MONOTONIC milliseconds, as the Node programs and the runner use),
// so that the runner times a respawn the same way for every contender.
#include "common.hpp"

#include <fcntl.h>

#include <csignal>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string_view>

namespace {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using cluster_type = cocluster::cluster<>;
using supervisor_type = cocluster::supervisor<cluster_type>;

double monotonic_ms() {
  return std::chrono::duration<double, std::milli>(bench::clock::now().time_since_epoch()).count();
}

// ---- JSON lines (plain functions: no braced initializer lists inside coroutines) ----

nlohmann::json event_line(const cocluster::supervisor_event& event, const supervisor_type& pool) {
  nlohmann::json j;
  j["event"] = cocluster::to_string(event.type);
  j["worker"] = event.worker;
  j["pid"] = event.pid;
  j["slot"] = event.slot;
  j["t_ms"] = monotonic_ms();
  if (!event.reason.empty())
    j["reason"] = event.reason;
  if (event.type == cocluster::supervisor_event_type::respawn_scheduled)
    j["delay_ms"] = event.delay.count();
  if (event.type == cocluster::supervisor_event_type::pool_ready ||
      event.type == cocluster::supervisor_event_type::reload_finished ||
      event.type == cocluster::supervisor_event_type::reload_failed) {
    std::vector<pid_t> pids;
    for (const auto& worker : pool.workers())
      pids.push_back(worker.pid());
    j["workers"] = pids;
    j["primary"] = ::getpid();
  }
  j["text"] = event.to_string();
  return j;
}

nlohmann::json stopped_line(const std::error_code& ec) {
  nlohmann::json j;
  j["stopped"] = true;
  j["impl"] = "cocluster";
  j["error"] = ec ? ec.message() : std::string();
  return j;
}

void write_ready_file() {
  const char* path = std::getenv("BENCH_READY_FILE");
  if (path == nullptr || *path == '\0')
    return;
  nlohmann::json j;
  j["listening"] = ::getpid();
  j["t_ms"] = monotonic_ms();
  j["impl"] = "cocluster";
  const std::string line = j.dump() + "\n";
  const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    std::fprintf(stderr, "bench: short write to %s\n", path);
  ::close(fd);
}

// ---- the worker: a minimal keep-alive HTTP/1.1 server ----

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

void append_response(std::string& out, bool keep_alive) {
  out += "HTTP/1.1 200 OK\r\nDate: ";
  out += http_date();
  if (keep_alive)
    out += "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 12\r\n\r\n";
  else
    out += "\r\nConnection: close\r\nContent-Length: 12\r\n\r\n";
  out += "Hello World\n";
}

// Whether the request head asks to close: HTTP/1.0, or a Connection header naming "close".
bool client_closes(std::string_view head) {
  std::string lower(head);
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto first_line_end = lower.find("\r\n");
  if (lower.substr(0, first_line_end).find(" http/1.0") != std::string::npos)
    return true;
  const auto at = lower.find("\r\nconnection:");
  if (at == std::string::npos)
    return false;
  const auto end = lower.find("\r\n", at + 13);
  return lower.substr(at + 13, end - at - 13).find("close") != std::string::npos;
}

// The request body's length (GET has none; a Content-Length is honoured).
std::size_t body_length(std::string_view head) {
  std::string lower(head);
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos)
    return 0;
  return static_cast<std::size_t>(std::strtoull(lower.c_str() + at + 17, nullptr, 10));
}

struct worker_state {
  cocluster::tcp_server server;
  std::uint64_t served = 0;

  // The supervisor disconnected this worker: its server is closed and it is draining.
  bool draining() const { return server && !server.is_open(); }
};

asio::awaitable<void> serve_connection(asio::ip::tcp::socket socket,
                                       std::shared_ptr<worker_state> state) {
  std::string in, out;
  char buffer[8192];
  asio::steady_timer timer(socket.get_executor());
  for (;;) {
    // Answer every complete request held (pipelining), then write once.
    bool close_after = false;
    std::size_t head_end = 0;
    while ((head_end = in.find("\r\n\r\n")) != std::string::npos) {
      const std::string_view head(in.data(), head_end + 2);
      const std::size_t body = body_length(head);
      if (in.size() < head_end + 4 + body)
        break; // the body is still coming
      close_after = state->draining() || client_closes(head);
      append_response(out, !close_after);
      ++state->served;
      in.erase(0, head_end + 4 + body);
      if (close_after)
        break;
    }
    if (!out.empty()) {
      auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(out),
                                                               bench::as_tuple);
      if (write_error)
        co_return;
      out.clear();
    }
    if (close_after)
      break;
    // Wait for the next request, at most the keep-alive timeout (5 s, as Node's).
    timer.expires_after(5s);
    auto result = co_await (socket.async_read_some(asio::buffer(buffer), bench::as_tuple) ||
                            timer.async_wait(bench::as_tuple));
    if (result.index() == 1)
      co_return; // idle for the whole keep-alive timeout
    auto [read_error, n] = std::get<0>(result);
    if (read_error)
      co_return;
    in.append(buffer, n);
  }
  // The last response said `Connection: close`: close the send side, then read until the client
  // has closed its side (at most 2 s), so that a request the client sent meanwhile cannot turn
  // the close into a reset that destroys the response.
  std::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  timer.expires_after(2s);
  for (;;) {
    auto result = co_await (socket.async_read_some(asio::buffer(buffer), bench::as_tuple) ||
                            timer.async_wait(bench::as_tuple));
    if (result.index() == 1 || std::get<0>(std::get<0>(result)))
      break;
  }
  socket.close(ignored);
}

asio::awaitable<void> run_worker(cluster_type& cluster, int port) {
  auto state = std::make_shared<worker_state>();
  state->server = co_await cluster.listen(cocluster::tcp_listen_options(port, "127.0.0.1"));
  write_ready_file();
  auto executor = cluster.get_executor();
  for (;;) {
    auto [ec, socket] = co_await state->server.async_accept(bench::as_tuple);
    if (ec)
      break; // closed: the supervisor disconnected this worker; its connections drain
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    asio::co_spawn(executor, serve_connection(std::move(socket), state), asio::detached);
  }
}

// ---- the primary ----

asio::awaitable<void> print_events(supervisor_type& pool,
                                   cocluster::event_stream<cocluster::supervisor_event> events) {
  for (;;) {
    auto [ec, event] = co_await events.async_receive(bench::as_tuple);
    if (ec)
      co_return; // the stream ends after `stopped`
    bench::emit(event_line(event, pool));
  }
}

asio::awaitable<void> run_primary(supervisor_type& pool) {
  auto [ec] = co_await pool.async_run(bench::as_tuple);
  bench::emit(stopped_line(ec));
}

cocluster::supervisor_options make_options(const bench::arguments& args) {
  cocluster::supervisor_options options;
  options.workers = static_cast<std::size_t>(std::max(1, args.get_int("workers", 2)));
  options.readiness = cocluster::readiness::listening;
  const int heartbeat = args.get_int("heartbeat-ms", 1000);
  options.heartbeat.interval = std::chrono::milliseconds(std::max(0, heartbeat));
  options.heartbeat.timeout = std::chrono::milliseconds(std::max(10'000, 3 * heartbeat));
  options.backoff.initial = std::chrono::milliseconds(std::max(0, args.get_int("backoff-ms", 100)));
  options.drain_timeout = std::chrono::milliseconds(std::max(0, args.get_int("drain-ms", 5000)));
  options.kill_timeout = std::chrono::milliseconds(std::max(1, args.get_int("kill-ms", 6000)));
  return options;
}

} // namespace

int main(int argc, char** argv) {
  bench::first_byte_gate();
  const auto args = bench::parse_arguments(argc, argv);
  const int port = args.get_int("port", 0);
  if (args.mode != "serve" || port <= 0) {
    std::fprintf(stderr, "usage: cocluster_supervise serve --port P [--workers N] "
                         "[--heartbeat-ms 1000] [--backoff-ms 100] [--drain-ms 5000] "
                         "[--kill-ms 6000]\n");
    return 2;
  }
  asio::io_context io;
  cluster_type cluster(io);
  if (cluster.is_worker()) {
    std::signal(SIGINT, SIG_IGN); // Ctrl-C reaches the group: the supervisor decides
    asio::co_spawn(io, run_worker(cluster, port), bench::fail_on_exception);
    io.run();
    return 0;
  }
  supervisor_type pool(cluster, make_options(args));
  pool.handle_signals(); // SIGHUP: rolling reload; SIGTERM/SIGINT: graceful stop
  asio::co_spawn(io, print_events(pool, pool.subscribe()), bench::fail_on_exception);
  asio::co_spawn(io, run_primary(pool), bench::fail_on_exception);
  io.run();
  return 0;
}
