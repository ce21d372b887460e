// Wire compatibility with real Node: a cocluster worker under a Node primary, and unmodified
// Node workers under a cocluster primary. Skipped visibly (test::skip) where node is absent.
#include <doctest/doctest.h>

#include <csignal>
#include <string>
#include <vector>

#include "support/exits.hpp"
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

nlohmann::json greeting(int id) { return {{"from", "cocluster"}, {"id", id}}; }
nlohmann::json echo_of(const nlohmann::json& message) { return {{"echo", message}}; }
nlohmann::json ping() { return {{"ping", 1}, {"text", "caf\xc3\xa9 \xe2\x9c\x93"}}; }

// Node workers are told what to do through the environment.
template <class S>
cocluster::settings node_worker(const std::string& node, const std::string& behaviour) {
  cocluster::settings s;
  s.exec = node;
  s.args = std::vector<std::string>{test::test_file("node/interop_worker.js")};
  s.env = std::map<std::string, std::string>{{"BEHAVIOUR", behaviour}};
  return s;
}

// One HTTP request with Connection: close; returns the body.
asio::awaitable<std::string> http_get(int port) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::socket socket(executor);
  co_await socket.async_connect({asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(port)},
                                asio::use_awaitable);
  const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  std::string response;
  // Read to the end (the server closes: Connection: close).
  co_await asio::async_read(socket, asio::dynamic_buffer(response),
                            cocluster::as_tuple(asio::use_awaitable));
  const auto body = response.find("\r\n\r\n");
  co_return body == std::string::npos ? std::string() : response.substr(body + 4);
}

// The rich values of node/interop_rich.js, built here (outside coroutines: g++ 12 mishandles
// initializer lists in them).
cocluster::value rich_from_cocluster() {
  return cocluster::value::object({
      {"buf", cocluster::value::buffer(std::vector<std::uint8_t>{9, 8, 7})},
      {"map", cocluster::value::map({{cocluster::value("k"), cocluster::value("v")}})},
      {"set", cocluster::value::set({cocluster::value(42)})},
      {"date", cocluster::value::date(1600000000000.0)},
      {"big", cocluster::value(cocluster::js::bigint::parse("36893488147419103235"))}, // 2^65+3
  });
}
cocluster::value rich_from_node() {
  return cocluster::value::object({
      {"buf", cocluster::value::buffer(std::vector<std::uint8_t>{0, 1, 2, 255})},
      {"map", cocluster::value::map({{cocluster::value("a"), cocluster::value(1)},
                                     {cocluster::value(2), cocluster::value("b")}})},
      {"set", cocluster::value::set({cocluster::value("x"), cocluster::value(3)})},
      {"date", cocluster::value::date(1700000000123.0)},
      {"big", cocluster::value(cocluster::js::bigint::parse("1180591620717411303425"))}, // 2^70+1
  });
}
cocluster::value rich_reply(const cocluster::value& received) {
  return cocluster::value::object({{"echo", received}, {"made", rich_from_cocluster()}});
}

} // namespace

// Under a Node primary in advanced mode: answers each message with an echo and its own value.
WORKER_SCENARIO("rich-under-node") {
  return test::run_worker<cocluster::advanced>([](auto& cluster) -> asio::awaitable<void> {
    auto self = cluster.worker();
    auto messages = self.subscribe(cocluster::event::message);
    for (;;) {
      auto [ec, message] = co_await messages.async_receive(test::as_tuple);
      if (ec)
        co_return;
      self.send(rich_reply(message));
    }
  });
}

// Under a Node primary: says hello, echoes every message, leaves when disconnected.
WORKER_SCENARIO("under-node") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      auto self = cluster.worker();
      auto messages = self.subscribe(cocluster::event::message);
      self.send(test::message<S>(greeting(self.id())));
      for (;;) {
        auto [ec, message] = co_await messages.async_receive(test::as_tuple);
        if (ec)
          co_return;
        self.send(test::message<S>(echo_of(test::as_json<S>(message))));
      }
    });
  });
}

namespace {

// Answers one line with "<worker id> <line>" (a coroutine of its own, its arguments held in its
// frame).
asio::awaitable<void> answer_line(asio::ip::tcp::socket connection, int id) {
  std::string line;
  auto [read_error, n] = co_await asio::async_read_until(connection, asio::dynamic_buffer(line),
                                                         '\n', test::as_tuple);
  if (read_error)
    co_return;
  const std::string reply = std::to_string(id) + " " + line.substr(0, n);
  co_await asio::async_write(connection, asio::buffer(reply), test::as_tuple);
}

} // namespace

// interop_net_primary.js runs `<this binary> --worker-scenario serve host=<address>`. The net
// suite's "serve" (net_scenarios.cpp) is not linked into this binary, so this is the part of it
// that the Node primary uses: listens on a port the primary shares, answers each connection's
// first line with "<worker id> <line>", and leaves when the primary disconnects it.
WORKER_SCENARIO("serve") {
  cocluster::tcp_listen_options options(0);
  options.with_host("127.0.0.1");
  for (const auto& arg : args)
    if (arg.rfind("host=", 0) == 0)
      options.with_host(arg.substr(5));
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const int id = cluster.worker().id();
        auto server = co_await cluster.listen(options);
        for (;;) {
          auto [ec, socket] = co_await server.async_accept(test::as_tuple);
          if (ec) // the disconnect closed the server
            co_return;
          asio::co_spawn(io, answer_line(std::move(socket), id),
                         test::exit_on_failure("serve: answering a connection"));
        }
      },
      test::exit_on_failure("serve"));
  io.run();
  return 0;
}

// udp_primary.js runs `<this binary> --worker-scenario udp-serve`: binds UDP 127.0.0.1 port 0
// through the primary, answers each datagram with "<worker id> <datagram>", and leaves when the
// primary disconnects it.
WORKER_SCENARIO("udp-serve") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto self = cluster.worker();
        auto socket = co_await cluster.bind(cocluster::udp_bind_options(0, "127.0.0.1"));
        // The end of the channel (the primary's disconnect) ends the message stream.
        auto messages = self.subscribe(cocluster::event::message);
        const std::string id = std::to_string(self.id());
        co_await test::answer_datagrams(socket, messages, [&](const std::string& datagram) {
          return id + " " + datagram;
        });
      },
      test::exit_on_failure("udp-serve"));
  io.run();
  return 0;
}

// Reports ready the way a supervised worker does, then stays until disconnected.
WORKER_SCENARIO("ready-under-node") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      cocluster::report_ready(cluster);
      co_return;
    });
  });
}

TEST_SUITE_BEGIN("interop");

TEST_CASE("a cocluster worker under a real Node primary sends no heartbeat, and its readiness "
          "call arrives as the message PM2's wait_ready expects") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  const auto report = test::node_primary_report(
      *node, {test::test_file("node/heartbeat_primary.js"), test::self_binary(),
              "--worker-scenario", "ready-under-node"});
  REQUIRE(report.contains("acts"));
  for (const auto& act : report["acts"]) // Node's own acts only: online, exitedAfterDisconnect...
    CHECK(act.get<std::string>().rfind("cocluster.", 0) == std::string::npos);
  CHECK(report["messages"] == nlohmann::json::array({"ready"}));
  CHECK(report["exit"]["code"] == 0);
}

TEST_CASE_TEMPLATE("a cocluster worker under a real Node primary comes online, trades messages and "
                   "exits cleanly on disconnect",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  const auto report = test::node_primary_report(
      *node, {test::test_file("node/interop_primary.js"), std::string(S::mode_name),
              test::self_binary(), "--worker-scenario", "under-node"});
  CHECK(report.value("ok", false));
  CHECK(report["seen"]["disconnect"]["exitedAfterDisconnect"] == true);
  // How the cocluster worker ended, as the Node primary saw it.
  CHECK(report["seen"]["exit"]["code"] == 0);
  CHECK(report["seen"]["exit"]["signal"].is_null());
}

TEST_CASE_TEMPLATE("an unmodified Node worker under a cocluster primary comes online, trades "
                   "messages and exits cleanly on disconnect",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(node_worker<S>(*node, "echo"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    co_await worker.online();
    auto hello = test::as_json<S>(co_await messages.async_receive());
    CHECK(hello["hello"] == "from node");
    CHECK(hello["id"] == worker.id());
    CHECK(hello["unique_id_gone"] == true);
    worker.send(test::message<S>(ping()));
    auto echo = test::as_json<S>(co_await messages.async_receive());
    CHECK(echo == echo_of(ping()));
    worker.disconnect();
    co_await worker.exited();
    CHECK(worker.exited_after_disconnect() == true);
    co_await exits.check(); // code 0, no signal
  });
}

TEST_CASE_TEMPLATE("Node workers that leave in each way get the exited_after_disconnect value Node "
                   "gives them",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  struct expectation {
    std::string behaviour;
    int code;
    bool exited_after_disconnect;
  };
  for (const auto& expected : {expectation{"disconnect", 0, true}, expectation{"kill", 0, true},
                               expectation{"exit3", 3, false}}) {
    CAPTURE(expected.behaviour);
    asio::io_context io;
    cluster_of<S> cluster(io);
    test::exit_watch exits(cluster);
    cluster.setup_primary(node_worker<S>(*node, expected.behaviour));
    test::run(io, [&]() -> asio::awaitable<void> {
      auto worker = cluster.fork();
      exits.expect_code(worker, expected.code);
      std::optional<bool> at_disconnect;
      worker.async_wait_disconnect([&](std::error_code) {
        at_disconnect = worker.exited_after_disconnect();
      });
      co_await worker.exited();
      CHECK(worker.exited_after_disconnect() == expected.exited_after_disconnect);
      const bool seen = co_await test::eventually([&] { return at_disconnect.has_value(); });
      CHECK(seen);
      CHECK(at_disconnect == expected.exited_after_disconnect);
      co_await exits.check();
    });
  }
  // And one killed from the primary, as Node's worker.kill() does.
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(node_worker<S>(*node, "echo"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    exits.expect_signal(worker, SIGTERM);
    co_await worker.online();
    worker.kill();
    co_await worker.exited();
    CHECK(worker.exited_after_disconnect() == false);
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("two unmodified Node HTTP workers share a port under a cocluster primary: they "
                   "alternate under round-robin, and both serve under a shared socket",
                   Policy, cocluster::round_robin, cocluster::shared_socket) {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  asio::io_context io;
  cocluster::cluster<Policy> cluster(io);
  test::exit_watch exits(cluster);
  cocluster::settings s;
  s.exec = *node;
  s.args = test::strings(test::test_file("node/interop_http_worker.js"));
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto listening = cluster.subscribe(cocluster::event::listening);
    auto one = cluster.fork();
    auto two = cluster.fork();
    auto first = co_await listening.async_receive();
    auto second = co_await listening.async_receive();
    CHECK(first.address.port == second.address.port);
    std::vector<std::string> bodies;
    for (int i = 0; i < 6; ++i)
      bodies.push_back(co_await http_get(first.address.port));
    for (const auto& body : bodies)
      CHECK((body == "hello from node worker 1\n" || body == "hello from node worker 2\n"));
    if constexpr (std::is_same_v<Policy, cocluster::round_robin>)
      for (std::size_t i = 1; i < bodies.size(); ++i)
        CHECK(bodies[i] != bodies[i - 1]); // strict alternation
    co_await cluster.disconnect();
    CHECK(one.exited_after_disconnect() == true);
    CHECK(two.exited_after_disconnect() == true);
    co_await exits.check(); // both with code 0
  });
}

TEST_CASE("cocluster workers serve a shared port under a real Node primary, in RR and SCHED_NONE") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  for (const std::string policy : {"rr", "none"}) {
    CAPTURE(policy);
    const auto report = test::node_primary_report(
        *node, {test::test_file("node/interop_net_primary.js"), test::self_binary()},
        {"NODE_CLUSTER_SCHED_POLICY=" + policy});
    CHECK(report.value("ok", false));
    CHECK(report["policy"] == (policy == "rr" ? 2 : 1)); // Node's SCHED_RR / SCHED_NONE
    // How each cocluster worker ended, as the Node primary saw it.
    REQUIRE(report["codes"].size() == 2);
    for (const auto& ending : report["codes"]) {
      CHECK(ending["code"] == 0);
      CHECK(ending["signal"].is_null());
      CHECK(ending["exitedAfterDisconnect"] == true);
    }
  }
}

TEST_CASE("an unmodified Node worker in advanced mode trades a Buffer, a Map, a Set, a Date and "
          "a BigInt with a cocluster primary") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  asio::io_context io;
  cocluster::cluster<cocluster::round_robin, cocluster::advanced> cluster(io);
  test::exit_watch exits(cluster);
  cocluster::settings s;
  s.exec = *node;
  s.args = test::strings(test::test_file("node/interop_rich.js"));
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    co_await worker.online();
    worker.send(rich_from_cocluster());
    auto reply = co_await messages.async_receive();
    CHECK(reply["failed"].as_string() == ""); // what Node found in our value
    CHECK(reply["echo"] == rich_from_cocluster());
    CHECK(reply["made"] == rich_from_node());
    CHECK(reply["made"]["big"].as_bigint() ==
          cocluster::js::bigint::parse("1180591620717411303425"));
    worker.disconnect();
    co_await worker.exited();
    CHECK(worker.exited_after_disconnect() == true);
    co_await exits.check();
  });
}

TEST_CASE("a cocluster worker under a real Node primary in advanced mode trades a Buffer, a Map, "
          "a Set, a Date and a BigInt") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  const auto report = test::node_primary_report(*node, {test::test_file("node/interop_rich.js"),
                                                        test::self_binary(), "--worker-scenario",
                                                        "rich-under-node"});
  CHECK(report.value("ok", false));
  // How the cocluster worker ended, as the Node primary saw it.
  CHECK(report["code"] == 0);
  CHECK(report["signal"].is_null());
}

TEST_CASE("an unmodified Node worker's dgram bind is a UDP listening event in a cocluster "
          "primary, and its socket answers") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cocluster::settings s;
  s.exec = *node;
  s.args = test::strings(test::test_file("node/udp_worker.js"));
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    const auto address = co_await worker.listening();
    CHECK(address.type == cocluster::address_type::udp4);
    CHECK(address.address == "127.0.0.1");
    REQUIRE(address.port > 0);
    asio::ip::udp::socket client(io, {asio::ip::make_address("127.0.0.1"), 0});
    const asio::ip::udp::endpoint target(asio::ip::make_address("127.0.0.1"),
                                         static_cast<unsigned short>(address.port));
    co_await client.async_send_to(asio::buffer(std::string("ping")), target, asio::use_awaitable);
    char answer[64];
    asio::ip::udp::endpoint from;
    const auto n = co_await client.async_receive_from(asio::buffer(answer), from,
                                                      asio::use_awaitable);
    CHECK(std::string(answer, n) == std::to_string(worker.id()) + " ping");
    worker.disconnect();
    co_await worker.exited();
    CHECK(worker.exited_after_disconnect() == true);
    co_await exits.check();
  });
}

TEST_CASE("a cocluster worker's UDP bind is a listening event in a real Node primary, as a Node "
          "worker's dgram bind is") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  const auto report = test::node_primary_report(*node, {test::test_file("node/udp_primary.js"),
                                                        test::self_binary()});
  CHECK_MESSAGE(report.value("ok", false), report.dump());
  REQUIRE(report.contains("address"));
  CHECK(report["address"]["addressType"] == "udp4");
  CHECK(report["address"]["address"] == "127.0.0.1");
  CHECK(report["address"]["port"].get<int>() > 0);
  CHECK(report["answer"] == "1 ping");
  CHECK(report["code"] == 0);
}

TEST_SUITE_END();
