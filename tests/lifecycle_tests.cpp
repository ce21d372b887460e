// Worker lifecycle, ported from Node's test/parallel/test-cluster-*.js (the name of each Node
// test is in brackets). Each case runs under every serialization.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/processes.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/worker_scenarios.hpp"

using namespace std::chrono_literals;
using cocluster::worker_state;

// ---- helpers ----

namespace {

nlohmann::json echo_of(const nlohmann::json& message) { return {{"echo", message}}; }
nlohmann::json numbered(int i) { return {{"i", i}}; }
nlohmann::json hello_message() { return {{"hello", "world"}, {"n", 1}}; }
nlohmann::json forged_internal() { return {{"cmd", "NODE_CLUSTER"}, {"ack", -1}}; }
nlohmann::json connected(bool value) { return {{"connected", value}}; }

template <class S>
using cluster_of = cocluster::cluster<cocluster::round_robin, S>;

} // namespace

// ---- worker scenarios ----

// Disconnects itself (cluster.worker.disconnect()).
WORKER_SCENARIO("disconnect-self") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      cluster.worker().disconnect();
      co_return;
    });
  });
}

// Kills itself (cluster.worker.kill()).
WORKER_SCENARIO("kill-self") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      cluster.worker().kill();
      co_return;
    });
  });
}

// On disconnect, waits 10 ms and exits with 42 [worker-forced-exit].
WORKER_SCENARIO("sentinel-on-disconnect") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      co_await cluster.worker().disconnected();
      co_await test::sleep(10ms);
      std::exit(42);
    });
  });
}

// Echoes every message back as {"echo": message}.
WORKER_SCENARIO("echo") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      auto messages = cluster.worker().subscribe(cocluster::event::message);
      for (;;) {
        auto [ec, message] = co_await messages.async_receive(test::as_tuple);
        if (ec)
          co_return;
        cluster.worker().send(test::message<S>(echo_of(test::as_json<S>(message))));
      }
    });
  });
}

// Does what the primary asks: "disconnect" or "destroy" [concurrent-disconnect].
WORKER_SCENARIO("obey") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      auto messages = cluster.worker().subscribe(cocluster::event::message);
      for (;;) {
        auto [ec, message] = co_await messages.async_receive(test::as_tuple);
        if (ec)
          co_return;
        const auto order = test::as_json<S>(message).template get<std::string>();
        if (!cluster.worker().is_connected())
          continue;
        if (order == "disconnect")
          cluster.worker().disconnect();
        else if (order == "destroy")
          cluster.worker().kill();
      }
    });
  });
}

// Reports is_connected() and exits 7 if it is false when its disconnect event comes.
WORKER_SCENARIO("check-connected") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      auto self = cluster.worker();
      self.send(test::message<S>(connected(self.is_connected())));
      co_await self.disconnected();
      std::exit(self.is_connected() ? 1 : 7);
    });
  });
}

// Ignores whatever arrives until "bye", then disconnects [invalid-message].
WORKER_SCENARIO("disconnect-on-bye") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      auto messages = cluster.worker().subscribe(cocluster::event::message);
      for (;;) {
        auto [ec, message] = co_await messages.async_receive(test::as_tuple);
        if (ec)
          co_return;
        if (test::as_json<S>(message) == "bye") {
          cluster.worker().disconnect();
          co_return;
        }
      }
    });
  });
}

// On disconnect, stays alive for the given milliseconds, then exits 0.
WORKER_SCENARIO("linger") {
  const int ms = std::stoi(args.at(0));
  return test::with_serialization([ms]<class S>() {
    return test::run_worker<S>([ms](auto& cluster) -> asio::awaitable<void> {
      co_await cluster.worker().disconnected();
      co_await test::sleep(std::chrono::milliseconds(ms));
    });
  });
}

TEST_SUITE_BEGIN("lifecycle");

TEST_CASE_TEMPLATE("fork, online and exit are reported with the worker in the state Node has at each "
                   "[basic]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("idle"));
  std::vector<std::string> log;
  test::run(io, [&]() -> asio::awaitable<void> {
    auto forks = cluster.subscribe(cocluster::event::fork);
    auto onlines = cluster.subscribe(cocluster::event::online);
    auto exits = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    CHECK(worker.id() == 1);
    CHECK(worker.state() == worker_state::none);
    CHECK(cluster.workers().size() == 1);
    CHECK(cluster.workers().at(1) == worker);

    // Events are queued, so a consumer sees the worker's state now, not at the event: states
    // are checked where they cannot have moved on.
    auto forked = co_await forks.async_receive();
    CHECK(forked.worker == worker);

    // The worker's own event comes before the cluster's.
    worker.async_wait_online([&](std::error_code ec) {
      CHECK(!ec);
      log.push_back("worker online");
    });
    auto online = co_await onlines.async_receive();
    log.push_back("cluster online");
    CHECK(online.worker == worker);
    CHECK(worker.state() == worker_state::online);

    worker.kill();
    auto exited = co_await exits.async_receive();
    CHECK(exited.worker == worker);
    CHECK(worker.state() == worker_state::dead);
    CHECK(!exited.status.code);
    CHECK(exited.status.signal_name() == "SIGTERM");
    CHECK(exited.status == worker.status().value());
  });
  CHECK(log == std::vector<std::string>{"worker online", "cluster online"});
}

TEST_CASE_TEMPLATE("a worker that exits on its own gets one disconnect and one exit, "
                   "exited_after_disconnect false [worker-exit]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("exit-with", {"42"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto disconnects = cluster.subscribe(cocluster::event::disconnect);
    auto exits = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    co_await worker.disconnected();
    // Node overwrites 'dead' with 'disconnected' when exit came first; cocluster never goes
    // back from dead.
    CHECK((worker.state() == worker_state::disconnected || worker.state() == worker_state::dead));
    CHECK(worker.exited_after_disconnect() == false);
    auto status = co_await worker.exited();
    CHECK(status.code == 42);
    CHECK(!status.signal);
    CHECK(worker.state() == worker_state::dead);
    CHECK(worker.exited_after_disconnect() == false);
    co_await disconnects.async_receive();
    co_await exits.async_receive();
    co_await test::sleep(50ms);
    CHECK(disconnects.size() == 0);
    CHECK(exits.size() == 0);
    CHECK(cluster.workers().empty());
  });
}

TEST_CASE_TEMPLATE("a worker killed by SIGKILL reports the signal and exited_after_disconnect "
                   "false [worker-kill, worker-kill-signal]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("idle"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto exits = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    co_await worker.online();
    worker.kill("SIGKILL");
    co_await worker.disconnected();
    CHECK(worker.exited_after_disconnect() == false);
    auto status = co_await worker.exited();
    CHECK(!status.code);
    CHECK(status.signal == SIGKILL);
    CHECK(status.signal_name() == "SIGKILL");
    CHECK(worker.exited_after_disconnect() == false);
    auto event = co_await exits.async_receive();
    CHECK(event.worker.id() == worker.id());
    CHECK(cluster.workers().count(event.worker.id()) == 0);
  });
}

TEST_CASE_TEMPLATE("the exit event carries the worker's own exit code and the same worker "
                   "[worker-death]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("exit-with", {"3"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto exits = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    auto event = co_await exits.async_receive();
    CHECK(event.worker == worker);
    CHECK(event.status.code == 3);
    CHECK(event.status.signal_name().empty());
  });
}

TEST_CASE_TEMPLATE("disconnect() from the primary lets the worker's own disconnect handler run "
                   "and sets exited_after_disconnect [worker-disconnect]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("sentinel-on-disconnect"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    co_await worker.online();
    CHECK(&worker.disconnect() == &worker);
    co_await worker.disconnected();
    CHECK(worker.exited_after_disconnect() == true);
    CHECK(!worker.is_connected());
    auto status = co_await worker.exited();
    CHECK(status.code == 42); // the worker's handler chose the code: no forced exit
    CHECK(worker.exited_after_disconnect() == true);
  });
}

TEST_CASE_TEMPLATE("a worker that disconnects or kills itself is seen as leaving on purpose "
                   "[kill-disconnect]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  for (const char* scenario : {"disconnect-self", "kill-self"}) {
    CAPTURE(scenario);
    asio::io_context io;
    cluster_of<S> cluster(io);
    cluster.setup_primary(test::scenario(scenario));
    test::run(io, [&]() -> asio::awaitable<void> {
      auto worker = cluster.fork();
      std::optional<bool> at_disconnect;
      worker.async_wait_disconnect(
          [&](std::error_code) { at_disconnect = worker.exited_after_disconnect(); });
      auto status = co_await worker.exited();
      CHECK(status.code == 0);
      CHECK(worker.exited_after_disconnect() == true);
      const bool seen = co_await test::eventually([&] { return at_disconnect.has_value(); });
      CHECK(seen);
      CHECK(at_disconnect == true);
    });
  }
}

TEST_CASE_TEMPLATE("a worker whose channel closes unexpectedly exits with code 0 before its own "
                   "handler's timer [worker-forced-exit]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  pid_t pid = -1;
  {
    asio::io_context io;
    cluster_of<S> cluster(io);
    cluster.setup_primary(test::scenario("sentinel-on-disconnect"));
    test::run(io, [&]() -> asio::awaitable<void> {
      auto worker = cluster.fork();
      co_await worker.online();
      pid = worker.pid();
    });
  } // the cluster goes away: the worker's channel closes without the protocol
  const int status = test::wait_for_child(pid);
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE_TEMPLATE("a worker's own disconnect waits for the primary's acknowledgement "
                   "[disconnect-exitedAfterDisconnect-race]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("disconnect-self"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto disconnects = cluster.subscribe(cocluster::event::disconnect);
    auto worker = cluster.fork();
    auto event = co_await disconnects.async_receive();
    // The flag was set by the worker's message before its channel closed.
    CHECK(event.worker.exited_after_disconnect() == true);
    const auto status = co_await worker.exited();
    CHECK(status.code == 0);
  });
}

TEST_CASE_TEMPLATE("cluster disconnect ends idle workers and the cluster can fork again "
                   "[disconnect-idle-worker]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("idle"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto first = cluster.fork();
    auto second = cluster.fork();
    co_await first.online();
    co_await second.online();
    co_await cluster.disconnect();
    CHECK(cluster.workers().empty());
    auto third = cluster.fork();
    CHECK(third.id() == 3);
    co_await third.online();
    co_await cluster.disconnect();
    CHECK(cluster.workers().empty());
  });
}

TEST_CASE_TEMPLATE("cluster disconnect with no workers completes, but never inside the call "
                   "[disconnect-with-no-workers]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  bool completed = false;
  cluster.async_disconnect([&](std::error_code ec) {
    CHECK(!ec);
    completed = true;
  });
  CHECK(!completed);
  io.run();
  CHECK(completed);
}

TEST_CASE_TEMPLATE("cluster disconnect completes only after every worker has exited, not at the "
                   "first exit as in Node",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    cluster.setup_primary(test::scenario("linger", {"0"}));
    auto quick = cluster.fork();
    cluster.setup_primary(test::scenario("linger", {"600"}));
    auto slow = cluster.fork();
    co_await quick.online();
    co_await slow.online();
    co_await cluster.disconnect();
    CHECK(quick.is_dead());
    CHECK(slow.is_dead());
    CHECK(cluster.workers().empty());
  });
}

TEST_CASE_TEMPLATE("twenty workers disconnecting and destroying themselves at once all exit "
                   "cleanly [concurrent-disconnect]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("obey"));
  constexpr int count = 20;
  test::run(io, [&]() -> asio::awaitable<void> {
    auto errors = cluster.subscribe(cocluster::event::error);
    auto disconnects = cluster.subscribe(cocluster::event::disconnect);
    std::vector<typename cluster_of<S>::worker_type> workers;
    for (int i = 0; i < count; ++i)
      workers.push_back(cluster.fork());
    for (auto& worker : workers)
      co_await worker.online();
    for (int i = 0; i < count; ++i)
      if (workers[static_cast<std::size_t>(i)].is_connected())
        workers[static_cast<std::size_t>(i)].send(
            test::message<S>(i % 2 ? "disconnect" : "destroy"));
    // Each disconnect makes the primary ask every worker still connected to disconnect too.
    for (int seen = 0; seen < count; ++seen) {
      co_await disconnects.async_receive();
      for (auto& worker : workers)
        if (worker.is_connected())
          worker.send(test::message<S>("disconnect"));
    }
    for (auto& worker : workers) {
      auto status = co_await worker.exited();
      CHECK(status.code == 0);
      CHECK(!status.signal);
    }
    while (auto error = errors.try_receive()) {
      const auto code = error->error.code;
      CHECK_MESSAGE((code == std::errc::broken_pipe || code == std::errc::connection_reset),
                    error->error.what);
    }
  });
}

TEST_CASE_TEMPLATE("messages travel both ways, to the worker's stream and the cluster's [message]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("echo"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto cluster_messages = cluster.subscribe(cocluster::event::message);
    auto worker = cluster.fork();
    auto worker_messages = worker.subscribe(cocluster::event::message);
    const nlohmann::json hello = hello_message();
    CHECK(worker.send(test::message<S>(hello)));
    auto reply = co_await worker_messages.async_receive();
    CHECK(test::as_json<S>(reply) == echo_of(hello));
    auto event = co_await cluster_messages.async_receive();
    CHECK(event.worker == worker);
    CHECK(test::as_json<S>(event.message) == echo_of(hello));
    co_await cluster.disconnect();
  });
}

TEST_CASE_TEMPLATE("messages sent before anyone subscribed wait for the first subscription",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("echo"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    for (int i = 0; i < 3; ++i)
      worker.send(test::message<S>(numbered(i)));
    co_await worker.async_send(test::message<S>("flush"));
    co_await test::sleep(200ms);
    auto messages = worker.subscribe(cocluster::event::message);
    for (int i = 0; i < 3; ++i) {
      auto message = co_await messages.async_receive();
      CHECK(test::as_json<S>(message) == echo_of(numbered(i)));
    }
    auto last = co_await messages.async_receive();
    CHECK(test::as_json<S>(last) == echo_of("flush"));
    co_await cluster.disconnect();
  });
}

TEST_CASE_TEMPLATE("a forged internal message with an unknown ack is ignored by the worker "
                   "[invalid-message]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("disconnect-on-bye"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    co_await worker.online();
    worker.send(test::message<S>(forged_internal()));
    worker.send(test::message<S>("bye"));
    auto status = co_await worker.exited();
    CHECK(status.code == 0);
    CHECK(!status.signal);
    CHECK(worker.exited_after_disconnect() == true);
  });
}

TEST_CASE_TEMPLATE("is_connected is true after fork and false at disconnect, on both sides "
                   "[worker-isconnected]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("check-connected"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    CHECK(worker.is_connected());
    auto report = co_await messages.async_receive();
    CHECK(test::as_json<S>(report) == connected(true));
    worker.disconnect();
    co_await worker.disconnected();
    CHECK(!worker.is_connected());
    const auto status = co_await worker.exited();
    CHECK(status.code == 7); // the worker saw false at its disconnect
  });
}

TEST_CASE_TEMPLATE("is_dead is false while the worker lives and true from its exit on "
                   "[worker-isdead]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("idle"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    CHECK(!worker.is_dead());
    co_await worker.online();
    CHECK(!worker.is_dead());
    worker.kill();
    co_await worker.exited();
    CHECK(worker.is_dead());
  });
}

TEST_CASE_TEMPLATE("a worker receives a message sent when it came online [worker-init]", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("echo"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto onlines = cluster.subscribe(cocluster::event::online);
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto online = co_await onlines.async_receive();
    online.worker.send(test::message<S>("welcome"));
    auto reply = co_await messages.async_receive();
    CHECK(test::as_json<S>(reply) == echo_of("welcome"));
    co_await cluster.disconnect();
  });
}

TEST_CASE_TEMPLATE("lifecycle waits are level-triggered: awaiting an event that already happened "
                   "completes at once with the same result",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("exit-with", {"5"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto keep = worker;
    auto first = co_await worker.exited();
    co_await test::sleep(100ms);
    auto again = co_await keep.exited();
    CHECK(again == first);
    co_await keep.online(); // it came online before exiting
    co_await keep.disconnected();
  });
}

TEST_CASE_TEMPLATE("waiting for online on a worker that dies first ends with worker_exited, "
                   "not a hang",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cocluster::settings s;
  s.exec = "/bin/true";
  s.args = std::vector<std::string>{};
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto [ec] = co_await worker.async_wait_online(test::as_tuple);
    CHECK(ec == cocluster::errc::worker_exited);
    const auto status = co_await worker.exited();
    CHECK(status.code == 0);
  });
}

TEST_CASE_TEMPLATE("a lifecycle wait can race a timer, so disconnect can be followed by kill "
                   "after a timeout",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("linger", {"30000"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    co_await worker.online();
    worker.disconnect();
    asio::steady_timer timeout(io, 300ms);
    auto first = co_await (worker.exited() || timeout.async_wait(asio::use_awaitable));
    CHECK(first.index() == 1); // the worker lingers
    worker.kill();
    auto status = co_await worker.exited();
    CHECK(status.signal_name() == "SIGTERM");
  });
}

TEST_SUITE_END();
