// A multi-worker HTTP server: Node's first cluster example, in C++.
//
//   http_cluster [--port N] [--workers N] [--policy rr|none|reuseport|least|iphash] [--demo SECONDS]
//
// N workers (default: one per core) share the port and answer every request with the bytes
// Node's `http.createServer((req, res) => res.end('Hello World\n'))` sends, keep-alive included.
// On SIGINT or SIGTERM the primary shuts the cluster down gracefully and prints how many requests
// each worker served. With --demo, the primary also drives load at its own server for a few
// seconds, prints the request rate, and shuts down.
#include <cocluster.hpp>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

struct command_line {
  int port = 8000;
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string policy = "rr";
  int demo_seconds = 0;
};

command_line parse(int argc, char** argv) {
  command_line c;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--port")
      c.port = std::stoi(value);
    else if (flag == "--workers")
      c.workers = std::max(1, std::stoi(value));
    else if (flag == "--policy")
      c.policy = value;
    else if (flag == "--demo")
      c.demo_seconds = std::stoi(value);
  }
  return c;
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

bool header_says(std::string_view head, std::string_view name, std::string_view value) {
  // Case-insensitive search for "name: ...value..." in the request head.
  auto lower = [](std::string_view s) {
    std::string r(s);
    for (auto& c : r)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
  };
  const std::string h = lower(head), n = "\r\n" + lower(name) + ":", v = lower(value);
  const auto at = h.find(n);
  if (at == std::string::npos)
    return false;
  const auto end = h.find("\r\n", at + n.size());
  return h.substr(at + n.size(), end - at - n.size()).find(v) != std::string::npos;
}

struct worker_state {
  std::uint64_t requests = 0;
  bool stopping = false;
  std::set<std::shared_ptr<asio::ip::tcp::socket>> idle; // keep-alive connections between requests
};

asio::awaitable<void> serve_connection(std::shared_ptr<asio::ip::tcp::socket> socket,
                                       std::shared_ptr<worker_state> state) {
  std::string in, out;
  asio::steady_timer idle_timer(socket->get_executor());
  for (;;) {
    // Serve every complete request already buffered (pipelining), then write once.
    bool close_after = false;
    std::size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) != std::string::npos) {
      const std::string_view head(in.data(), head_end + 2);
      const bool http10 = head.find(" HTTP/1.0\r\n") != std::string_view::npos;
      const bool keep_alive =
          !state->stopping && (http10 ? false : !header_says(head, "connection", "close"));
      std::size_t body = 0;
      if (const auto at = in.find("\r\ncontent-length:"); at != std::string::npos && at < head_end)
        body = std::stoul(in.substr(at + 17, head_end - at - 17));
      if (in.size() < head_end + 4 + body)
        break; // the body is still coming
      append_response(out, keep_alive, http10);
      ++state->requests;
      in.erase(0, head_end + 4 + body);
      if (!keep_alive) {
        close_after = true;
        break;
      }
    }
    if (!out.empty()) {
      auto [ec, n] = co_await asio::async_write(*socket, asio::buffer(out),
                                                asio::experimental::as_tuple(asio::use_awaitable));
      if (ec)
        co_return;
      out.clear();
    }
    if (close_after || state->stopping)
      co_return;
    // Wait for more, at most 5 s (Node's keep-alive timeout).
    char buffer[16 * 1024];
    state->idle.insert(socket);
    idle_timer.expires_after(5s);
    // Errors as values on both sides: `||` waits for the first operation to *succeed*, so a
    // read that fails (end of file, or closed by a shutdown) must count as finishing.
    constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
    auto result = co_await (socket->async_read_some(asio::buffer(buffer), as_tuple) ||
                            idle_timer.async_wait(as_tuple));
    state->idle.erase(socket);
    if (result.index() == 1)
      co_return; // idle too long
    auto [read_error, n] = std::get<0>(result);
    if (read_error)
      co_return;
    in.append(buffer, n);
  }
}

asio::awaitable<void> run_worker(cocluster::cluster<>& cluster, int port) {
  auto state = std::make_shared<worker_state>();
  auto self = cluster.worker();
  auto server = co_await cluster.listen(cocluster::tcp_listen_options(port));

  // The primary asks for a graceful stop with a "shutdown" message: report the count, stop
  // keep-alive, and drop idle connections so that the disconnect that follows completes.
  asio::co_spawn(
      cluster.get_executor(),
      [state, self]() -> asio::awaitable<void> {
        auto messages = self.subscribe(cocluster::event::message);
        for (;;) {
          auto [ec, message] = co_await messages.async_receive(
              asio::experimental::as_tuple(asio::use_awaitable));
          if (ec)
            co_return;
          if (message == "shutdown") {
            state->stopping = true;
            for (auto& socket : state->idle)
              socket->close();
            nlohmann::json report; // (no initializer list: g++ 12 mishandles one in a coroutine)
            report["requests"] = state->requests;
            co_await self.async_send(std::move(report));
          }
        }
      },
      asio::detached);

  for (;;) {
    auto [ec, socket] =
        co_await server.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec)
      break; // the server closed: the worker is disconnecting
    socket.set_option(asio::ip::tcp::no_delay(true));
    asio::co_spawn(cluster.get_executor(),
                   serve_connection(std::make_shared<asio::ip::tcp::socket>(std::move(socket)),
                                    state),
                   asio::detached);
  }
}

// ---------------------------------------------------------------------------------------------
// The primary.

// Keep-alive clients hammering the server for `seconds`; returns the responses received.
asio::awaitable<std::uint64_t> drive_load(int port, int seconds) {
  auto executor = co_await asio::this_coro::executor;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  auto total = std::make_shared<std::uint64_t>(0);
  auto remaining = std::make_shared<int>(32);
  auto finished = std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
  for (int c = 0; c < 32; ++c)
    asio::co_spawn(
        executor,
        [=]() -> asio::awaitable<void> {
          const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
          asio::ip::tcp::socket socket(executor);
          std::string in;
          auto [connect_error] = co_await socket.async_connect(
              {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
              asio::experimental::as_tuple(asio::use_awaitable));
          while (!connect_error && std::chrono::steady_clock::now() < deadline) {
            auto [we, wn] = co_await asio::async_write(
                socket, asio::buffer(request), asio::experimental::as_tuple(asio::use_awaitable));
            if (we)
              break;
            // A response ends with "Hello World\n".
            std::size_t end;
            bool broken = false;
            while ((end = in.find("Hello World\n")) == std::string::npos) {
              char buffer[4096];
              auto [re, rn] = co_await socket.async_read_some(
                  asio::buffer(buffer), asio::experimental::as_tuple(asio::use_awaitable));
              if (re) {
                broken = true;
                break;
              }
              in.append(buffer, rn);
            }
            if (broken)
              break;
            in.erase(0, end + 12);
            ++*total;
          }
          if (--*remaining == 0)
            finished->cancel();
        },
        asio::detached);
  co_await finished->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  co_return *total;
}

template <class Policy>
asio::awaitable<void> run_primary(cocluster::cluster<Policy>& cluster, command_line options) {
  auto executor = co_await asio::this_coro::executor;
  auto messages = cluster.subscribe(cocluster::event::message);
  auto exits = cluster.subscribe(cocluster::event::exit);
  std::vector<typename cocluster::cluster<Policy>::worker_type> workers;
  for (int i = 0; i < options.workers; ++i)
    workers.push_back(cluster.fork());
  for (auto& worker : workers) {
    const cocluster::listen_address address = co_await worker.listening();
    options.port = address.port; // the bound port, also for --port 0
  }
  std::printf("primary %d: %d workers share port %d (policy %s)\n", ::getpid(), options.workers,
              options.port, options.policy.c_str());
  std::fflush(stdout);

  if (options.demo_seconds > 0) {
    std::printf("demo: 32 keep-alive clients for %d s...\n", options.demo_seconds);
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    const auto responses = co_await drive_load(options.port, options.demo_seconds);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("demo: %llu responses, %.0f requests/s\n",
                static_cast<unsigned long long>(responses), static_cast<double>(responses) / elapsed);
  } else {
    asio::signal_set signals(executor, SIGINT, SIGTERM);
    const int signal = co_await signals.async_wait(asio::use_awaitable);
    std::printf("\nprimary: %s, shutting down\n", cocluster::detail::signal_name(signal).c_str());
  }

  // Graceful shutdown: ask for counts, then disconnect; connections still open after 5 s are
  // shut down by the workers.
  std::map<int, std::uint64_t> counts;
  for (auto& worker : workers)
    if (worker.is_connected())
      worker.send("shutdown");
  asio::steady_timer patience(executor, 2s);
  while (counts.size() < workers.size()) {
    auto result = co_await (messages.async_receive() || patience.async_wait(asio::use_awaitable));
    if (result.index() == 1)
      break;
    auto& event = std::get<0>(result);
    if (event.message.contains("requests"))
      counts[event.worker.id()] = event.message["requests"].template get<std::uint64_t>();
  }
  for (auto& worker : workers)
    worker.disconnect(5s);
  co_await cluster.disconnect();
  std::uint64_t total = 0;
  for (auto& worker : workers) {
    std::printf("worker %d (pid %d): %llu requests, %s\n", worker.id(), worker.pid(),
                static_cast<unsigned long long>(counts[worker.id()]),
                worker.status() ? worker.status()->to_string().c_str() : "running");
    total += counts[worker.id()];
  }
  std::printf("total: %llu requests\n", static_cast<unsigned long long>(total));
}

template <class Policy>
int primary_main(asio::io_context& io, const command_line& options) {
  cocluster::cluster<Policy> cluster(io);
  asio::co_spawn(io, run_primary(cluster, options), [](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "primary: %s\n", error.what());
      }
    }
  });
  io.run();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  const auto options = parse(argc, argv);
  asio::io_context io;
  if (std::getenv("NODE_UNIQUE_ID") != nullptr) {
    // A worker: Ctrl-C reaches the whole process group; the primary decides when workers stop.
    std::signal(SIGINT, SIG_IGN);
    cocluster::cluster<> cluster(io);
    asio::co_spawn(io, run_worker(cluster, options.port), [](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& error) {
          std::fprintf(stderr, "worker: %s\n", error.what());
          std::exit(1);
        }
      }
    });
    io.run();
    return 0;
  }
  if (options.policy == "none")
    return primary_main<cocluster::shared_socket>(io, options);
  if (options.policy == "reuseport")
    return primary_main<cocluster::reuse_port>(io, options);
  if (options.policy == "least")
    return primary_main<cocluster::least_connections>(io, options);
  if (options.policy == "iphash")
    return primary_main<cocluster::ip_hash>(io, options);
  if (options.policy != "rr") {
    std::fprintf(stderr, "unknown policy '%s' (rr, none, reuseport, least, iphash)\n",
                 options.policy.c_str());
    return 2;
  }
  return primary_main<cocluster::round_robin>(io, options);
}
