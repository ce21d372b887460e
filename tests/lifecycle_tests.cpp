// Worker lifecycle, ported from Node's test/parallel/test-cluster-*.js (the name of each Node
// test is in brackets). Each case runs under every serialization.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/exits.hpp"
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
nlohmann::json holder_message(pid_t pid) { return {{"holder", pid}}; }

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

// On disconnect, waits the given milliseconds and exits with 42 [worker-forced-exit].
WORKER_SCENARIO("sentinel-on-disconnect") {
  const int ms = std::stoi(args.at(0));
  return test::with_serialization([ms]<class S>() {
    return test::run_worker<S>([ms](auto& cluster) -> asio::awaitable<void> {
      co_await cluster.worker().disconnected();
      co_await test::sleep(std::chrono::milliseconds(ms));
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

// Echoes every message back as {"echo": message}; after echoing "bye" (once it is written), it
// disconnects itself.
WORKER_SCENARIO("echo-until-bye") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      auto self = cluster.worker();
      auto messages = self.subscribe(cocluster::event::message);
      for (;;) {
        auto [ec, message] = co_await messages.async_receive(test::as_tuple);
        if (ec)
          co_return;
        const auto json = test::as_json<S>(message);
        if (json != "bye") {
          self.send(test::message<S>(echo_of(json)));
          continue;
        }
        co_await self.async_send(test::message<S>(echo_of(json)));
        self.disconnect();
        co_return;
      }
    });
  });
}

// Exits (code 0) while a child of its own keeps its end of the channel open; it tells the
// primary that child's pid first. The child lives until it is killed, or 60 s.
WORKER_SCENARIO("exit-leaving-channel-open") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      const pid_t holder = ::fork();
      if (holder < 0)
        std::exit(1);
      if (holder == 0) { // holds every descriptor of the worker, the channel's included
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        for (int i = 0; i < 600; ++i)
          ::usleep(100 * 1000);
        ::_exit(0);
      }
      co_await cluster.worker().async_send(test::message<S>(holder_message(holder)));
      std::exit(0);
    });
  });
}

TEST_SUITE_BEGIN("lifecycle");

TEST_CASE_TEMPLATE(
    "fork, online and exit are reported with the worker in the state Node has at each "
    "[basic]",
    S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("idle"));
  std::vector<std::string> log;
  test::run(io, [&]() -> asio::awaitable<void> {
    auto forks = cluster.subscribe(cocluster::event::fork);
    auto onlines = cluster.subscribe(cocluster::event::online);
    auto exit_events = cluster.subscribe(cocluster::event::exit);
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
    exits.expect_signal(worker, SIGTERM);
    auto exited = co_await exit_events.async_receive();
    CHECK(exited.worker == worker);
    CHECK(worker.state() == worker_state::dead);
    CHECK(!exited.status.code);
    CHECK(exited.status.signal_name() == "SIGTERM");
    CHECK(exited.status == worker.status().value());
    co_await exits.check();
  });
  CHECK(log == std::vector<std::string>{"worker online", "cluster online"});
}

TEST_CASE_TEMPLATE("a worker that exits on its own gets one disconnect and one exit, "
                   "exited_after_disconnect false [worker-exit]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("exit-with", {"42"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto disconnects = cluster.subscribe(cocluster::event::disconnect);
    auto exit_events = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    exits.expect_code(worker, 42);
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
    const auto first_disconnect = co_await disconnects.async_receive();
    CHECK(first_disconnect.worker == worker);
    const auto first_exit = co_await exit_events.async_receive();
    CHECK(first_exit.worker == worker);
    CHECK(cluster.workers().empty());
    // A second worker, forked after the first one's events: the next events on both streams
    // are its own, so the first had no second disconnect or exit.
    auto marker = cluster.fork();
    exits.expect_code(marker, 42);
    const auto marker_disconnect = co_await disconnects.async_receive();
    CHECK(marker_disconnect.worker == marker);
    const auto marker_exit = co_await exit_events.async_receive();
    CHECK(marker_exit.worker == marker);
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a worker killed by SIGKILL reports the signal and exited_after_disconnect "
                   "false [worker-kill, worker-kill-signal]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("idle"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto exit_events = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    exits.expect_signal(worker, SIGKILL);
    co_await worker.online();
    worker.kill("SIGKILL");
    co_await worker.disconnected();
    CHECK(worker.exited_after_disconnect() == false);
    auto status = co_await worker.exited();
    CHECK(!status.code);
    CHECK(status.signal == SIGKILL);
    CHECK(status.signal_name() == "SIGKILL");
    CHECK(worker.exited_after_disconnect() == false);
    auto event = co_await exit_events.async_receive();
    CHECK(event.worker.id() == worker.id());
    CHECK(cluster.workers().count(event.worker.id()) == 0);
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("the exit event carries the worker's own exit code and the same worker "
                   "[worker-death]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("exit-with", {"3"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto exit_events = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    exits.expect_code(worker, 3);
    auto event = co_await exit_events.async_receive();
    CHECK(event.worker == worker);
    CHECK(event.status.code == 3);
    CHECK(event.status.signal_name().empty());
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("disconnect() from the primary lets the worker's own disconnect handler run "
                   "and sets exited_after_disconnect [worker-disconnect]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("sentinel-on-disconnect", {"10"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    // The worker's handler chooses the code: a forced exit would end it with 0 first.
    exits.expect_code(worker, 42);
    co_await worker.online();
    CHECK(&worker.disconnect() == &worker);
    co_await worker.disconnected();
    CHECK(worker.exited_after_disconnect() == true);
    CHECK(!worker.is_connected());
    co_await worker.exited();
    CHECK(worker.exited_after_disconnect() == true);
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a worker that disconnects or kills itself is seen as leaving on purpose "
                   "[kill-disconnect]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  for (const char* scenario : {"disconnect-self", "kill-self"}) {
    CAPTURE(scenario);
    asio::io_context io;
    cluster_of<S> cluster(io);
    test::exit_watch exits(cluster);
    cluster.setup_primary(test::scenario(scenario));
    test::run(io, [&]() -> asio::awaitable<void> {
      auto worker = cluster.fork();
      std::optional<bool> at_disconnect;
      worker.async_wait_disconnect([&](std::error_code) {
        at_disconnect = worker.exited_after_disconnect();
      });
      co_await worker.exited();
      CHECK(worker.exited_after_disconnect() == true);
      const bool seen = co_await test::eventually([&] { return at_disconnect.has_value(); });
      CHECK(seen);
      CHECK(at_disconnect == true);
      co_await exits.check(); // exit code 0, as Node's worker.kill() in a worker gives
    });
  }
}

TEST_CASE_TEMPLATE("a worker whose channel closes unexpectedly exits with code 0 before its own "
                   "handler's timer [worker-forced-exit]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  // No exit_watch: the worker outlives the cluster object, so this test reaps it itself.
  pid_t pid = -1;
  {
    asio::io_context io;
    cluster_of<S> cluster(io);
    // The worker's own handler would exit with 42 only after 60 s, long after wait_for_child
    // gives up: an exit code 0 comes from the forced exit alone.
    cluster.setup_primary(test::scenario("sentinel-on-disconnect", {"60000"}));
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
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("disconnect-self"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto disconnects = cluster.subscribe(cocluster::event::disconnect);
    auto worker = cluster.fork();
    std::optional<bool> at_disconnect;
    worker.async_wait_disconnect([&](std::error_code) {
      at_disconnect = worker.exited_after_disconnect();
    });
    auto event = co_await disconnects.async_receive();
    CHECK(event.worker == worker);
    // The flag was set by the worker's message before its channel closed.
    REQUIRE(at_disconnect.has_value());
    CHECK(at_disconnect == true);
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("cluster disconnect ends idle workers and the cluster can fork again "
                   "[disconnect-idle-worker]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
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
    co_await exits.check();
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
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto exit_events = cluster.subscribe(cocluster::event::exit);
    cluster.setup_primary(test::scenario("linger", {"0"}));
    auto quick = cluster.fork();
    // The slow one stays after its disconnect until this test kills it (or 60 s).
    cluster.setup_primary(test::scenario("linger", {"60000"}));
    auto slow = cluster.fork();
    exits.expect_signal(slow, SIGTERM);
    co_await quick.online();
    co_await slow.online();
    std::optional<bool> slow_dead_at_completion;
    cluster.async_disconnect([&](std::error_code ec) {
      CHECK(!ec);
      slow_dead_at_completion = slow.is_dead();
    });
    const auto quick_ended = co_await exit_events.async_receive();
    CHECK(quick_ended.worker == quick);
    // Only now can the slow one end: a disconnect that completed at the first exit saw it alive.
    slow.kill();
    const auto slow_ended = co_await exit_events.async_receive();
    CHECK(slow_ended.worker == slow);
    const bool completed = co_await test::eventually([&] {
      return slow_dead_at_completion.has_value();
    });
    CHECK(completed);
    CHECK(slow_dead_at_completion == true);
    CHECK(cluster.workers().empty());
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("twenty workers disconnecting and destroying themselves at once all exit "
                   "cleanly [concurrent-disconnect]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
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
        workers[static_cast<std::size_t>(i)].send(test::message<S>(i % 2 ? "disconnect"
                                                                         : "destroy"));
    // Each disconnect makes the primary ask every worker still connected to disconnect too.
    for (int seen = 0; seen < count; ++seen) {
      co_await disconnects.async_receive();
      for (auto& worker : workers)
        if (worker.is_connected())
          worker.send(test::message<S>("disconnect"));
    }
    co_await exits.check(); // every one with code 0
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
  test::exit_watch exits(cluster);
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
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("messages sent before anyone subscribed wait for the first subscription", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("echo-until-bye"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    for (int i = 0; i < 3; ++i)
      worker.send(test::message<S>(numbered(i)));
    worker.send(test::message<S>("bye"));
    // The worker disconnects after its last echo was written, so every echo arrived (unclaimed)
    // before the disconnect.
    co_await worker.disconnected();
    auto messages = worker.subscribe(cocluster::event::message);
    for (int i = 0; i < 3; ++i) {
      auto message = co_await messages.async_receive();
      CHECK(test::as_json<S>(message) == echo_of(numbered(i)));
    }
    auto last = co_await messages.async_receive();
    CHECK(test::as_json<S>(last) == echo_of("bye"));
    auto [ec, none] = co_await messages.async_receive(test::as_tuple);
    CHECK(ec == cocluster::errc::channel_closed); // the backlog, and nothing else
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a forged internal message with an unknown ack is ignored by the worker "
                   "[invalid-message]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("disconnect-on-bye"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    co_await worker.online();
    worker.send(test::message<S>(forged_internal()));
    worker.send(test::message<S>("bye"));
    co_await worker.exited();
    CHECK(worker.exited_after_disconnect() == true); // it got to "bye" and left on purpose
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("is_connected is true after fork and false at disconnect, on both sides "
                   "[worker-isconnected]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("check-connected"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    exits.expect_code(worker, 7); // the worker saw false at its disconnect
    auto messages = worker.subscribe(cocluster::event::message);
    CHECK(worker.is_connected());
    auto report = co_await messages.async_receive();
    CHECK(test::as_json<S>(report) == connected(true));
    worker.disconnect();
    co_await worker.disconnected();
    CHECK(!worker.is_connected());
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("is_dead is false while the worker lives and true from its exit on "
                   "[worker-isdead]",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("idle"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    exits.expect_signal(worker, SIGTERM);
    CHECK(!worker.is_dead());
    co_await worker.online();
    CHECK(!worker.is_dead());
    worker.kill();
    co_await worker.exited();
    CHECK(worker.is_dead());
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a worker receives a message sent when it came online [worker-init]", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
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
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("lifecycle waits are level-triggered: awaiting an event that already happened "
                   "completes at once with the same result",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("exit-with", {"5"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto exit_events = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    exits.expect_code(worker, 5);
    auto keep = worker;
    // The cluster's exit event is published after the worker's own exit: every one-shot event of
    // the worker has happened by the time it arrives.
    const auto event = co_await exit_events.async_receive();
    CHECK(event.worker == worker);
    CHECK(event.status.code == 5);
    const auto first = co_await worker.exited();
    CHECK(first == event.status);
    const auto again = co_await keep.exited();
    CHECK(again.code == 5);
    CHECK(again == event.status);
    co_await keep.online(); // it came online before exiting
    co_await keep.disconnected();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("waiting for online on a worker that dies first ends with worker_exited, "
                   "not a hang",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cocluster::settings s;
  s.exec = "/bin/true";
  s.args = std::vector<std::string>{};
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto [ec] = co_await worker.async_wait_online(test::as_tuple);
    CHECK(ec == cocluster::errc::worker_exited);
    CHECK(worker.status().has_value()); // it completed because the worker had exited
    co_await exits.check();             // with /bin/true's code 0
  });
}

TEST_CASE_TEMPLATE("a lifecycle wait can race a timer, so disconnect can be followed by kill "
                   "after a timeout",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  // After its disconnect the worker stays until it is killed (or 60 s, far past this test's
  // limit): only the timer can win the race below.
  cluster.setup_primary(test::scenario("linger", {"60000"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    exits.expect_signal(worker, SIGTERM);
    co_await worker.online();
    worker.disconnect();
    co_await worker.disconnected();
    asio::steady_timer timeout(io, 20ms);
    auto first = co_await (worker.exited() || timeout.async_wait(asio::use_awaitable));
    CHECK(first.index() == 1);
    CHECK(!worker.is_dead());
    // The cancelled wait took nothing away: the next one sees the kill.
    worker.kill();
    auto status = co_await worker.exited();
    CHECK(status.signal_name() == "SIGTERM");
    CHECK(worker.exited_after_disconnect() == true); // it was disconnected first
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a worker that has disconnected but not exited stays in cluster.workers() "
                   "until it exits",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("linger", {"60000"})); // stays until killed
  test::run(io, [&]() -> asio::awaitable<void> {
    auto disconnects = cluster.subscribe(cocluster::event::disconnect);
    auto exit_events = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    exits.expect_signal(worker, SIGTERM);
    co_await worker.online();
    worker.disconnect();
    const auto disconnect_event = co_await disconnects.async_receive();
    CHECK(disconnect_event.worker == worker);
    CHECK(!worker.is_dead());
    CHECK(cluster.workers().count(worker.id()) == 1);
    worker.kill();
    const auto exit_event = co_await exit_events.async_receive();
    CHECK(exit_event.worker == worker);
    CHECK(cluster.workers().count(worker.id()) == 0);
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a worker that has exited while its channel is still open stays in "
                   "cluster.workers() until the channel closes",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("exit-leaving-channel-open"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto disconnects = cluster.subscribe(cocluster::event::disconnect);
    auto exit_events = cluster.subscribe(cocluster::event::exit);
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    const auto told = test::as_json<S>(co_await messages.async_receive());
    const pid_t holder = told.at("holder").template get<pid_t>();
    REQUIRE(holder > 0);
    // The worker exits; its child still holds the channel, so there is no disconnect yet.
    const auto exit_event = co_await exit_events.async_receive();
    CHECK(exit_event.worker == worker);
    CHECK(worker.is_connected());
    CHECK(disconnects.size() == 0);
    CHECK(cluster.workers().count(worker.id()) == 1);
    ::kill(holder, SIGKILL); // the channel's last holder goes: end of file
    const auto disconnect_event = co_await disconnects.async_receive();
    CHECK(disconnect_event.worker == worker);
    CHECK(cluster.workers().count(worker.id()) == 0);
    co_await exits.check();
  });
}

TEST_SUITE_END();
