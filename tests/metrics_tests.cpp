// Per-worker metrics (cluster::async_metrics, supervisor::async_metrics): real workers, real
// connections and messages, and the snapshot's counts checked against what the test did; the
// /proc reading against real processes. The pure parts (the /proc parser, the Prometheus text)
// are in the decisions suite (metrics_text_tests.cpp).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <cocluster/detail/cluster/metrics_collector.hpp>

#include "support/exits.hpp"
#include "support/gate.hpp"
#include "support/net.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/worker_scenarios.hpp"

using namespace std::chrono_literals;

namespace {

// Answers the first line of a connection with "<id> <line>", then holds the connection open
// until the client closes it (so that it counts as open).
asio::awaitable<void> answer_and_hold(asio::ip::tcp::socket socket, int id) {
  std::string in;
  auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in), '\n',
                                                 test::as_tuple);
  if (ec)
    co_return;
  const std::string reply = std::to_string(id) + " " + in.substr(0, n);
  co_await asio::async_write(socket, asio::buffer(reply), test::as_tuple);
  char byte;
  co_await socket.async_read_some(asio::buffer(&byte, 1), test::as_tuple); // until closed
}

} // namespace

// Listens on 127.0.0.1:<port> (round-robin), reports {"port": p}, answers and holds every
// connection, answers each "ping" with "pong", and on "block <path>" answers "blocking" and
// blocks its event loop until the test opens the gate at <path> (a worker that cannot answer).
WORKER_SCENARIO("metrics-server") {
  const int port = std::stoi(args.at(0));
  return test::run_worker<cocluster::json>([port](auto& cluster) -> asio::awaitable<void> {
    auto self = cluster.worker();
    auto messages = self.subscribe(cocluster::event::message);
    auto server = co_await cluster.listen(
        cocluster::tcp_listen_options(port).with_host("127.0.0.1"));
    asio::co_spawn(
        cluster.get_executor(),
        [server, id = self.id(),
         executor = cluster.get_executor()]() mutable -> asio::awaitable<void> {
          for (;;) {
            auto [ec, socket] = co_await server.async_accept(test::as_tuple);
            if (ec)
              co_return;
            asio::co_spawn(executor, answer_and_hold(std::move(socket), id),
                           test::exit_on_failure("metrics-server: a connection"));
          }
        },
        test::exit_on_failure("metrics-server: accepting"));
    nlohmann::json ready;
    ready["port"] = server.port();
    self.send(ready);
    for (;;) {
      auto [ec, message] = co_await messages.async_receive(test::as_tuple);
      if (ec)
        co_return;
      if (message == "ping")
        self.send(std::string("pong"));
      else if (message.is_string() && message.template get<std::string>().rfind("block ", 0) == 0) {
        self.send(std::string("blocking")); // (written at once: the first of its turn)
        if (!test::wait_for_gate(message.template get<std::string>().substr(6)))
          std::_Exit(97);
      }
    }
  });
}

namespace {

using cluster_type = cocluster::cluster<>;
using worker_type = cluster_type::worker_type;

// Forks `count` metrics-server workers on one port; returns them and the port once all listen.
asio::awaitable<std::pair<std::vector<worker_type>, int>> fork_servers(cluster_type& cluster,
                                                                       int count) {
  cluster.setup_primary(test::scenario("metrics-server", test::strings("0")));
  auto messages = cluster.subscribe(cocluster::event::message);
  std::vector<worker_type> workers;
  for (int i = 0; i < count; ++i)
    workers.push_back(cluster.fork());
  int port = 0;
  for (int i = 0; i < count; ++i) {
    auto event = co_await messages.async_receive(asio::use_awaitable);
    port = event.message["port"].get<int>();
  }
  co_return std::make_pair(workers, port);
}

// Sends `worker` `count` pings and waits for as many pongs.
asio::awaitable<void> ping(worker_type worker, int count) {
  auto replies = worker.subscribe(cocluster::event::message);
  for (int i = 0; i < count; ++i)
    worker.send(std::string("ping"));
  for (int i = 0; i < count; ++i) {
    auto reply = co_await replies.async_receive(asio::use_awaitable);
    REQUIRE(reply == "pong");
  }
}

const cocluster::worker_metrics* find(const cocluster::cluster_metrics& m, int id) {
  for (const auto& worker : m.workers)
    if (worker.id == id)
      return &worker;
  return nullptr;
}

} // namespace

TEST_SUITE_BEGIN("metrics");

TEST_CASE("a snapshot counts the connections handed to each worker and the messages each way "
          "and asks each worker for its open connections") {
  asio::io_context io;
  cluster_type cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto [workers, port] = co_await fork_servers(cluster, 2);
    co_await ping(workers[0], 3);
    co_await ping(workers[1], 5);
    std::map<int, int> pings;
    pings[workers[0].id()] = 3;
    pings[workers[1].id()] = 5;
    // Connections answered, and held open.
    std::vector<test::held_connection> held;
    std::map<int, std::uint64_t> answered;
    for (int i = 0; i < 6; ++i) {
      held.push_back(co_await test::ask_and_hold(port, "hello"));
      ++answered[test::answered_by(held.back().reply)];
    }
    REQUIRE(answered.size() == 2);

    const auto snapshot = co_await cluster.async_metrics();
    REQUIRE(snapshot.workers.size() == 2);
    std::uint64_t user_received = 0;
    for (const auto& worker : workers) {
      const auto* m = find(snapshot, worker.id());
      REQUIRE(m != nullptr);
      CAPTURE(worker.id());
      CHECK(m->pid == worker.pid());
      CHECK(m->state == cocluster::worker_state::listening);
      CHECK(m->cocluster_peer);
      CHECK(m->connections_handed == answered[worker.id()]);
      CHECK(m->connections_refused == 0);
      REQUIRE(m->open_connections.has_value());
      CHECK(*m->open_connections == answered[worker.id()]);
      CHECK(m->ipc.user_messages_sent == static_cast<std::uint64_t>(pings[worker.id()]));
      // Its {"port"} report, then a pong per ping.
      CHECK(m->ipc.user_messages_received == static_cast<std::uint64_t>(pings[worker.id()] + 1));
      CHECK(m->ipc.messages_sent >= m->ipc.user_messages_sent + m->connections_handed);
      CHECK(m->ipc.bytes_sent > 0);
      CHECK(m->ipc.bytes_received > 0);
      CHECK(m->queued_bytes == 0);
      CHECK(m->start_time <= *m->online_time);
      CHECK(*m->online_time <= *m->ready_time);
      CHECK(*m->ready_time <= snapshot.time);
      CHECK_FALSE(m->slot.has_value());
      CHECK_FALSE(m->restarts.has_value());
      REQUIRE(m->usage.has_value());
      CHECK(m->usage->resident_memory_bytes > 0);
      user_received += m->ipc.user_messages_received;
    }
    CHECK(snapshot.totals.connections_handed == 6);
    CHECK(snapshot.totals.open_connections == 6);
    CHECK(snapshot.totals.ipc.user_messages_sent == 8);
    CHECK(snapshot.totals.ipc.user_messages_received == user_received);
    REQUIRE(snapshot.primary.has_value());
    CHECK(snapshot.primary->resident_memory_bytes > 0);

    // The connections end: the workers find them closed.
    held.clear();
    std::uint64_t open = 6;
    for (int i = 0; i < 250 && open != 0; ++i) {
      co_await test::sleep(20ms);
      open = (co_await cluster.async_metrics()).totals.open_connections;
    }
    CHECK(open == 0);

    // A worker that leaves the registry keeps its counts in the totals.
    const int gone = workers[0].id();
    workers[0].disconnect();
    co_await workers[0].exited();
    const bool removed = co_await test::eventually([&] { return !cluster.find_worker(gone); });
    REQUIRE(removed);
    const auto after = co_await cluster.async_metrics();
    REQUIRE(after.workers.size() == 1);
    CHECK(after.workers[0].id == workers[1].id());
    CHECK(after.totals.connections_handed == 6);
    CHECK(after.totals.ipc.user_messages_sent == 8);
    CHECK(after.totals.ipc.user_messages_received >= user_received);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a worker that does not answer within the wait has no open connections in the "
          "snapshot and the snapshot completes without it") {
  asio::io_context io;
  cluster_type cluster(io);
  test::exit_watch exits(cluster);
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        auto [workers, port] = co_await fork_servers(cluster, 2);
        co_await ping(workers[0], 1); // (both loops run)
        co_await ping(workers[1], 1);
        auto replies = workers[0].subscribe(cocluster::event::message);
        const test::gate unblock;
        workers[0].send("block " + unblock.path()); // its loop blocks until the gate opens
        const auto blocking = co_await replies.async_receive(asio::use_awaitable);
        REQUIRE(blocking == "blocking");
        // The gate opens only after the snapshot: it completed without the blocked worker.
        const auto snapshot = co_await cluster.async_metrics();
        unblock.open();
        const auto* blocked = find(snapshot, workers[0].id());
        const auto* answering = find(snapshot, workers[1].id());
        REQUIRE(blocked != nullptr);
        REQUIRE(answering != nullptr);
        CHECK_FALSE(blocked->open_connections.has_value());
        CHECK(answering->open_connections == std::optional<std::uint64_t>(0));
        CHECK(blocked->usage.has_value()); // its process is still there
        co_await cluster.disconnect();
        co_await exits.check();
      },
      30s);
}

TEST_CASE("the supervisor's snapshot gives each worker its slot and readiness time and counts "
          "the restarts of a slot") {
  asio::io_context io;
  cluster_type cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("metrics-server", test::strings("0")));
  cocluster::supervisor_options options;
  options.workers = 2;
  options.heartbeat.interval = 0ms;
  options.backoff.initial = 20ms;
  options.backoff.jitter = 0;
  cocluster::supervisor supervisor(cluster, options);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto events = supervisor.subscribe();
    asio::co_spawn(io, supervisor.async_run(), asio::detached);
    co_await supervisor.async_wait_ready();
    const auto first = co_await supervisor.async_metrics();
    REQUIRE(first.workers.size() == 2);
    for (const auto& m : first.workers) {
      REQUIRE(m.slot.has_value());
      CHECK(m.restarts == std::optional<std::uint64_t>(0));
      CHECK(m.ready_time.has_value());
    }
    // Slot 0's worker is killed: the supervisor starts another there.
    int victim_slot = -1;
    for (const auto& m : first.workers)
      if (*m.slot == 0) {
        victim_slot = 0;
        for (const auto& [id, worker] : exits.forked())
          if (worker.pid() == m.pid)
            exits.expect_signal(worker, SIGKILL);
        ::kill(m.pid, SIGKILL);
      }
    REQUIRE(victim_slot == 0);
    for (bool crashed = false;;) {
      auto event = co_await events.async_receive(asio::use_awaitable);
      crashed = crashed ||
                (event.type == cocluster::supervisor_event_type::crashed && event.slot == 0);
      if (crashed && event.type == cocluster::supervisor_event_type::ready && event.slot == 0)
        break;
    }
    const auto later = co_await supervisor.async_metrics();
    std::map<int, std::uint64_t> restarts;
    for (const auto& m : later.workers)
      if (m.slot && m.restarts)
        restarts[*m.slot] = *m.restarts;
    CHECK(restarts[0] == 1);
    CHECK(restarts[1] == 0);
    co_await supervisor.async_stop();
    co_await exits.check(); // the victim was killed; every other worker exited 0
  });
}

namespace {

// The CPU time this process has used, on its own CPU clock (not the wall clock).
std::chrono::nanoseconds process_cpu_time() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

} // namespace

TEST_CASE("a process's usage is read from its stat file and a process that is gone has none") {
  const auto self = cocluster::detail::read_process_usage(::getpid());
  REQUIRE(self.has_value());
  CHECK(self->resident_memory_bytes > 0);
  // Its CPU time grows by what it burns: 200 ms of CPU, however long that takes on this machine,
  // show as at least 0.1 s more (the stat file counts in clock ticks).
  const auto burn_until = process_cpu_time() + 200ms;
  while (process_cpu_time() < burn_until) {
  }
  const auto later = cocluster::detail::read_process_usage(::getpid());
  REQUIRE(later.has_value());
  CHECK(later->cpu_seconds >= self->cpu_seconds + 0.1);
  // A child that has exited and been reaped has no /proc entry.
  const pid_t child = ::fork();
  if (child == 0)
    ::_exit(0);
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK_FALSE(cocluster::detail::read_process_usage(child).has_value());
  CHECK_FALSE(cocluster::detail::read_process_usage("/nonexistent/stat").has_value());
  CHECK_FALSE(cocluster::detail::read_process_usage(pid_t{-1}).has_value());
}

TEST_SUITE_END();
