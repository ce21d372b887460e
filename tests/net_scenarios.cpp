// Worker scenarios for the shared-port tests.
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/net.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"

using namespace std::chrono_literals;

namespace {

std::map<std::string, std::string> options_of(const std::vector<std::string>& args) {
  std::map<std::string, std::string> options;
  for (const auto& arg : args) {
    const auto eq = arg.find('=');
    options[arg.substr(0, eq)] = eq == std::string::npos ? "1" : arg.substr(eq + 1);
  }
  return options;
}

nlohmann::json ports_report(const std::vector<int>& ports) { return {{"ports", ports}}; }
nlohmann::json listen_report(const std::string& result, int port, int code) {
  return {{"listen", result}, {"port", port}, {"code", code}};
}
nlohmann::json served_report(std::size_t served) { return {{"served", served}}; }

struct serve_state {
  std::map<std::string, std::string> options;
  std::size_t served = 0;
};

// Answers one line with "<worker id> <line>"; with hold, keeps the connection open and answers
// every further line the same way until the client closes it (so a test can see that a held
// connection is still served). The client ending the connection is no failure: reads and writes
// report errors as values.
template <class Socket>
asio::awaitable<void> answer(Socket socket, int id, std::shared_ptr<serve_state> state, bool hold) {
  std::string in;
  for (bool first = true;; first = false) {
    auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in), '\n',
                                                   cocluster::as_tuple(asio::use_awaitable));
    if (ec)
      co_return;
    const std::string reply = std::to_string(id) + " " + in.substr(0, n);
    in.erase(0, n); // what followed the line is the start of the next one
    if (first)
      ++state->served; // connections, not lines
    auto [write_error, written] = co_await asio::async_write(
        socket, asio::buffer(reply), cocluster::as_tuple(asio::use_awaitable));
    if (write_error || !hold)
      co_return;
  }
}

// Accepts until the server closes; then calls `stopped` (when set).
template <class Server>
asio::awaitable<void> accept_loop(Server server, int id, std::shared_ptr<serve_state> state,
                                  bool hold, std::function<void()> stopped) {
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    auto [ec, socket] = co_await server.async_accept(cocluster::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopped)
        stopped();
      co_return;
    }
    asio::co_spawn(executor, answer(std::move(socket), id, state, hold),
                   test::exit_on_failure("serve: answering a connection"));
  }
}

// The options of the server at `index` (from 0) among those a worker listens on: its port is
// the index-th of `ports` (comma-separated) when that is given, else `port`, else 0.
cocluster::tcp_listen_options tcp_options(const std::map<std::string, std::string>& o,
                                          std::size_t index = 0) {
  int port = o.count("port") ? std::stoi(o.at("port")) : 0;
  if (o.count("ports")) {
    std::vector<int> ports;
    std::string list = o.at("ports");
    for (std::size_t start = 0; start <= list.size();) {
      const auto comma = std::min(list.find(',', start), list.size());
      ports.push_back(std::stoi(list.substr(start, comma - start)));
      start = comma + 1;
    }
    port = ports.at(index);
  }
  cocluster::tcp_listen_options options(port);
  if (o.count("host"))
    options.with_host(o.at("host"));
  if (o.count("max"))
    options.with_max_connections(std::stoul(o.at("max")));
  if (o.count("exclusive"))
    options.with_exclusive();
  if (o.count("ipv6only"))
    options.with_ipv6_only();
  if (o.count("fd"))
    options.with_fd(std::stoi(o.at("fd")));
  return options;
}

} // namespace

// A configurable server. Options (key=value): kind=tcp|unix, port, ports (one a server,
// comma-separated), host, path, servers (how many), max (max_connections), exclusive, ipv6only, hold (keep connections open, answering each
// line, until the client closes), hoard (listen but never accept), tell-stop (send
// {"stopped_accepting": port} when a server's accepting ends, e.g. when disconnect closed it).
// It reports {"ports": [...]} once listening, and obeys: "close" (close all servers),
// "relisten" (close the first and listen again, report ports), "count" (report {"served": n},
// the connections it answered).
WORKER_SCENARIO("serve") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  auto state = std::make_shared<serve_state>();
  state->options = options_of(args);
  const auto& o = state->options;
  const int id = cluster.worker().id();
  const bool hold = o.count("hold") != 0;
  const bool hoard = o.count("hoard") != 0;
  const bool tell_stop = o.count("tell-stop") != 0;
  const int count = o.count("servers") ? std::stoi(o.at("servers")) : 1;
  auto self = cluster.worker();
  auto serve = [&](auto server) {
    std::function<void()> stopped;
    if (tell_stop)
      stopped = [self, port = server.port()] {
        self.send(nlohmann::json{{"stopped_accepting", port}});
      };
    asio::co_spawn(io, accept_loop(server, id, state, hold, std::move(stopped)),
                   test::exit_on_failure("serve: the accept loop"));
  };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto messages = self.subscribe(cocluster::event::message);
        std::vector<cocluster::tcp_server> tcp;
        std::vector<cocluster::unix_server> local;
        auto listen_all = [&]() -> asio::awaitable<std::vector<int>> {
          std::vector<int> ports;
          for (int i = static_cast<int>(tcp.size() + local.size()); i < count; ++i) {
            if (o.count("kind") && o.at("kind") == "unix") {
              auto options = cocluster::unix_listen_options(o.at("path"));
              if (o.count("max"))
                options.with_max_connections(std::stoul(o.at("max")));
              local.push_back(co_await cluster.listen(options));
            } else {
              tcp.push_back(co_await cluster.listen(tcp_options(o, tcp.size())));
            }
          }
          for (auto& server : tcp)
            ports.push_back(server.port());
          for (std::size_t i = 0; i < local.size(); ++i)
            ports.push_back(0);
          if (!hoard) {
            for (auto& server : tcp)
              serve(server);
            for (auto& server : local)
              serve(server);
          }
          co_return ports;
        };
        auto ports = co_await listen_all();
        self.send(ports_report(ports));
        for (;;) {
          auto [ec, message] = co_await messages.async_receive(
              cocluster::as_tuple(asio::use_awaitable));
          if (ec)
            break;
          if (message == "close") {
            for (auto& server : tcp)
              server.close();
            for (auto& server : local)
              server.close();
            self.send(std::string("closed"));
          } else if (message == "relisten") {
            tcp.front().close();
            tcp.erase(tcp.begin());
            tcp.push_back(co_await cluster.listen(tcp_options(o)));
            serve(tcp.back());
            std::vector<int> now;
            for (auto& server : tcp)
              now.push_back(server.port());
            self.send(ports_report(now));
          } else if (message == "count") {
            self.send(served_report(state->served));
          }
        }
      },
      test::exit_on_failure("serve"));
  io.run();
  return 0;
}

// Listens on request: {"listen": port} answers {"listen": "ok"|"error", "port", "code"};
// "close-first" closes its oldest server.
WORKER_SCENARIO("listen-on-demand") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto self = cluster.worker();
        auto messages = self.subscribe(cocluster::event::message);
        std::vector<cocluster::tcp_server> servers;
        for (;;) {
          auto [ec, message] = co_await messages.async_receive(
              cocluster::as_tuple(asio::use_awaitable));
          if (ec)
            co_return;
          if (message.is_object() && message.contains("listen")) {
            const int port = message["listen"].get<int>();
            auto [failure, server] = co_await cluster.async_listen(
                cocluster::tcp_listen_options(port, "127.0.0.1"),
                cocluster::as_tuple(asio::use_awaitable));
            if (failure) {
              self.send(listen_report("error", port, failure.value()));
            } else {
              servers.push_back(server);
              self.send(listen_report("ok", server.port(), 0));
            }
          } else if (message == "close-first" && !servers.empty()) {
            servers.front().close();
            servers.erase(servers.begin());
            self.send(std::string("closed"));
          }
        }
      },
      test::exit_on_failure("listen-on-demand"));
  io.run();
  return 0;
}

// Listens where told and reports the failure that co_await (the default token) throws:
// {"error": what, "code": errno}.
WORKER_SCENARIO("listen-fails") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  const auto o = options_of(args);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto self = cluster.worker();
        nlohmann::json report;
        try {
          auto server = co_await cluster.listen(tcp_options(o)); // the short form names the call
          self.send(std::string("listening"));
          co_return;
        } catch (const std::system_error& e) {
          report["error"] = e.what();
          report["code"] = e.code().value();
        }
        co_await self.async_send(std::move(report));
      },
      test::exit_on_failure("listen-fails"));
  io.run();
  return 0;
}

// Binds UDP where told (port=, host=) and reports the code the completion gives (as_tuple) and
// the failure that co_await (the default token) throws: {"code", "open", "thrown", "error"}.
WORKER_SCENARIO("bind-fails") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  const auto o = options_of(args);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto self = cluster.worker();
        const cocluster::udp_bind_options options(std::stoi(o.at("port")), o.at("host"));
        auto [failure, socket] = co_await cluster.async_bind(
            options, cocluster::as_tuple(asio::use_awaitable));
        nlohmann::json report{{"code", failure.value()}, {"open", socket.is_open()}};
        try {
          co_await cluster.bind(options); // the short form names the call
        } catch (const std::system_error& e) {
          report["thrown"] = e.code().value();
          report["error"] = e.what();
        }
        co_await self.async_send(std::move(report));
      },
      test::exit_on_failure("bind-fails"));
  io.run();
  return 0;
}

// Connects to 127.0.0.1:<port> and echoes what it reads until the peer closes (so the test can
// see it still runs after its disconnect) [worker-no-exit].
WORKER_SCENARIO("client-of") {
  const int port = std::stoi(args.at(0));
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::ip::tcp::socket socket(io);
        co_await socket.async_connect({asio::ip::make_address("127.0.0.1"),
                                       static_cast<unsigned short>(port)},
                                      asio::use_awaitable);
        cluster.worker().send(std::string("connected"));
        char buffer[64];
        for (;;) {
          auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer),
                                                         cocluster::as_tuple(asio::use_awaitable));
          if (ec)
            co_return; // the peer closed: the end this scenario waits for
          auto [write_error, written] = co_await asio::async_write(
              socket, asio::buffer(buffer, n), cocluster::as_tuple(asio::use_awaitable));
          if (write_error)
            co_return;
        }
      },
      test::exit_on_failure("client-of"));
  io.run();
  return 0;
}

// Binds UDP port 0 through the primary, reports the port, and answers every datagram with its
// worker id [dgram-1]; with the argument "once", it answers only its first datagram and reads
// none after it (it stays connected until a message comes).
WORKER_SCENARIO("udp-echo") {
  const bool once = !args.empty() && args.at(0) == "once";
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto self = cluster.worker();
        auto socket = co_await cluster.bind(cocluster::udp_bind_options(0, "127.0.0.1"));
        self.send(ports_report({socket.local_endpoint().port()}));
        const std::string id = std::to_string(self.id());
        auto messages = self.subscribe(cocluster::event::message);
        if (once) {
          using namespace asio::experimental::awaitable_operators;
          constexpr auto tuple = cocluster::as_tuple(asio::use_awaitable);
          char buffer[512];
          asio::ip::udp::endpoint from;
          auto got = co_await (socket.async_receive_from(asio::buffer(buffer), from, tuple) ||
                               messages.async_receive(tuple));
          if (got.index() == 1 || std::get<0>(std::get<0>(got)))
            co_return;
          co_await socket.async_send_to(asio::buffer(id), from, tuple);
          socket.close(); // no more datagrams for this worker
          co_await messages.async_receive(tuple);
          co_return;
        }
        // Any message (or the end of the channel) stops the worker.
        co_await test::answer_datagrams(socket, messages, [&](const std::string&) { return id; });
      },
      test::exit_on_failure("udp-echo"));
  io.run();
  return 0;
}

// A primary of its own whose single worker listens on <port> (explicit) and prints "ready"
// when it does [bind-twice].
WORKER_SCENARIO("primary-with-server") {
  const std::string port = args.at(0);
  ::close(std::stoi(std::getenv("NODE_CHANNEL_FD")));
  ::unsetenv("NODE_UNIQUE_ID");
  ::unsetenv("NODE_CHANNEL_FD");
  ::unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  cluster.setup_primary(test::scenario("serve", {"port=" + port, "host=127.0.0.1"}));
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto worker = cluster.fork();
        co_await worker.listening();
        std::printf("ready\n");
        std::fflush(stdout);
        co_await test::sleep(3600s);
      },
      test::exit_on_failure("primary-with-server"));
  io.run();
  return 0;
}
