// Boost.Beast's HTTP/1.1 server in every worker of a cluster: cocluster built on Boost.Asio
// (COCLUSTER_USE_BOOST_ASIO, which examples/meson.build defines for this program), so that the
// socket a worker accepts is a boost::asio::ip::tcp::socket that Beast serves directly, on the
// worker's own io_context and thread, without a copy.
//
//   beast_http [--port N] [--workers N]        (defaults: port 8000, 2 workers)
//
// The primary forks the workers (round-robin: it accepts each connection and hands it to the next
// worker), prints `primary PID: N workers share port P` once all of them listen, and stops on
// SIGTERM or SIGINT: it disconnects the workers, waits for them to exit, and exits 0 (1 if a
// worker ended on its own). Every worker answers each request with its pid, keeping the
// connection alive as the client asks (5 s idle at most); once it is disconnecting it answers
// with `Connection: close`.
#include <cocluster.hpp>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto as_tuple = cocluster::as_tuple(asio::use_awaitable);

struct command_line {
  int port = 8000;
  int workers = 2;
};

// "--port N --workers N"; nullopt (after a message) when the line is wrong.
std::optional<command_line> parse(int argc, char** argv) {
  command_line options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    int* target = nullptr;
    if (flag == "--port")
      target = &options.port;
    else if (flag == "--workers")
      target = &options.workers;
    if (target == nullptr || i + 1 == argc) {
      std::fprintf(stderr, "usage: beast_http [--port N] [--workers N]\n");
      return std::nullopt;
    }
    const std::string_view text = argv[++i];
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *target);
    if (ec != std::errc() || end != text.data() + text.size() || *target < 0 ||
        (target == &options.workers && *target == 0)) {
      std::fprintf(stderr, "beast_http: bad value for %s: %s\n", argv[i - 1], argv[i]);
      return std::nullopt;
    }
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// A worker: Beast on the sockets cocluster accepts.

struct worker_state {
  bool draining = false; // the server closed: the primary is disconnecting this worker
};

asio::awaitable<void> serve(beast::tcp_stream stream, std::shared_ptr<const worker_state> state) {
  const std::string answer = "worker " + std::to_string(::getpid()) + "\n";
  beast::flat_buffer buffer;
  for (;;) {
    stream.expires_after(5s); // the keep-alive idle limit, and the limit on a slow request
    http::request<http::string_body> request;
    auto [read_error, read] = co_await http::async_read(stream, buffer, request, as_tuple);
    if (read_error)
      break; // the client closed (http::error::end_of_stream), timed out or sent garbage
    http::response<http::string_body> response(http::status::ok, request.version());
    response.set(http::field::server, "cocluster beast_http");
    response.set(http::field::content_type, "text/plain");
    response.keep_alive(request.keep_alive() && !state->draining);
    response.body() = answer;
    response.prepare_payload();
    auto [write_error, written] = co_await http::async_write(stream, response, as_tuple);
    if (write_error || !response.keep_alive())
      break;
  }
  cocluster::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> run_worker(cocluster::cluster<>& cluster, int port) {
  auto state = std::make_shared<worker_state>();
  auto server = co_await cluster.listen(cocluster::tcp_listen_options(port));
  for (;;) {
    // The accepted socket is Boost.Asio's own: Beast takes it as it is.
    auto [ec, socket] = co_await server.async_accept(as_tuple);
    if (ec)
      break; // the server closed: the worker is disconnecting
    asio::co_spawn(cluster.get_executor(), serve(beast::tcp_stream(std::move(socket)), state),
                   asio::detached);
  }
  state->draining = true;
}

int worker_main(asio::io_context& io, cocluster::cluster<>& cluster, const command_line& options) {
  // A signal to the whole process group (Ctrl-C) is for the primary, which disconnects us.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  asio::co_spawn(io, run_worker(cluster, options.port), [](std::exception_ptr e) {
    if (e)
      std::rethrow_exception(e); // a failed listen: out of io.run(), to main (exit code 1)
  });
  io.run();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The primary.

struct primary_state {
  bool stopping = false;
  int exit_code = 0;
};

asio::awaitable<void> announce(cocluster::cluster<>& cluster, int workers) {
  auto listening = cluster.subscribe(cocluster::event::listening);
  int port = 0;
  for (int i = 0; i < workers; ++i) {
    auto [ec, event] = co_await listening.async_receive(as_tuple);
    if (ec)
      co_return;
    port = event.address.port;
  }
  std::printf("primary %d: %d workers share port %d\n", static_cast<int>(::getpid()), workers,
              port);
}

asio::awaitable<void> watch_exits(cocluster::cluster<>& cluster, int workers, primary_state& state,
                                  asio::signal_set& signals) {
  auto exits = cluster.subscribe(cocluster::event::exit);
  for (int left = workers; left > 0; --left) {
    auto [ec, event] = co_await exits.async_receive(as_tuple);
    if (ec)
      break;
    std::printf("primary: worker %d (pid %d) exited: %s\n", event.worker.id(),
                static_cast<int>(event.worker.pid()), event.status.to_string().c_str());
    if (!state.stopping || !event.status.success())
      state.exit_code = 1;
  }
  signals.cancel(); // the last worker is gone: io.run() returns
}

asio::awaitable<void> stop_on_signal(cocluster::cluster<>& cluster, primary_state& state,
                                     asio::signal_set& signals) {
  auto [ec, signal] = co_await signals.async_wait(as_tuple);
  if (ec)
    co_return;
  std::printf("primary: signal %d, disconnecting the workers\n", signal);
  state.stopping = true;
  co_await cluster.async_disconnect(as_tuple);
}

int primary_main(asio::io_context& io, cocluster::cluster<>& cluster, const command_line& options) {
  primary_state state;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::co_spawn(io, announce(cluster, options.workers), asio::detached);
  asio::co_spawn(io, watch_exits(cluster, options.workers, state, signals), asio::detached);
  asio::co_spawn(io, stop_on_signal(cluster, state, signals), asio::detached);
  for (int i = 0; i < options.workers; ++i)
    cluster.fork();
  io.run();
  return state.exit_code;
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const auto options = parse(argc, argv);
  if (!options)
    return 2;
  try {
    asio::io_context io;
    cocluster::cluster<> cluster(io); // cluster<round_robin, json>: Node's defaults
    return cluster.is_primary() ? primary_main(io, cluster, *options)
                                : worker_main(io, cluster, *options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beast_http: %s\n", e.what());
    return 1;
  }
}
