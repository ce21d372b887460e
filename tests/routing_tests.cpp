// Broadcast and worker-to-worker messages (cocluster's extension, issue 18 part 2): the pure
// routing decision, then real primaries and workers in both serializations, and the interop
// cases (a Node primary, a Node worker) that skip with a message where node is absent.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "support/exits.hpp"
#include "support/gate.hpp"
#include "support/node.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/skip.hpp"
#include "support/worker_scenarios.hpp"

#include <cocluster/detail/cluster/worker_environment.hpp>
#include <cocluster/detail/ipc/routing.hpp>

using namespace std::chrono_literals;
using cocluster::worker_state;
namespace routing = cocluster::detail::routing;

namespace {

template <class S>
using cluster_of = cocluster::cluster<cocluster::round_robin, S>;

nlohmann::json op(const std::string& name) { return {{"op", name}}; }
nlohmann::json op_to(const std::string& name, int to) { return {{"op", name}, {"to", to}}; }
nlohmann::json op_send(int to, int n) { return {{"op", "send"}, {"to", to}, {"n", n}}; }
nlohmann::json numbered(int i) { return {{"i", i}}; }
nlohmann::json last(int n) { return {{"last", n}}; }
nlohmann::json hello(int id) { return {{"hello", id}}; }
nlohmann::json broadcast_mark(int n) { return {{"b", n}}; }
nlohmann::json echo_of(const nlohmann::json& message) { return {{"echo", message}}; }
nlohmann::json hello_from(int id) { return {{"hello_from", id}}; }
nlohmann::json async_succeeded() { return {{"async", "succeeded"}}; }
std::vector<int> two_ids(int a, int b) {
  std::vector<int> ids;
  ids.push_back(a);
  ids.push_back(b);
  return ids;
}
nlohmann::json sent(int n) { return {{"sent", n}}; }
nlohmann::json got(int from, int count, bool in_order) {
  return {{"got", count}, {"from", from}, {"in_order", in_order}};
}

// What a routed message must carry whole: in advanced a BigInt beyond 2^64, a Map with
// non-string keys and a Buffer; in json a nested object (built outside coroutines: g++ 12
// mishandles braced lists in them).
template <class S>
typename S::value_type rich() {
  if constexpr (std::is_same_v<typename S::value_type, nlohmann::json>) {
    return nlohmann::json{{"kind", "rich"}, {"nested", {{"list", {1, 2.5, "three", nullptr}}}}};
  } else {
    return cocluster::value::object({
        {"kind", cocluster::value("rich")},
        {"big", cocluster::value(cocluster::js::bigint::parse("36893488147419103235"))},
        {"map", cocluster::value::map({{cocluster::value(1), cocluster::value("one")},
                                       {cocluster::value("k"),
                                        cocluster::value::set({cocluster::value(7)})}})},
        {"buf", cocluster::value::buffer(std::vector<std::uint8_t>{0, 1, 254, 255})},
    });
  }
}

template <class S>
bool is_rich(const typename S::value_type& message) {
  if constexpr (std::is_same_v<typename S::value_type, nlohmann::json>) {
    return message.is_object() && message.value("kind", "") == "rich";
  } else {
    const auto* kind = message.is_object() ? message.find("kind") : nullptr;
    return kind != nullptr && *kind == cocluster::value("rich");
  }
}

// {"rich_from": from, "message": message}, with the message as it came.
template <class S>
typename S::value_type rich_report(int from, const typename S::value_type& message) {
  if constexpr (std::is_same_v<typename S::value_type, nlohmann::json>)
    return nlohmann::json{{"rich_from", from}, {"message", message}};
  else
    return cocluster::value::object({{"rich_from", cocluster::value(from)}, {"message", message}});
}

nlohmann::json failure_report(const std::string& prefix, const std::system_error& e) {
  return {{prefix + "_code", e.code().value()},
          {prefix + "_category", e.code().category().name()},
          {prefix + "_what", e.what()}};
}

nlohmann::json error_event_report(const cocluster::worker_error& error) {
  return {{"event_code", error.code.value()}, {"event_what", error.what}};
}

nlohmann::json count_report(int routed) { return {{"routed", routed}}; }
nlohmann::json reached_report(std::size_t n) { return {{"reached", n}}; }

// ---- the worker ("route-peer") ----

// Counts the routed messages of each sender and checks that the numbered ones come in order;
// reports each sender's `last`, each `hello`, and every rich message whole.
template <class S>
struct routed_log {
  std::map<int, int> next;
  std::map<int, int> count;
  std::map<int, bool> in_order;
  int total = 0;
};

template <class S, class Cluster>
asio::awaitable<void> receive_routed(Cluster& cluster, std::shared_ptr<routed_log<S>> log) {
  auto self = cluster.worker();
  auto routed = self.subscribe(cocluster::event::routed_message);
  for (;;) {
    auto [ec, received] = co_await routed.async_receive(test::as_tuple);
    if (ec)
      co_return;
    ++log->total;
    const int from = received.from;
    if (is_rich<S>(received.message)) {
      self.send(rich_report<S>(from, received.message));
      continue;
    }
    const auto json = test::as_json<S>(received.message);
    if (json.contains("i")) {
      if (!log->in_order.count(from))
        log->in_order[from] = true;
      if (json["i"] != log->next[from])
        log->in_order[from] = false;
      log->next[from] = json["i"].template get<int>() + 1;
      ++log->count[from];
    } else if (json.contains("last")) {
      self.send(test::message<S>(got(from, log->count[from], log->in_order[from])));
    } else if (json.contains("hello")) {
      self.send(test::message<S>(hello_from(from)));
    }
  }
}

template <class S, class Cluster>
asio::awaitable<void> forward_errors(Cluster& cluster) {
  auto self = cluster.worker();
  auto errors = self.subscribe(cocluster::event::error);
  for (;;) {
    auto [ec, error] = co_await errors.async_receive(test::as_tuple);
    if (ec)
      co_return;
    self.send(test::message<S>(error_event_report(error)));
  }
}

// Does what the primary's messages say ({"op": ...}); echoes any other message but a string
// while connected.
template <class S, class Cluster>
asio::awaitable<void> route_peer(Cluster& cluster) {
  auto self = cluster.worker();
  auto executor = co_await asio::this_coro::executor;
  auto log = std::make_shared<routed_log<S>>();
  asio::co_spawn(executor, receive_routed<S>(cluster, log),
                 test::exit_on_failure("receiving routed messages"));
  asio::co_spawn(executor, forward_errors<S>(cluster), test::exit_on_failure("forwarding errors"));
  auto commands = self.subscribe(cocluster::event::message);
  for (;;) {
    auto [ec, message] = co_await commands.async_receive(test::as_tuple);
    if (ec)
      co_return;
    const auto command = test::as_json<S>(message);
    const std::string name = command.is_object() ? command.value("op", "") : "";
    if (name == "send") {
      const int to = command["to"];
      const int n = command["n"];
      for (int i = 0; i < n; ++i)
        if (!cluster.send_to(to, test::message<S>(numbered(i))))
          co_await self.async_drain();
      co_await cluster.async_send_to(to, test::message<S>(last(n)));
      self.send(test::message<S>(sent(n)));
    } else if (name == "rich") {
      co_await cluster.async_send_to(command["to"].template get<int>(), rich<S>());
      self.send(test::message<S>(sent(1)));
    } else if (name == "broadcast") {
      const std::size_t reached = co_await cluster.async_broadcast(
          test::message<S>(hello(self.id())));
      self.send(test::message<S>(reached_report(reached)));
    } else if (name == "count") {
      self.send(test::message<S>(count_report(log->total)));
    } else if (name == "send_missing") {
      const int to = command["to"];
      try {
        co_await cluster.async_send_to(to, test::message<S>(numbered(0)));
        self.send(test::message<S>(async_succeeded()));
      } catch (const std::system_error& e) {
        self.send(test::message<S>(failure_report("async", e)));
      }
      cluster.send_to(to, test::message<S>(numbered(0)));     // its failure is an error event
    } else if (!command.is_string() && self.is_connected()) { // (big strings fill queues)
      self.send(test::message<S>(echo_of(command)));
    }
  }
}

} // namespace

// Obeys the primary's routing commands (see route_peer) until disconnected.
WORKER_SCENARIO("route-peer") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      co_await route_peer<S>(cluster);
    });
  });
}

// route-peer, once the test has opened the gate at the given path: until then the worker does
// not connect (nor say online). Exits 97 when the gate stays closed for a minute.
WORKER_SCENARIO("route-peer-gated") {
  if (!test::wait_for_gate(args.at(0)))
    return 97;
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      co_await route_peer<S>(cluster);
    });
  });
}

// Under a Node primary (json): every routing call fails at once; reports what each said as one
// plain message, then stays until disconnected.
WORKER_SCENARIO("route-under-node") {
  return test::run_worker<cocluster::json>([](auto& cluster) -> asio::awaitable<void> {
    nlohmann::json report = nlohmann::json::object();
    try {
      cluster.send_to(2, nlohmann::json("x"));
      report["send_to"] = "returned";
    } catch (const std::system_error& e) {
      report.update(failure_report("send_to", e));
    }
    try {
      cluster.broadcast(nlohmann::json("x"));
      report["broadcast"] = "returned";
    } catch (const std::system_error& e) {
      report.update(failure_report("broadcast", e));
    }
    auto [ec] = co_await cluster.async_send_to(2, nlohmann::json("x"), test::as_tuple);
    report["async_send_to_code"] = ec.value();
    report["async_send_to_category"] = ec.category().name();
    cluster.worker().send(report);
  });
}

TEST_SUITE_BEGIN("routing");

// ---- the pure decision ----

namespace {
std::vector<routing::peer> three_peers() {
  // 1: cocluster, 2: Node, 3: cocluster but leaving.
  return {routing::peer{1, true, true}, routing::peer{2, true, false},
          routing::peer{3, false, true}};
}
} // namespace

TEST_CASE("a route to one connected worker goes to it alone and the right way for its kind") {
  const auto peers = three_peers();
  const auto to_cocluster = routing::plan_route(2, routing::target::worker(1), peers);
  CHECK(!to_cocluster.no_such_worker);
  REQUIRE(to_cocluster.deliveries.size() == 1);
  CHECK(to_cocluster.deliveries[0].first == 1);
  CHECK(to_cocluster.deliveries[0].second == routing::delivery::routed);
  const auto to_node = routing::plan_route(1, routing::target::worker(2), peers);
  REQUIRE(to_node.deliveries.size() == 1);
  CHECK(to_node.deliveries[0].first == 2);
  CHECK(to_node.deliveries[0].second == routing::delivery::plain);
}

TEST_CASE("a route to a worker that is not yet online is held until its online says its kind") {
  const auto peers = std::vector<routing::peer>{routing::peer{1, true, true},
                                                routing::peer{2, true, false, false}};
  const auto plan = routing::plan_route(1, routing::target::worker(2), peers);
  CHECK(!plan.no_such_worker);
  REQUIRE(plan.deliveries.size() == 1);
  CHECK(plan.deliveries[0].second == routing::delivery::hold);
  const auto broadcast = routing::plan_route(1, routing::target::everyone(), peers);
  REQUIRE(broadcast.deliveries.size() == 1);
  CHECK(broadcast.deliveries[0].first == 2);
  CHECK(broadcast.deliveries[0].second == routing::delivery::hold);
}

TEST_CASE("a route to a worker that is leaving or never existed is a failure that delivers "
          "nothing") {
  const auto peers = three_peers();
  for (int id : {3, 4, 0, -1}) {
    CAPTURE(id);
    const auto plan = routing::plan_route(1, routing::target::worker(id), peers);
    CHECK(plan.no_such_worker);
    CHECK(plan.deliveries.empty());
  }
}

TEST_CASE("a broadcast from a worker goes to every connected worker but the sender") {
  const auto peers = three_peers();
  const auto plan = routing::plan_route(1, routing::target::everyone(), peers);
  CHECK(!plan.no_such_worker);
  REQUIRE(plan.deliveries.size() == 1);
  CHECK(plan.deliveries[0].first == 2);
  CHECK(plan.deliveries[0].second == routing::delivery::plain);
  const auto from_node = routing::plan_route(2, routing::target::everyone(), peers);
  REQUIRE(from_node.deliveries.size() == 1);
  CHECK(from_node.deliveries[0].first == 1);
  const auto alone = routing::plan_route(1, routing::target::everyone(),
                                         std::span<const routing::peer>(peers.data(), 1));
  CHECK(!alone.no_such_worker);
  CHECK(alone.deliveries.empty());
}

TEST_CASE("a routing request names an integer worker or all and anything else is unreadable") {
  CHECK(routing::parse_target(routing::route_request(routing::target::worker(7), false)) ==
        routing::target::worker(7));
  CHECK(routing::parse_target(routing::route_request(routing::target::everyone(), true)) ==
        routing::target::everyone());
  CHECK(routing::wants_reply(routing::route_request(routing::target::everyone(), true)));
  CHECK(!routing::wants_reply(routing::route_request(routing::target::everyone(), false)));
  CHECK(routing::parse_target(nlohmann::json{{"to", 3.0}}) == routing::target::worker(3));
  CHECK(!routing::parse_target(nlohmann::json{{"to", 3.5}}));
  CHECK(!routing::parse_target(nlohmann::json{{"to", "everyone"}}));
  CHECK(!routing::parse_target(nlohmann::json{{"to", nullptr}}));
  CHECK(!routing::parse_target(nlohmann::json{{"to", 4294967296.0}}));
  CHECK(!routing::parse_target(nlohmann::json::object()));
}

TEST_CASE("a failed route is described with the call and the worker ids") {
  const auto gone = routing::route_failed(routing::target::worker(7),
                                          routing::failure::no_such_worker, {7}, 3);
  CHECK(gone["ack"] == 3);
  CHECK(routing::error_of(gone) == cocluster::errc::no_such_worker);
  CHECK(routing::describe_failure(gone) ==
        "cocluster: send_to: worker 7 is not connected (it exited, is leaving, or never "
        "existed)");
  const auto full = routing::route_failed(routing::target::everyone(),
                                          routing::failure::write_queue_full, {2, 5}, {});
  CHECK(!full.contains("ack"));
  CHECK(routing::error_of(full) == cocluster::errc::write_queue_full);
  CHECK(routing::describe_failure(full) ==
        "cocluster: broadcast: the primary's write queue to workers 2, 5 is over "
        "write_queue_limit; the message was not queued for them");
  const auto bad = routing::route_failed(std::nullopt, routing::failure::bad_request, {}, 1);
  CHECK(routing::error_of(bad) == cocluster::errc::malformed_message);
}

TEST_CASE("a worker believes that its primary routes only when COCLUSTER_PRIMARY names its own "
          "id") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  const std::string fd = std::to_string(pair[0]);
  struct expectation {
    const char* primary; // COCLUSTER_PRIMARY, or null for none
    bool routes;
  };
  for (const auto& expected : {expectation{"5", true}, expectation{"3", false},
                               expectation{"", false}, expectation{nullptr, false}}) {
    CAPTURE((expected.primary ? expected.primary : "(unset)"));
    ::setenv("NODE_UNIQUE_ID", "5", 1);
    ::setenv("NODE_CHANNEL_FD", fd.c_str(), 1);
    if (expected.primary)
      ::setenv(routing::env_primary, expected.primary, 1);
    const auto environment = cocluster::detail::take_worker_environment();
    REQUIRE(environment);
    CHECK(environment->id == 5);
    CHECK(environment->cocluster_primary == expected.routes);
    CHECK(std::getenv(routing::env_primary) == nullptr); // read once, gone for its children
    CHECK(std::getenv("NODE_UNIQUE_ID") == nullptr);
  }
  ::close(pair[0]);
  ::close(pair[1]);
}

// ---- primaries and workers ----

namespace {

// The next message of `messages` from `worker`, as JSON; messages from others are kept in
// `others` (by worker id) for later.
template <class S, class Stream, class Worker>
asio::awaitable<nlohmann::json> next_from(Stream& messages, const Worker& worker,
                                          std::map<int, std::vector<nlohmann::json>>& others) {
  if (auto it = others.find(worker.id()); it != others.end() && !it->second.empty()) {
    auto first = it->second.front();
    it->second.erase(it->second.begin());
    co_return first;
  }
  for (;;) {
    auto event = co_await messages.async_receive();
    auto json = test::as_json<S>(event.message);
    if (event.worker == worker)
      co_return json;
    others[event.worker.id()].push_back(std::move(json));
  }
}

} // namespace

TEST_CASE_TEMPLATE("a broadcast from the primary reaches every connected worker once and returns "
                   "their number",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("route-peer"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto messages = cluster.subscribe(cocluster::event::message);
    std::vector<typename cluster_of<S>::worker_type> workers;
    for (int i = 0; i < 3; ++i)
      workers.push_back(cluster.fork());
    for (auto& worker : workers)
      co_await worker.online();
    std::map<int, std::vector<nlohmann::json>> others;
    for (int round = 1; round <= 2; ++round) {
      CHECK(cluster.broadcast(test::message<S>(broadcast_mark(round))) == 3);
      // Each worker echoes what it got: the next message of each is this round's (a duplicate
      // of an earlier round would come first).
      for (auto& worker : workers)
        CHECK(co_await next_from<S>(messages, worker, others) == echo_of(broadcast_mark(round)));
    }
    // A worker that is leaving is not reached, and not counted.
    workers[2].disconnect();
    co_await workers[2].disconnected();
    CHECK(cluster.broadcast(test::message<S>(broadcast_mark(3))) == 2);
    const std::size_t reached = co_await cluster.async_broadcast(
        test::message<S>(broadcast_mark(4)));
    CHECK(reached == 2);
    for (int round = 3; round <= 4; ++round)
      for (int i = 0; i < 2; ++i)
        CHECK(co_await next_from<S>(messages, workers[static_cast<std::size_t>(i)], others) ==
              echo_of(broadcast_mark(round)));
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a broadcast skips a worker whose write queue is over its limit and reports it on that "
          "worker") {
  using S = cocluster::json;
  asio::io_context io;
  cocluster::cluster_options options;
  options.ipc.write_queue_limit = 3 * 1024 * 1024;
  cluster_of<S> cluster(io, options);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("route-peer"));
  test::run(io, [&]() -> asio::awaitable<void> {
    std::vector<cluster_of<S>::worker_type> workers;
    for (int i = 0; i < 3; ++i)
      workers.push_back(cluster.fork());
    for (auto& worker : workers)
      co_await worker.online();
    auto stopped = workers[0];
    auto errors = stopped.subscribe(cocluster::event::error);
    ::kill(stopped.pid(), SIGSTOP); // it reads nothing more: its queue grows
    const nlohmann::json big = std::string(1024 * 1024, 'x');
    std::size_t reached = 3;
    int sent = 0;
    while (reached == 3 && sent < 64) {
      reached = cluster.broadcast(big);
      ++sent;
      for (std::size_t i = 1; i < workers.size(); ++i) // the others keep up
        co_await workers[i].async_drain();
    }
    CHECK(reached == 2);
    CHECK(sent > 1);
    auto error = co_await errors.async_receive();
    CHECK(error.code == cocluster::errc::write_queue_full);
    CHECK(error.what.find("broadcast") != std::string::npos);
    ::kill(stopped.pid(), SIGKILL);
    exits.expect_signal(stopped, SIGKILL);
    co_await stopped.exited();
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a worker sends to another by id and the message arrives whole with the "
                   "sender's id",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("route-peer"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto messages = cluster.subscribe(cocluster::event::message);
    auto receiver = cluster.fork();
    auto sender = cluster.fork();
    co_await receiver.online();
    co_await sender.online();
    sender.send(test::message<S>(op_to("rich", receiver.id())));
    bool reported = false;
    bool confirmed = false;
    while (!reported || !confirmed) {
      auto event = co_await messages.async_receive();
      if (event.worker == sender) {
        CHECK(test::as_json<S>(event.message) == sent(1));
        confirmed = true;
        continue;
      }
      REQUIRE(event.worker == receiver);
      if constexpr (std::is_same_v<typename S::value_type, nlohmann::json>) {
        CHECK(event.message["rich_from"] == sender.id());
        CHECK(event.message["message"] == rich<S>());
      } else {
        REQUIRE(event.message.find("rich_from") != nullptr);
        CHECK(*event.message.find("rich_from") == cocluster::value(sender.id()));
        REQUIRE(event.message.find("message") != nullptr);
        CHECK(*event.message.find("message") == rich<S>()); // the BigInt, Map and Buffer whole
      }
      reported = true;
    }
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("thousands of messages from one worker to another arrive in the order sent", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("route-peer"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto messages = cluster.subscribe(cocluster::event::message);
    auto receiver = cluster.fork();
    auto sender = cluster.fork();
    co_await receiver.online();
    co_await sender.online();
    constexpr int count = 3000;
    sender.send(test::message<S>(op_send(receiver.id(), count)));
    std::map<int, std::vector<nlohmann::json>> others;
    CHECK(co_await next_from<S>(messages, receiver, others) == got(sender.id(), count, true));
    CHECK(co_await next_from<S>(messages, sender, others) == sent(count));
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("messages routed to a worker that is not yet online wait for it and arrive "
                   "in order",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto messages = cluster.subscribe(cocluster::event::message);
    const test::gate receiver_may_connect;
    cluster.setup_primary(test::scenario("route-peer-gated",
                                         test::strings(receiver_may_connect.path())));
    auto receiver = cluster.fork();
    cluster.setup_primary(test::scenario("route-peer"));
    auto sender = cluster.fork();
    co_await sender.online();
    CHECK(receiver.state() == worker_state::none);
    sender.send(test::message<S>(op_send(receiver.id(), 200)));
    std::map<int, std::vector<nlohmann::json>> others;
    // The sender's last message was held, not refused: its async_send_to succeeded, while the
    // receiver waits at its gate.
    CHECK(co_await next_from<S>(messages, sender, others) == sent(200));
    CHECK(receiver.state() == worker_state::none);
    receiver_may_connect.open();
    CHECK(co_await next_from<S>(messages, receiver, others) == got(sender.id(), 200, true));
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("messages held for a worker that dies before it is online are reported to their "
          "sender") {
  using S = cocluster::json;
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto messages = cluster.subscribe(cocluster::event::message);
    const test::gate never_opened; // the receiver never connects: it dies at its gate
    cluster.setup_primary(test::scenario("route-peer-gated", test::strings(never_opened.path())));
    auto receiver = cluster.fork();
    cluster.setup_primary(test::scenario("route-peer"));
    auto sender = cluster.fork();
    co_await sender.online();
    // Both the awaited and the plain send are held: the first one succeeds.
    sender.send(test::message<S>(op_to("send_missing", receiver.id())));
    std::map<int, std::vector<nlohmann::json>> others;
    CHECK(co_await next_from<S>(messages, sender, others) == async_succeeded());
    REQUIRE(receiver.state() == worker_state::none);
    receiver.kill(SIGKILL);
    exits.expect_signal(receiver, SIGKILL);
    const auto event = co_await next_from<S>(messages, sender, others);
    CHECK(event["event_code"] == static_cast<int>(cocluster::errc::no_such_worker));
    CHECK(event["event_what"].get<std::string>().find("worker " + std::to_string(receiver.id()) +
                                                      " is not connected") != std::string::npos);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a broadcast from a worker reaches every other worker but not itself", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("route-peer"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto messages = cluster.subscribe(cocluster::event::message);
    std::vector<typename cluster_of<S>::worker_type> workers;
    for (int i = 0; i < 4; ++i)
      workers.push_back(cluster.fork());
    for (auto& worker : workers)
      co_await worker.online();
    auto& broadcaster = workers[1];
    broadcaster.send(test::message<S>(op("broadcast")));
    std::map<int, std::vector<nlohmann::json>> others;
    CHECK(co_await next_from<S>(messages, broadcaster, others) == reached_report(3));
    for (auto& worker : workers)
      if (worker != broadcaster)
        CHECK(co_await next_from<S>(messages, worker, others) == hello_from(broadcaster.id()));
    // Each one counts what was routed to it: the broadcaster got nothing.
    for (auto& worker : workers) {
      worker.send(test::message<S>(op("count")));
      CHECK(co_await next_from<S>(messages, worker, others) ==
            count_report(worker == broadcaster ? 0 : 1));
    }
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a message to a worker that is gone or never existed is an error that names "
                   "the id to the sender",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("route-peer"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto messages = cluster.subscribe(cocluster::event::message);
    auto gone = cluster.fork();
    auto sender = cluster.fork();
    co_await gone.online();
    co_await sender.online();
    gone.kill(SIGKILL);
    exits.expect_signal(gone, SIGKILL);
    co_await gone.exited();
    std::map<int, std::vector<nlohmann::json>> others;
    for (int id : two_ids(gone.id(), 99)) {
      CAPTURE(id);
      const std::string named = "worker " + std::to_string(id) + " is not connected";
      sender.send(test::message<S>(op_to("send_missing", id)));
      // async_send_to: thrown with the code (the caller knows the id it named).
      const auto thrown = co_await next_from<S>(messages, sender, others);
      CHECK(thrown["async_code"] == static_cast<int>(cocluster::errc::no_such_worker));
      CHECK(thrown["async_category"] == "cocluster");
      // send_to: an error event on the sender's own worker object.
      const auto event = co_await next_from<S>(messages, sender, others);
      CHECK(event["event_code"] == static_cast<int>(cocluster::errc::no_such_worker));
      CHECK(event["event_what"].template get<std::string>().find("send_to: " + named) !=
            std::string::npos);
    }
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("send_to in the primary is a wrong call") {
  asio::io_context io;
  cluster_of<cocluster::json> cluster(io);
  CHECK_THROWS_AS(cluster.send_to(1, nlohmann::json("x")), std::system_error);
  try {
    cluster.send_to(1, nlohmann::json("x"));
  } catch (const std::system_error& e) {
    CHECK(e.code() == cocluster::errc::wrong_role);
  }
  CHECK(cluster.broadcast(nlohmann::json("nobody")) == 0);
}

// ---- interop ----

TEST_CASE("under a real Node primary the routing calls fail at once and send it nothing") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  const auto report = test::node_primary_report(
      *node, {test::test_file("node/heartbeat_primary.js"), test::self_binary(),
              "--worker-scenario", "route-under-node"});
  REQUIRE(report.contains("acts"));
  for (const auto& act : report["acts"]) // Node's own acts only: no cocluster.route
    CHECK(act.get<std::string>().rfind("cocluster.", 0) == std::string::npos);
  REQUIRE(report["messages"].size() == 1); // the worker's report alone
  const auto& said = report["messages"][0];
  const int no_routing = static_cast<int>(cocluster::errc::no_routing);
  CHECK(said["send_to_code"] == no_routing);
  CHECK(said["send_to_what"].get<std::string>().find("not a cocluster primary") !=
        std::string::npos);
  CHECK(said["broadcast_code"] == no_routing);
  CHECK(said["async_send_to_code"] == no_routing);
  CHECK(said["async_send_to_category"] == "cocluster");
  CHECK(report["exit"]["code"] == 0);
}

TEST_CASE_TEMPLATE("a Node worker under a cocluster primary gets broadcasts and messages routed "
                   "to it as plain messages",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("route-peer"));
  cocluster::fork_options node_fork;
  node_fork.overrides.exec = *node;
  node_fork.overrides.args = std::vector<std::string>{test::test_file("node/interop_worker.js")};
  node_fork.env = std::map<std::string, std::string>{{"BEHAVIOUR", "echo"}};
  test::run(io, [&]() -> asio::awaitable<void> {
    auto messages = cluster.subscribe(cocluster::event::message);
    auto peer = cluster.fork();
    auto node_worker = cluster.fork_with(node_fork);
    // Routed by the cocluster worker as soon as it runs, most likely before the Node worker
    // (100+ ms to start) is online and its kind known: held until then, then sent to it as
    // bare messages, in order.
    peer.send(test::message<S>(op_send(node_worker.id(), 3)));
    co_await peer.online();
    co_await node_worker.online();
    std::map<int, std::vector<nlohmann::json>> others;
    CHECK((co_await next_from<S>(messages, node_worker, others))["hello"] == "from node");
    for (int i = 0; i < 3; ++i)
      CHECK(co_await next_from<S>(messages, node_worker, others) == echo_of(numbered(i)));
    CHECK(co_await next_from<S>(messages, node_worker, others) == echo_of(last(3)));
    CHECK(co_await next_from<S>(messages, peer, others) == sent(3));
    CHECK(cluster.broadcast(test::message<S>(broadcast_mark(1))) == 2);
    CHECK(co_await next_from<S>(messages, node_worker, others) == echo_of(broadcast_mark(1)));
    CHECK(co_await next_from<S>(messages, peer, others) == echo_of(broadcast_mark(1)));
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_SUITE_END();
