// Handles with user messages (Node's `send(message, sendHandle)`): sockets and servers passed
// both ways between real processes, in both serializations, with no descriptor leaked; and the
// same with unmodified Node processes on the other end.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "support/exits.hpp"
#include "support/fds.hpp"
#include "support/net.hpp"
#include "support/node.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/skip.hpp"
#include "support/worker_scenarios.hpp"

using namespace std::chrono_literals;

namespace {

template <class S>
using cluster_of = cocluster::cluster<cocluster::round_robin, S>;

// Writes `text` to a stream socket and closes it.
template <class Socket>
asio::awaitable<void> answer(Socket socket, std::string text) {
  co_await asio::async_write(socket, asio::buffer(text), asio::use_awaitable);
  socket.close();
}

// Reads a stream socket to its end.
template <class Socket>
asio::awaitable<std::string> read_all(Socket& socket) {
  std::string text;
  co_await asio::async_read(socket, asio::dynamic_buffer(text), test::as_tuple);
  co_return text;
}

// A connected loopback TCP pair: (the client end, the end the acceptor accepted).
asio::awaitable<std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket>> tcp_pair(
    asio::ip::tcp::acceptor& acceptor) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::socket client(executor);
  co_await client.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  auto accepted = co_await acceptor.async_accept(asio::use_awaitable);
  co_return std::make_pair(std::move(client), std::move(accepted));
}

asio::ip::tcp::acceptor loopback_acceptor(asio::io_context& io) {
  return asio::ip::tcp::acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
}

// Messages made outside coroutines (g++ 12 mishandles initializer lists in them).
nlohmann::json numbered(int i) { return {{"i", i}}; }
nlohmann::json with_text(const std::string& text) { return {{"text", text}}; }
nlohmann::json datagram_to(const std::string& text, const std::string& host, int port) {
  return {{"text", text}, {"host", host}, {"to", port}};
}

// A UDP family to test: the loopback address and Node's dgram type (`dgramType`).
struct udp_family {
  std::string host;
  std::string type;
};

// udp4, and udp6 where this machine has IPv6.
std::vector<udp_family> udp_families() {
  std::vector<udp_family> families{{"127.0.0.1", "udp4"}};
  if (test::has_ipv6())
    families.push_back({"::1", "udp6"});
  return families;
}

// The next datagram on `socket` and where it came from; empty text when none came within
// `limit`.
asio::awaitable<std::pair<std::string, asio::ip::udp::endpoint>> next_datagram(
    asio::ip::udp::socket& socket, std::chrono::seconds limit = 10s) {
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  timer.async_wait([&socket](std::error_code ec) {
    if (!ec)
      socket.cancel();
  });
  std::string text(512, '\0');
  asio::ip::udp::endpoint from;
  auto [ec, n] = co_await socket.async_receive_from(asio::buffer(text), from, test::as_tuple);
  timer.cancel();
  text.resize(ec ? 0 : n);
  co_return std::make_pair(std::move(text), from);
}

} // namespace

// For each message with a handle: a socket is answered "worker <id> got <text or i>" and
// closed (with "hold": true, closed only once the peer ended it); a server accepts one
// connection and answers it the same way. A message
// {"report": true} is answered with the worker's count of open descriptors.
WORKER_SCENARIO("serve-handles") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      auto self = cluster.worker();
      auto executor = co_await asio::this_coro::executor;
      auto plain = self.subscribe(cocluster::event::message);
      asio::co_spawn(
          executor,
          [&cluster, plain = std::move(plain)]() mutable -> asio::awaitable<void> {
            for (;;) {
              auto [ec, message] = co_await plain.async_receive(test::as_tuple);
              if (ec)
                co_return;
              nlohmann::json report;
              report["fds"] = test::open_fds().size();
              cluster.worker().send(test::message<S>(report));
            }
          },
          test::exit_on_failure("report loop"));
      auto handles = self.subscribe(cocluster::event::handle_message);
      for (;;) {
        auto [ec, received] = co_await handles.async_receive(test::as_tuple);
        if (ec)
          co_return;
        const auto message = test::as_json<S>(received.message);
        const std::string text = "worker " + std::to_string(self.id()) + " got " +
                                 (message.contains("text")
                                      ? message["text"].template get<std::string>()
                                      : std::to_string(message.value("i", -1)));
        switch (received.handle.kind()) {
        case cocluster::handle_kind::tcp_socket:
          if (message.value("hold", false)) { // answer, then keep it open until the peer ends
            auto socket = received.handle.take_tcp_socket(executor);
            co_await asio::async_write(socket, asio::buffer(text), asio::use_awaitable);
            (void)co_await read_all(socket);
          } else {
            co_await answer(received.handle.take_tcp_socket(executor), text);
          }
          break;
        case cocluster::handle_kind::local_socket:
          co_await answer(received.handle.take_local_socket(executor), text);
          break;
        case cocluster::handle_kind::udp_socket: { // sends the text to "host" (or 127.0.0.1):"to"
          auto socket = received.handle.take_udp_socket(executor);
          const asio::ip::udp::endpoint to(
              asio::ip::make_address(message.value("host", std::string("127.0.0.1"))),
              message["to"].template get<unsigned short>());
          co_await socket.async_send_to(asio::buffer(text), to, asio::use_awaitable);
          break;
        }
        case cocluster::handle_kind::tcp_acceptor: {
          auto acceptor = received.handle.take_tcp_acceptor(executor);
          co_await answer(co_await acceptor.async_accept(asio::use_awaitable), text);
          break;
        }
        default: throw std::runtime_error("an unexpected handle kind");
        }
      }
    });
  });
}

// Connects to 127.0.0.1:<port> and sends the connection to the primary with {"text": "<id>"}.
WORKER_SCENARIO("send-socket-to-primary") {
  const auto port = static_cast<unsigned short>(std::stoi(args.at(0)));
  return test::with_serialization([port]<class S>() {
    return test::run_worker<S>([port](auto& cluster) -> asio::awaitable<void> {
      auto executor = co_await asio::this_coro::executor;
      asio::ip::tcp::socket socket(executor);
      co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                    asio::use_awaitable);
      auto self = cluster.worker();
      co_await self.async_send(test::message<S>(with_text(std::to_string(self.id()))),
                               cocluster::handle(std::move(socket)));
    });
  });
}

// Sends <count> sockets (one end of a socketpair each) to the primary, {"i": n} with each,
// then waits to be disconnected.
WORKER_SCENARIO("send-sockets-to-primary") {
  const int count = std::stoi(args.at(0));
  return test::with_serialization([count]<class S>() {
    return test::run_worker<S>([count](auto& cluster) -> asio::awaitable<void> {
      auto executor = co_await asio::this_coro::executor;
      for (int i = 0; i < count; ++i) {
        asio::local::stream_protocol::socket mine(executor), theirs(executor);
        asio::local::connect_pair(mine, theirs);
        cluster.worker().send(test::message<S>(numbered(i)), cocluster::handle(std::move(theirs)));
      }
      co_return;
    });
  });
}

TEST_SUITE_BEGIN("handles");

TEST_CASE_TEMPLATE("a connection the primary accepted is served by the worker it is sent to", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("serve-handles"));
  auto acceptor = loopback_acceptor(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    co_await worker.online();
    auto [client, accepted] = co_await tcp_pair(acceptor);
    CHECK(worker.send(test::message<S>(with_text("hello")),
                      cocluster::handle(std::move(accepted))));
    CHECK_FALSE(accepted.is_open()); // the primary gave it up
    CHECK(co_await read_all(client) == "worker 1 got hello");
    worker.disconnect();
    co_await worker.exited();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a socket a worker sends reaches the primary's handle_message stream with the "
                   "worker",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  auto acceptor = loopback_acceptor(io);
  cluster.setup_primary(test::scenario(
      "send-socket-to-primary", test::strings(std::to_string(acceptor.local_endpoint().port()))));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto handles = cluster.subscribe(cocluster::event::handle_message);
    auto worker = cluster.fork();
    auto accepted = co_await acceptor.async_accept(asio::use_awaitable);
    auto received = co_await handles.async_receive();
    CHECK(received.worker == worker);
    CHECK(test::as_json<S>(received.message) == with_text("1"));
    REQUIRE(received.handle.kind() == cocluster::handle_kind::tcp_socket);
    auto socket = received.handle.take_tcp_socket(io.get_executor());
    // It is the worker's very connection: what the primary writes on it arrives at the end
    // the acceptor accepted.
    CHECK(socket.remote_endpoint() == acceptor.local_endpoint());
    co_await answer(std::move(socket), "from the primary");
    CHECK(co_await read_all(accepted) == "from the primary");
    worker.disconnect();
    co_await worker.exited();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a listening server sent to a worker accepts there", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("serve-handles"));
  auto acceptor = loopback_acceptor(io);
  const auto endpoint = acceptor.local_endpoint();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    co_await worker.online();
    co_await worker.async_send(test::message<S>(with_text("a server")),
                               cocluster::handle(std::move(acceptor)));
    asio::ip::tcp::socket client(io);
    co_await client.async_connect(endpoint, asio::use_awaitable);
    CHECK(co_await read_all(client) == "worker 1 got a server");
    worker.disconnect();
    co_await worker.exited();
    co_await exits.check();
  });
}

TEST_CASE("a UDP socket sent with a message is the same socket in the worker") {
  asio::io_context io;
  cluster_of<cocluster::json> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("serve-handles"));
  asio::ip::udp::socket sent(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::udp::socket listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto sent_from = sent.local_endpoint();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    co_await worker.online();
    nlohmann::json message = with_text("datagram");
    message["to"] = listener.local_endpoint().port();
    worker.send(message, cocluster::handle(std::move(sent)));
    std::string text(64, '\0');
    asio::ip::udp::endpoint from;
    const auto n = co_await listener.async_receive_from(asio::buffer(text), from,
                                                        asio::use_awaitable);
    text.resize(n);
    CHECK(text == "worker 1 got datagram");
    CHECK(from == sent_from); // sent from the socket the primary gave away
    worker.disconnect();
    co_await worker.exited();
    co_await exits.check();
  });
}

TEST_CASE("messages with handles wait for a first subscription up to a bound and the rest are "
          "closed with an error") {
  asio::io_context io;
  cluster_of<cocluster::json> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("send-sockets-to-primary", test::strings("70")));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto errors = cluster.subscribe(cocluster::event::error);
    auto worker = cluster.fork();
    for (int i = 0; i < 6; ++i) { // 70 sent, 64 kept
      auto error = co_await errors.async_receive();
      CHECK(error.error.code == cocluster::errc::too_many_handles);
      CHECK(error.error.what.find("event::handle_message") != std::string::npos);
    }
    auto handles = worker.subscribe(cocluster::event::handle_message);
    for (int i = 0; i < 64; ++i) {
      auto received = co_await handles.async_receive();
      CHECK(received.message == numbered(i)); // the first ones, in order
      CHECK(received.handle.kind() == cocluster::handle_kind::local_socket);
    }
    CHECK(handles.size() == 0);
    worker.disconnect();
    co_await worker.exited();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a thousand sockets passed in a row leave no descriptor behind on either side",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("serve-handles"));
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        auto worker = cluster.fork();
        auto reports = worker.subscribe(cocluster::event::message);
        co_await worker.online();
        nlohmann::json ask;
        ask["report"] = true;
        worker.send(test::message<S>(ask));
        const auto worker_before = test::as_json<S>(co_await reports.async_receive())["fds"];
        const auto before = test::open_fds();
        constexpr int count = 1000;
        constexpr int window = 16; // sockets in flight at once
        std::deque<asio::local::stream_protocol::socket> kept;
        int answered = 0;
        for (int i = 0; i < count; ++i) {
          asio::local::stream_protocol::socket mine(io), theirs(io);
          asio::local::connect_pair(mine, theirs);
          worker.send(test::message<S>(numbered(i)), cocluster::handle(std::move(theirs)));
          kept.push_back(std::move(mine));
          if (kept.size() == window || i + 1 == count) {
            while (!kept.empty()) {
              const auto text = co_await read_all(kept.front());
              answered += text == "worker 1 got " + std::to_string(answered) ? 1 : 0;
              kept.pop_front();
            }
          }
        }
        CHECK(answered == count);
        // Every copy the primary held was closed at its acknowledgement.
        CHECK(co_await test::eventually([&] { return test::open_fds() == before; }));
        CHECK(test::open_fds() == before);
        worker.send(test::message<S>(ask));
        CHECK(test::as_json<S>(co_await reports.async_receive())["fds"] == worker_before);
        worker.disconnect();
        co_await worker.exited();
        co_await exits.check();
      },
      60s);
}

TEST_CASE("a socket sent to a worker that is being killed is closed in the sender") {
  asio::io_context io;
  cluster_of<cocluster::json> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("serve-handles"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    exits.expect_signal(worker, SIGKILL);
    co_await worker.online();
    const auto before = test::open_fds();
    std::vector<asio::local::stream_protocol::socket> kept;
    for (int i = 0; i < 20; ++i) { // some in flight, some queued behind them
      asio::local::stream_protocol::socket mine(io), theirs(io);
      asio::local::connect_pair(mine, theirs);
      worker.send(numbered(i), cocluster::handle(std::move(theirs)));
      kept.push_back(std::move(mine));
    }
    ::kill(worker.pid(), SIGKILL);
    co_await worker.exited();
    // Whatever had reached the worker died with it; what the primary held is closed.
    for (auto& mine : kept) {
      std::string rest;
      auto [ec, n] = co_await asio::async_read(mine, asio::dynamic_buffer(rest), test::as_tuple);
      CHECK(ec == asio::error::eof); // no copy of the other end is left anywhere
      (void)n;
      mine.close();
    }
    kept.clear();
    // Only the worker's own descriptors (its channel, its process watch) are gone.
    auto extra_now = [&] {
      std::vector<std::string> extra;
      for (const auto& [fd, target] : test::open_fds())
        if (!before.count(fd) || before.at(fd) != target)
          extra.push_back(std::to_string(fd) + " -> " + target);
      return extra;
    };
    CHECK(co_await test::eventually([&] { return extra_now().empty(); }));
    CHECK(extra_now() == std::vector<std::string>());
    co_await exits.check();
  });
}

// ---- with Node on the other end ----

TEST_CASE_TEMPLATE("an unmodified Node worker serves a socket a cocluster primary sends it", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cocluster::settings settings;
  settings.exec = *node;
  settings.args = test::strings(test::test_file("node/interop_worker.js"));
  settings.env = std::map<std::string, std::string>{{"BEHAVIOUR", "serve-handle"}};
  cluster.setup_primary(settings);
  auto acceptor = loopback_acceptor(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    co_await worker.online();
    for (int i = 0; i < 3; ++i) { // one at a time through Node's gate
      auto [client, accepted] = co_await tcp_pair(acceptor);
      worker.send(test::message<S>(with_text("request " + std::to_string(i))),
                  cocluster::handle(std::move(accepted)));
      CHECK(co_await read_all(client) == "node served request " + std::to_string(i));
    }
    worker.disconnect();
    co_await worker.exited();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a cocluster worker serves sockets a real Node primary sends it and answers "
                   "its server's getConnections and close",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  const auto report = test::node_primary_report(
      *node, {test::test_file("node/handle_primary.js"), std::string(S::mode_name),
              test::self_binary(), "--worker-scenario", "serve-handles"});
  CHECK(report.value("ok", false));
  CHECK(report["answers"] == nlohmann::json::array({"worker 1 got 0", "worker 1 got 1"}));
  CHECK(report["connections_while_open"] == 1);
  CHECK(report["closed"] == true);
}

TEST_CASE_TEMPLATE("an unmodified Node worker sends and receives on a UDP socket a cocluster "
                   "primary sends it, as Node's udp4 or udp6 dgram.Socket",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cocluster::settings settings;
  settings.exec = *node;
  settings.args = test::strings(test::test_file("node/interop_worker.js"));
  settings.env = std::map<std::string, std::string>{{"BEHAVIOUR", "serve-dgram"}};
  cluster.setup_primary(settings);
  const auto families = udp_families();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    co_await worker.online();
    for (const auto& family : families) {
      CAPTURE(family.type);
      const auto address = asio::ip::make_address(family.host);
      asio::ip::udp::socket sent(io, {address, 0});
      asio::ip::udp::socket listener(io, {address, 0});
      const auto sent_from = sent.local_endpoint();
      worker.send(test::message<S>(datagram_to("a socket", family.host,
                                               listener.local_endpoint().port())),
                  cocluster::handle(std::move(sent)));
      // Node made a dgram.Socket of the type the envelope said, on this very socket.
      auto [text, from] = co_await next_datagram(listener);
      CHECK(text ==
            "node got a socket as " + family.type + " on " + std::to_string(sent_from.port()));
      CHECK(from == sent_from);
      // And it reads from it: a datagram to the socket is answered from it.
      co_await listener.async_send_to(asio::buffer(std::string("ping")), sent_from,
                                      asio::use_awaitable);
      auto [reply, replied_from] = co_await next_datagram(listener);
      CHECK(reply == "node heard ping");
      CHECK(replied_from == sent_from);
    }
    worker.disconnect();
    co_await worker.exited();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a cocluster worker sends from the UDP sockets a real Node primary passes it "
                   "as udp4 and udp6 dgram.Socket handles",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  std::string names;
  nlohmann::json expected = nlohmann::json::array();
  for (const auto& family : udp_families()) {
    names += (names.empty() ? "" : ",") + family.type;
    expected.push_back("worker 1 got " + family.type);
  }
  const auto report = test::node_primary_report(*node,
                                                {test::test_file("node/dgram_primary.js"),
                                                 std::string(S::mode_name), test::self_binary(),
                                                 "--worker-scenario", "serve-handles"},
                                                {"FAMILIES=" + names});
  CHECK(report.value("ok", false));
  CHECK(report["answers"] == expected);
  CHECK(report["from_sent_socket"] ==
        nlohmann::json(std::vector<bool>(expected.size(), true))); // sent from those sockets
}

TEST_SUITE_END();
