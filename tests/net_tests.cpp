// Shared server ports, ported from Node's test-cluster-* (names in brackets), plus the policies.
#include <doctest/doctest.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <cocluster/detail/async/oneshot_event.hpp>

#include "support/env.hpp"
#include "support/exits.hpp"
#include "support/fds.hpp"
#include "support/net.hpp"
#include "support/processes.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/skip.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

template <class Policy>
using cluster_of = cocluster::cluster<Policy>;

std::vector<int> ports_of(const nlohmann::json& report) {
  return report.at("ports").get<std::vector<int>>();
}

nlohmann::json listen_order(int port) { return {{"listen", port}}; }

// Forks `n` "serve" workers with `options` and returns them with their reported ports.
template <class Cluster>
asio::awaitable<std::vector<std::pair<typename Cluster::worker_type, std::vector<int>>>>
fork_servers(Cluster& cluster, int n, std::vector<std::string> options) {
  cluster.setup_primary(test::scenario("serve", std::move(options)));
  std::vector<std::pair<typename Cluster::worker_type, std::vector<int>>> result;
  std::vector<typename Cluster::worker_type> workers;
  std::vector<cocluster::event_stream<nlohmann::json>> streams;
  for (int i = 0; i < n; ++i) {
    workers.push_back(cluster.fork());
    streams.push_back(workers.back().subscribe(cocluster::event::message));
  }
  for (int i = 0; i < n; ++i) {
    auto report = co_await streams[static_cast<std::size_t>(i)].async_receive();
    result.emplace_back(workers[static_cast<std::size_t>(i)], ports_of(report));
  }
  co_return result;
}

template <class Servers>
std::set<int> ids_of(const Servers& servers) {
  std::set<int> ids;
  for (const auto& entry : servers)
    ids.insert(entry.first.id());
  return ids;
}

using answer_counts = std::map<int, int>;

// Runs `count` clients, `parallel` at a time, against `port`; returns answers by worker id
// (0 counts connections that got no exact answer). `answers`, when given, is filled as the
// answers come, for tests that watch the progress.
asio::awaitable<answer_counts> load(int port, int count, int parallel,
                                    std::shared_ptr<answer_counts> answers = nullptr) {
  auto executor = co_await asio::this_coro::executor;
  if (!answers)
    answers = std::make_shared<answer_counts>();
  auto next = std::make_shared<int>(0);
  auto running = std::make_shared<int>(parallel);
  // Level-triggered: the clients may all finish before the wait below starts (co_spawn runs a
  // coroutine inline until it first suspends).
  auto done = std::make_shared<cocluster::detail::oneshot_event<>>(executor);
  auto failure = std::make_shared<std::exception_ptr>();
  for (int p = 0; p < parallel; ++p)
    asio::co_spawn(
        executor,
        [=]() -> asio::awaitable<void> {
          while (*next < count) {
            const int n = (*next)++;
            std::string reply;
            try {
              reply = co_await test::ask(port, std::to_string(n));
            } catch (const std::exception&) {
            }
            const bool exact = reply.size() > 2 &&
                               reply.substr(reply.find(' ') + 1) == std::to_string(n);
            ++(*answers)[exact ? test::answered_by(reply) : 0];
          }
        },
        // A client that fails outside its connection (which counts as unanswered) fails load().
        [=](std::exception_ptr e) {
          if (e && !*failure)
            *failure = e;
          if (--*running == 0)
            done->set({});
        });
  co_await done->async_wait(asio::use_awaitable);
  if (*failure)
    std::rethrow_exception(*failure);
  co_return *answers;
}

// Every connection got its exact answer, and each answer came from one of the workers `ids`.
void check_answers(const answer_counts& answers, const std::set<int>& ids) {
  const int unanswered = answers.count(0) == 1 ? answers.at(0) : 0;
  CHECK(unanswered == 0);
  for (const auto& entry : answers) { // no structured binding: clang 14 cannot capture one
    const int id = entry.first;
    if (id == 0)
      continue;
    INFO("worker " << id << " answered " << entry.second << " connections");
    CHECK(ids.count(id) == 1);
  }
}

// The connections `worker` ("serve") counted itself as answered.
template <class Worker>
asio::awaitable<int> served_by(Worker worker) {
  auto messages = worker.subscribe(cocluster::event::message);
  worker.send(std::string("count"));
  for (;;) {
    auto report = co_await messages.async_receive();
    if (report.is_object() && report.contains("served"))
      co_return report["served"].template get<int>();
  }
}

// Each worker's own count of the connections it answered is what the clients saw from it: no
// connection was served twice, or by a worker the client did not hear from.
template <class Servers>
asio::awaitable<void> check_served(const Servers& servers, answer_counts answers) {
  for (const auto& entry : servers) {
    const auto worker = entry.first;
    const int served = co_await served_by(worker);
    INFO("worker " << worker.id() << " served " << served);
    CHECK(served == answers[worker.id()]);
  }
}

// Sends `line` on a held connection and returns the answer line; empty if the connection ended.
asio::awaitable<std::string> exchange(asio::ip::tcp::socket& socket, std::string line) {
  line += "\n";
  auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(line),
                                                           test::as_tuple);
  if (write_error)
    co_return std::string();
  std::string in;
  auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in), '\n',
                                                 test::as_tuple);
  co_return ec ? std::string() : in.substr(0, n - 1);
}

// The sockets process `pid` has open.
std::size_t sockets_of(pid_t pid) {
  std::size_t n = 0;
  for (const auto& [fd, target] : test::open_fds(std::to_string(pid)))
    if (target.rfind("socket:", 0) == 0)
      ++n;
  return n;
}

// The sockets listening on 127.0.0.1:port (LISTEN lines of /proc/net/tcp): one for a shared
// socket, whatever the number of workers holding it; one per worker under reuse_port.
int listening_sockets(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line); // the header
  int count = 0;
  while (std::getline(in, line)) {
    unsigned local_address = 0, local_port = 0, state = 0;
    if (std::sscanf(line.c_str(), " %*d: %x:%x %*x:%*x %x", &local_address, &local_port, &state) ==
            3 &&
        state == 0x0A && static_cast<int>(local_port) == port)
      ++count;
  }
  return count;
}

// What happened, in order: "a, b, c" (readable in a failed check).
struct event_log {
  std::string text;
  void operator()(const std::string& event) { text += (text.empty() ? "" : ", ") + event; }
};

// The round-robin window the hoarding tests reason about: connections handed to one worker and
// not yet answered. A worker that fell behind by twice that is skipped.
constexpr int window = 4;

cocluster::cluster_options windowed() {
  cocluster::cluster_options options;
  options.handoff.cocluster_peer = window;
  return options;
}

// Ports below this one need privileges here (Linux: net.ipv4.ip_unprivileged_port_start).
int unprivileged_port_start() {
  std::ifstream in("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  int start = 1024;
  in >> start;
  return start;
}

// A custom policy in a few lines: the available worker with the lowest id.
struct lowest_id_first : cocluster::stateless_policy {
  static constexpr cocluster::distribution mode = cocluster::distribution::primary_accepts;
  std::optional<int> pick(const cocluster::connection_request&,
                          std::span<const cocluster::worker_load> workers) const {
    std::optional<int> best;
    for (const auto& worker : workers)
      if (worker.available && (!best || worker.id < *best))
        best = worker.id;
    return best;
  }
};
static_assert(cocluster::scheduling_policy<lowest_id_first>);

// A custom policy that tracks connections: it counts, by worker, the ends the listener reports
// through connection_closed, and picks the available worker idle longest.
struct counting_ends {
  static constexpr cocluster::distribution mode = cocluster::distribution::primary_accepts;
  static constexpr bool tracks_connections = true;
  static inline answer_counts ended; // one policy object per listener; the test has one
  std::optional<int> pick(const cocluster::connection_request&,
                          std::span<const cocluster::worker_load> workers) const {
    const cocluster::worker_load* best = nullptr;
    for (const auto& worker : workers)
      if (worker.available && (best == nullptr || worker.idle_since < best->idle_since))
        best = &worker;
    return best ? std::optional<int>(best->id) : std::nullopt;
  }
  void worker_added(int) {}
  void worker_removed(int) {}
  void connection_closed(int id) { ++ended[id]; }
};
static_assert(cocluster::scheduling_policy<counting_ends>);

#include "readme_policy.hpp" // the README's fewest_open, as written there

// The README's policy, with a count of the ends it was told of, for the test to wait on.
struct observed_fewest_open : fewest_open {
  static inline int ends = 0;
  void connection_closed(int id) {
    fewest_open::connection_closed(id);
    ++ends;
  }
};
static_assert(cocluster::scheduling_policy<observed_fewest_open>);

int sum(const answer_counts& counts) {
  int total = 0;
  for (const auto& entry : counts)
    total += entry.second;
  return total;
}

} // namespace

TEST_SUITE_BEGIN("net");

TEST_CASE_TEMPLATE("listen(0) gives every worker the same non-zero port, reported by listening "
                   "[listening-port]",
                   Policy, cocluster::round_robin, cocluster::shared_socket,
                   cocluster::reuse_port) {
  asio::io_context io;
  cluster_of<Policy> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto listening = cluster.subscribe(cocluster::event::listening);
    auto servers = co_await fork_servers(cluster, 3, test::strings("host=127.0.0.1"));
    std::set<int> ports;
    for (auto& [worker, reported] : servers)
      ports.insert(reported.at(0));
    CHECK(ports.size() == 1);
    CHECK(*ports.begin() > 0);
    for (int i = 0; i < 3; ++i) {
      auto event = co_await listening.async_receive();
      CHECK(event.address.port == *ports.begin());
      CHECK(event.address.type == cocluster::address_type::ipv4);
      CHECK(event.address.address == "127.0.0.1");
      CHECK(!event.address.fd);
      CHECK(event.worker.state() == cocluster::worker_state::listening);
    }
    // The port is theirs: a client of it reaches one of them.
    const auto reply = co_await test::ask(*ports.begin(), "which");
    CHECK(ids_of(servers).count(test::answered_by(reply)) == 1);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a worker waiting on a round-robin server stays alive until a connection comes "
          "[rr-handle-keep-loop-alive]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto exit_events = cluster.subscribe(cocluster::event::exit);
    auto servers = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1"));
    auto worker = servers.front().first;
    const int port = servers.front().second.at(0);
    // Idle since it listened, waiting on nothing but its handed-over accept and its channel, the
    // worker is still there (it answers the primary) and has taken no connection.
    CHECK(co_await served_by(worker) == 0);
    CHECK(worker.state() == cocluster::worker_state::listening);
    const auto reply = co_await test::ask(port, "late");
    CHECK(test::answered_by(reply) == worker.id());
    CHECK(co_await served_by(worker) == 1);
    CHECK(!exit_events.try_receive()); // nobody ended before the connection came
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("each worker's i-th concurrent listen(0) shares one port, and a closed index is "
                   "reused [child-index-net, server-restart-rr, server-restart-none]",
                   Policy, cocluster::round_robin, cocluster::shared_socket) {
  asio::io_context io;
  cluster_of<Policy> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 3, test::strings("host=127.0.0.1", "servers=2"));
    const auto first = servers.front().second;
    REQUIRE(first.size() == 2);
    CHECK(first[0] != first[1]);
    for (auto& [worker, ports] : servers)
      CHECK(ports == first);
    // Worker 2 closes its first server and listens again: it gets index 0's port back, while
    // the others still hold it.
    auto second = servers[1].first;
    auto messages = second.subscribe(cocluster::event::message);
    second.send(std::string("relisten"));
    auto report = co_await messages.async_receive();
    auto again = ports_of(report);
    std::sort(again.begin(), again.end());
    auto expected = first;
    std::sort(expected.begin(), expected.end());
    CHECK(again == expected);
    const auto reply = co_await test::ask(first[0], "after restart");
    CHECK(ids_of(servers).count(test::answered_by(reply)) == 1);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a port already taken is EADDRINUSE in the worker, named in the error, and the "
                   "primary stays up [shared-handle-bind-error, ipc-throw]",
                   Policy, cocluster::round_robin, cocluster::shared_socket) {
  asio::io_context io;
  cluster_of<Policy> cluster(io);
  test::exit_watch exits(cluster);
  asio::ip::tcp::acceptor taken(io, {asio::ip::make_address("127.0.0.1"), 0});
  const int port = taken.local_endpoint().port();
  cluster.setup_primary(test::scenario("listen-fails", test::strings("port=" + std::to_string(port),
                                                                     "host=127.0.0.1")));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["code"] == EADDRINUSE);
    const auto what = report["error"].template get<std::string>();
    CHECK(what.find("bind 127.0.0.1:" + std::to_string(port)) != std::string::npos);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a privileged port is EACCES for a worker that is not root [bind-privileged-port]") {
  constexpr int privileged = 42;
  if (unprivileged_port_start() <= privileged) {
    test::skip("port 42 needs no privilege here (net.ipv4.ip_unprivileged_port_start is " +
               std::to_string(unprivileged_port_start()) + ")");
    return;
  }
  // The worker binds the port itself (exclusive): the primary may be root and would bind it.
  auto s = test::scenario("listen-fails", test::strings("port=" + std::to_string(privileged),
                                                        "host=127.0.0.1", "exclusive"));
  if (::geteuid() == 0) {
    // Root may bind it: the worker runs as nobody, who may not.
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) {
      test::skip("running as root, and there is no user nobody to run the worker as");
      return;
    }
    if (!test::others_can_execute(test::self_executable())) {
      test::skip("running as root, and nobody may not execute " + test::self_executable() +
                 " (a directory on its way is closed to others)");
      return;
    }
    s.uid = nobody->pw_uid;
    s.gid = nobody->pw_gid;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    INFO("the worker reported " << report.dump());
    CHECK(report["code"] == EACCES);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("two independent primaries cannot share an explicit port [bind-twice]") {
  const int port = test::free_port();
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto s = test::scenario("primary-with-server", {std::to_string(port)});
    s.silent = true;
    cluster.setup_primary(s);
    auto other = cluster.fork();
    std::string line;
    co_await asio::async_read_until(*other.stdio_pipe(1), asio::dynamic_buffer(line), '\n',
                                    asio::use_awaitable);
    REQUIRE(line == "ready\n");
    cluster.setup_primary(test::scenario(
        "listen-fails", test::strings("port=" + std::to_string(port), "host=127.0.0.1")));
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["code"] == EADDRINUSE);
    exits.expect_signal(other, SIGKILL);
    other.kill(SIGKILL);
    co_await other.exited();
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a shared socket's workers leave cleanly after serving [shared-leak]") {
  asio::io_context io;
  cocluster::cluster<cocluster::shared_socket> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1"));
    cluster.setup_primary(test::scenario("idle"));
    auto idle = cluster.fork();
    co_await idle.online();
    const auto reply = co_await test::ask(servers[0].second[0], "hello");
    CHECK(test::answered_by(reply) == servers[0].first.id());
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("connections refused at max_connections go to other workers: limits 0, 1 and 9 "
          "[net-server-drop-connection]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cocluster-drop-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "s.sock").string();
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    std::map<int, int> limit_of;
    for (const int limit : {0, 1, 9}) {
      auto servers = co_await fork_servers(cluster, 1,
                                           test::strings("kind=unix", "path=" + path, "hold",
                                                         "max=" + std::to_string(limit)));
      limit_of[servers[0].first.id()] = limit;
    }
    std::vector<asio::local::stream_protocol::socket> held;
    std::map<int, int> served_by_limit;
    for (int i = 0; i < 10; ++i) {
      asio::local::stream_protocol::socket socket(io);
      co_await socket.async_connect(asio::local::stream_protocol::endpoint(path),
                                    asio::use_awaitable);
      std::string line = std::to_string(i) + "\n";
      co_await asio::async_write(socket, asio::buffer(line), asio::use_awaitable);
      std::string reply;
      co_await asio::async_read_until(socket, asio::dynamic_buffer(reply), '\n',
                                      asio::use_awaitable);
      const int id = test::answered_by(reply);
      REQUIRE(limit_of.count(id) == 1);
      ++served_by_limit[limit_of[id]];
      held.push_back(std::move(socket)); // connections stay open: they count against the limit
    }
    CHECK(served_by_limit[0] == 0);
    CHECK(served_by_limit[1] == 1);
    CHECK(served_by_limit[9] == 9);
    held.clear();
    co_await cluster.disconnect();
    co_await exits.check();
  });
  std::filesystem::remove_all(dir);
}

TEST_CASE("a worker that closes its server while connections are handed to it refuses them, "
          "another serves them, and no descriptor leaks [worker-handle-close]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("host=127.0.0.1"));
    const int port = servers[0].second[0];
    auto closer = servers[0].first;
    auto closer_messages = closer.subscribe(cocluster::event::message);
    const auto before = test::open_fds(std::to_string(closer.pid())).size();
    // Connections pour in, and reach the first worker, when it closes its server.
    auto progress = std::make_shared<answer_counts>();
    auto clients = test::start(io.get_executor(), load(port, 200, 8, progress));
    const bool flowing = co_await test::eventually([&] { return (*progress)[closer.id()] > 0; });
    CHECK(flowing);
    closer.send(std::string("close"));
    auto answers = co_await clients.result();
    check_answers(answers, ids_of(servers));
    for (;;) { // its server is closed once it says so
      auto message = co_await closer_messages.async_receive();
      if (message == "closed")
        break;
    }
    co_await check_served(servers, answers);
    const auto after_count = co_await test::eventually(
        [&] { return test::open_fds(std::to_string(closer.pid())).size() <= before; }, 10s);
    CHECK(after_count);
    auto later = co_await load(port, 20, 2);
    CHECK(later[closer.id()] == 0);
    CHECK(later[servers[1].first.id()] == 20);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a worker's disconnect waits for its open connections [worker-wait-server-close]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 1,
                                         test::strings("host=127.0.0.1", "hold", "tell-stop"));
    auto worker = servers[0].first;
    const std::string id = std::to_string(worker.id());
    auto messages = worker.subscribe(cocluster::event::message);
    auto held = co_await test::ask_and_hold(servers[0].second[0], "hold me");
    CHECK(held.reply == id + " hold me");
    event_log log;
    worker.async_wait_disconnect([&](std::error_code) { log("disconnected"); });
    worker.disconnect();
    // The worker closed its server (it is leaving), over a channel still open...
    auto [ec, stopped] = co_await messages.async_receive(test::as_tuple);
    log(!ec && stopped.contains("stopped_accepting") ? "server closed" : "channel closed");
    // ...its open connection is still served...
    const auto reply = co_await exchange(held.socket, "still open");
    log(reply == id + " still open" ? "connection served" : "connection lost");
    // ...and the disconnect completes once the client has closed it.
    held.socket.close();
    log("client closed");
    co_await worker.disconnected();
    CHECK(log.text == "server closed, connection served, client closed, disconnected");
    co_await exits.check();
  });
}

TEST_CASE("a disconnect with a drain timeout shuts down connections still open after it") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 1,
                                         test::strings("host=127.0.0.1", "hold", "tell-stop"));
    auto worker = servers[0].first;
    const std::string id = std::to_string(worker.id());
    auto messages = worker.subscribe(cocluster::event::message);
    auto held = co_await test::ask_and_hold(servers[0].second[0], "hold me");
    CHECK(held.reply == id + " hold me");
    event_log log;
    worker.async_wait_disconnect([&](std::error_code) { log("disconnected"); });
    // Long enough for one exchange on the held connection once the drain has begun, even on a
    // loaded machine (the test waits it out once).
    worker.disconnect(std::chrono::milliseconds(5000));
    auto [ec, stopped] = co_await messages.async_receive(test::as_tuple);
    log(!ec && stopped.contains("stopped_accepting") ? "draining" : "channel closed");
    // Until the timeout the connection is served as usual...
    const auto reply = co_await exchange(held.socket, "before the timeout");
    log(reply == id + " before the timeout" ? "connection served" : "connection lost");
    // ...then the worker shuts it down: the client, which never closed it, reads its end.
    char byte;
    auto ended = co_await (held.socket.async_read_some(asio::buffer(&byte, 1), test::as_tuple) ||
                           test::sleep(20s));
    REQUIRE(ended.index() == 0); // within 20 s, not never
    CHECK(std::get<0>(std::get<0>(ended)) == asio::error::eof);
    co_await worker.disconnected();
    CHECK(log.text == "draining, connection served, disconnected");
    co_await exits.check();
  });
}

TEST_CASE("a disconnected worker lives as long as its own outgoing connection [worker-no-exit]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  asio::ip::tcp::acceptor server(io, {asio::ip::make_address("127.0.0.1"), 0});
  cluster.setup_primary(test::scenario("client-of",
                                       {std::to_string(server.local_endpoint().port())}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto peer = co_await server.async_accept(asio::use_awaitable);
    co_await messages.async_receive(); // "connected"
    event_log log;
    worker.async_wait_exit([&](std::error_code, cocluster::exit_status) { log("exited"); });
    worker.disconnect();
    co_await worker.disconnected();
    log("disconnected");
    // Disconnected, it still runs: it echoes what its peer writes.
    const std::string line = "still there\n";
    co_await asio::async_write(peer, asio::buffer(line), asio::use_awaitable);
    std::string echo;
    auto [ec, n] = co_await asio::async_read_until(peer, asio::dynamic_buffer(echo), '\n',
                                                   test::as_tuple);
    log(!ec && echo == line ? "echoed" : "connection lost");
    // Its connection ended, it exits.
    peer.close();
    log("peer closed");
    co_await worker.exited();
    CHECK(worker.exited_after_disconnect() == true);
    CHECK(log.text == "disconnected, echoed, peer closed, exited");
    co_await exits.check();
  });
}

TEST_CASE("eight workers with two servers each answer on both ports, and a second run reuses the "
          "ports [disconnect]") {
  const int port_a = test::free_port();
  const int port_b = test::free_port();
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    for (int round = 0; round < 2; ++round) {
      CAPTURE(round);
      // Every worker listens on both explicit ports: the same ports in both rounds.
      auto servers = co_await fork_servers(cluster, 8,
                                           test::strings("host=127.0.0.1", "servers=2",
                                                         "ports=" + std::to_string(port_a) + "," +
                                                             std::to_string(port_b)));
      const std::vector<int> both{port_a, port_b};
      for (const auto& entry : servers)
        CHECK(entry.second == both);
      // Round-robin gives eight connections in a row to the eight workers in turn: on each
      // port, each worker answers one.
      for (const int port : both) {
        CAPTURE(port);
        std::set<int> answered;
        for (int i = 0; i < 8; ++i)
          answered.insert(test::answered_by(co_await test::ask(port, "x")));
        CHECK(answered == ids_of(servers));
      }
      co_await cluster.disconnect();
      CHECK(cluster.workers().empty());
    }
    co_await exits.check();
  });
}

TEST_CASE("a server on a Unix socket works in a worker, even past sun_path's length "
          "[http-pipe, net-listen-relative-path]") {
  const auto base = std::filesystem::temp_directory_path() /
                    ("cocluster-pipe-" + std::to_string(::getpid()));
  auto deep = base;
  for (int i = 0; i < 6; ++i)
    deep /= std::string(20, static_cast<char>('a' + i));
  std::filesystem::create_directories(deep);
  const auto absolute = (deep / "server.sock").string();
  REQUIRE(absolute.size() > 108);
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(deep); // the primary binds the path relative to this
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2,
                                         test::strings("kind=unix", "path=" + absolute));
    CHECK(std::filesystem::exists(deep / "server.sock"));
    std::set<int> answered;
    for (int i = 0; i < 4; ++i)
      answered.insert(test::answered_by(co_await test::ask_unix("server.sock", "GET /")));
    CHECK(answered == ids_of(servers)); // round-robin over the two workers
    co_await cluster.disconnect();
    co_await exits.check();
  });
  CHECK(!std::filesystem::exists(deep / "server.sock")); // removed with the listener
  std::filesystem::current_path(previous);
  std::filesystem::remove_all(base);
}

TEST_CASE("workers bound to one UDP port share its datagrams [dgram-1]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  // Each worker answers one datagram and reads none after: every datagram sent to the port
  // after a worker's answer can only reach one of the others.
  cluster.setup_primary(test::scenario("udp-echo", test::strings("once")));
  test::run(io, [&]() -> asio::awaitable<void> {
    std::vector<cocluster::cluster<>::worker_type> workers;
    std::vector<cocluster::event_stream<nlohmann::json>> streams;
    std::set<int> ids;
    for (int i = 0; i < 4; ++i) {
      workers.push_back(cluster.fork());
      ids.insert(workers.back().id());
      streams.push_back(workers.back().subscribe(cocluster::event::message));
    }
    std::set<int> ports;
    for (auto& stream : streams) {
      auto report = co_await stream.async_receive();
      ports.insert(ports_of(report).at(0));
    }
    REQUIRE(ports.size() == 1);
    asio::ip::udp::socket client(io, {asio::ip::make_address("127.0.0.1"), 0});
    const asio::ip::udp::endpoint target(asio::ip::make_address("127.0.0.1"),
                                         static_cast<unsigned short>(*ports.begin()));
    std::set<int> answered;
    for (std::size_t i = 0; i < workers.size(); ++i) {
      co_await client.async_send_to(asio::buffer("ping", 4), target, asio::use_awaitable);
      char reply[16];
      asio::ip::udp::endpoint from;
      const auto n = co_await client.async_receive_from(asio::buffer(reply), from,
                                                        asio::use_awaitable);
      answered.insert(std::stoi(std::string(reply, n)));
    }
    // One datagram each: every worker read from the one port.
    CHECK(answered == ids);
    for (auto& worker : workers)
      worker.send(std::string("stop"));
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a worker's UDP bind is a listening event in the primary with the bound port, as "
          "from Node's dgram socket") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("udp-echo"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto listening = cluster.subscribe(cocluster::event::listening);
    auto worker = cluster.fork();
    auto reports = worker.subscribe(cocluster::event::message);
    const int port = ports_of(co_await reports.async_receive()).at(0);
    CHECK(port > 0);
    auto event = co_await listening.async_receive();
    CHECK(event.worker.id() == worker.id());
    CHECK(event.address.type == cocluster::address_type::udp4);
    CHECK(event.address.port == port);
    CHECK(event.address.address == "127.0.0.1");
    CHECK(worker.state() == cocluster::worker_state::listening);
    const auto address = co_await worker.listening();
    CHECK(address.port == port);
    worker.send(std::string("stop"));
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("workers listening on :: share one dual-stack port reachable over IPv4 "
          "[net-listen-ipv6only-false]") {
  if (!test::has_ipv6()) {
    test::skip("no IPv6 on this machine: cannot bind ::1");
    return;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto listening = cluster.subscribe(cocluster::event::listening);
    auto servers = co_await fork_servers(cluster, 3, test::strings("host=::"));
    std::set<int> ports;
    for (auto& [worker, reported] : servers)
      ports.insert(reported.at(0));
    CHECK(ports.size() == 1);
    for (int i = 0; i < 3; ++i) {
      auto event = co_await listening.async_receive();
      CHECK(event.address.type == cocluster::address_type::ipv6);
    }
    const auto over_v4 = co_await test::ask(*ports.begin(), "v4", "127.0.0.1");
    const auto over_v6 = co_await test::ask(*ports.begin(), "v6", "::1");
    CHECK(ids_of(servers).count(test::answered_by(over_v4)) == 1);
    CHECK(ids_of(servers).count(test::answered_by(over_v6)) == 1);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a port one worker closed can be taken by another, and taken back "
          "[seq/port-reuse-between-workers]") {
  const int port = test::free_port();
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("listen-on-demand"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto one = cluster.fork();
    auto two = cluster.fork();
    auto from_one = one.subscribe(cocluster::event::message);
    auto from_two = two.subscribe(cocluster::event::message);
    one.send(listen_order(port));
    auto first = co_await from_one.async_receive();
    CHECK(first["listen"] == "ok");
    one.send(listen_order(port)); // a second server on the same port in the same worker
    auto twice = co_await from_one.async_receive();
    CHECK(twice["listen"] == "error");
    CHECK(twice["code"] == EADDRINUSE);
    one.send(std::string("close-first"));
    co_await from_one.async_receive();
    two.send(listen_order(port));
    auto taken = co_await from_two.async_receive();
    CHECK(taken["listen"] == "ok");
    one.send(listen_order(port)); // shared with worker two now
    auto back = co_await from_one.async_receive();
    CHECK(back["listen"] == "ok");
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("large messages interleaved with handed-over connections keep every descriptor matched "
          "to its frame [seq/send-handle-large-payload]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1"));
    auto worker = servers[0].first;
    const std::string payload(800 * 1024, 'p');
    auto clients = test::start(io.get_executor(), load(servers[0].second[0], 100, 4));
    for (int i = 0; i < 5; ++i) {
      worker.send(payload); // the worker ignores them; they share the channel with newconns
      co_await test::sleep(2ms);
    }
    auto answers = co_await clients.result();
    check_answers(answers, ids_of(servers));
    CHECK(answers[worker.id()] == 100);
    co_await check_served(servers, answers);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("workers can share a listening descriptor the primary already has [listen-fd-cluster]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  asio::ip::tcp::acceptor inherited(io, {asio::ip::make_address("127.0.0.1"), 0});
  const int fd = inherited.native_handle();
  const int port = inherited.local_endpoint().port();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("fd=" + std::to_string(fd)));
    CHECK(servers[0].second[0] == port);
    std::set<int> answered;
    for (int i = 0; i < 4; ++i)
      answered.insert(test::answered_by(co_await test::ask(port, "via fd")));
    CHECK(answered == ids_of(servers));
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("an IPv6-only server takes IPv6 clients and refuses IPv4 ones") {
  if (!test::has_ipv6()) {
    test::skip("no IPv6 on this machine: cannot bind ::1");
    return;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("host=::", "ipv6only"));
    const int port = servers[0].second[0];
    const auto over_v6 = co_await test::ask(port, "v6", "::1");
    CHECK(ids_of(servers).count(test::answered_by(over_v6)) == 1);
    asio::ip::tcp::socket v4(io);
    auto [ec] = co_await v4.async_connect({asio::ip::make_address("127.0.0.1"),
                                           static_cast<unsigned short>(port)},
                                          cocluster::as_tuple(asio::use_awaitable));
    CHECK(ec == asio::error::connection_refused);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("in the primary, listen simply binds a server of its own") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto server = co_await cluster.listen(cocluster::tcp_listen_options(0, "127.0.0.1"));
    CHECK(server.port() > 0);
    CHECK(server.local_endpoint().port() == server.port());
    auto client = test::start(io.get_executor(), test::ask(server.port(), "to the primary"));
    auto socket = co_await server.async_accept();
    std::string line;
    co_await asio::async_read_until(socket, asio::dynamic_buffer(line), '\n', asio::use_awaitable);
    co_await asio::async_write(socket, asio::buffer("0 " + line), asio::use_awaitable);
    socket.close();
    const auto reply = co_await client.result();
    CHECK(reply == "0 to the primary");
    CHECK(server.open_connections() == 0);
    server.close();
    auto [ec, none] = co_await server.async_accept(cocluster::as_tuple(asio::use_awaitable));
    CHECK(ec == asio::error::operation_aborted);
  });
}

TEST_CASE("in the primary, a failed listen completes with its error code, and co_await with the "
          "default token throws a std::system_error naming the call and the address") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::ip::tcp::acceptor taken(io, {asio::ip::make_address("127.0.0.1"), 0});
  const int port = taken.local_endpoint().port();
  test::run(io, [&]() -> asio::awaitable<void> {
    const auto options = cocluster::tcp_listen_options(port, "127.0.0.1");
    auto [ec, server] = co_await cluster.async_listen(options, test::as_tuple);
    CHECK(ec == std::errc::address_in_use);
    CHECK(!server);

    // A plain callback gets the code as Asio's own operations give it.
    auto called = std::make_shared<cocluster::detail::oneshot_event<>>(io.get_executor());
    std::error_code callback_ec;
    cluster.async_listen(options, [&, called](std::error_code e, cocluster::tcp_server s) {
      callback_ec = e;
      CHECK(!s);
      called->set({});
    });
    co_await called->async_wait(asio::use_awaitable);
    CHECK(callback_ec == std::errc::address_in_use);

    std::string what;
    try {
      co_await cluster.listen(options);
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::address_in_use);
      what = e.what();
    }
    CHECK(what.find("listen: bind 127.0.0.1:" + std::to_string(port)) != std::string::npos);
  });
}

TEST_CASE("a worker's failed UDP bind completes with its error code, and co_await with the "
          "default token throws a std::system_error naming the call and the address") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  asio::ip::udp::socket taken(io, {asio::ip::make_address("127.0.0.1"), 0});
  const int port = taken.local_endpoint().port();
  cluster.setup_primary(test::scenario("bind-fails", test::strings("port=" + std::to_string(port),
                                                                   "host=127.0.0.1")));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    INFO("the worker reported " << report.dump());
    CHECK(report["code"] == EADDRINUSE);
    CHECK(report["open"] == false);
    CHECK(report["thrown"] == EADDRINUSE);
    const auto what = report["error"].template get<std::string>();
    CHECK(what.find("cocluster: bind: bind 127.0.0.1:" + std::to_string(port)) !=
          std::string::npos);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("in the primary, bind simply binds a UDP socket of its own") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::ip::udp::socket taken(io, {asio::ip::make_address("127.0.0.1"), 0});
  const int port = taken.local_endpoint().port();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto socket = co_await cluster.bind(cocluster::udp_bind_options(0, "127.0.0.1"));
    REQUIRE(socket.is_open());
    const auto here = socket.local_endpoint();
    CHECK(here.port() != 0);
    co_await taken.async_send_to(asio::buffer(std::string("ping")), here, asio::use_awaitable);
    char buffer[16];
    asio::ip::udp::endpoint from;
    const auto n = co_await socket.async_receive_from(asio::buffer(buffer), from,
                                                      asio::use_awaitable);
    CHECK(std::string(buffer, n) == "ping");

    auto [ec, none] = co_await cluster.async_bind(cocluster::udp_bind_options(port, "127.0.0.1"),
                                                  test::as_tuple);
    CHECK(ec == std::errc::address_in_use);
    CHECK(!none.is_open());
    std::string what;
    try {
      co_await cluster.bind(cocluster::udp_bind_options(port, "127.0.0.1"));
    } catch (const std::system_error& e) {
      what = e.what();
    }
    CHECK(what.find("cocluster: bind: bind 127.0.0.1:" + std::to_string(port)) !=
          std::string::npos);
  });
}

// ---- the scheduling policies ----

TEST_CASE_TEMPLATE("every policy answers 4,000 short connections exactly once with four workers",
                   Policy, cocluster::round_robin, cocluster::shared_socket, cocluster::reuse_port,
                   cocluster::least_connections, cocluster::ip_hash) {
  asio::io_context io;
  // No worker counts as stalled within the test, however slowly this machine runs it: strict
  // round-robin turns, so the split below depends on the policy alone (skipping a stalled
  // worker has its own cases).
  cocluster::cluster_options options;
  options.handoff.stall_timeout = std::chrono::hours(1);
  cluster_of<Policy> cluster(io, options);
  test::exit_watch exits(cluster);
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        auto servers = co_await fork_servers(cluster, 4, test::strings("host=127.0.0.1"));
        auto answers = co_await load(servers[0].second[0], 4000, 8);
        check_answers(answers, ids_of(servers));
        co_await check_served(servers, answers);
        if constexpr (std::is_same_v<Policy, cocluster::round_robin>) {
          int most = 0, least = 4000;
          for (auto& [worker, ports] : servers) {
            most = std::max(most, answers[worker.id()]);
            least = std::min(least, answers[worker.id()]);
          }
          CHECK(most - least <= 1);
        }
        co_await cluster.disconnect();
        co_await exits.check();
      },
      180s);
}

TEST_CASE("ip_hash sends each client address to a single worker, and moves it only when that "
          "worker leaves") {
  asio::io_context io;
  cocluster::cluster<cocluster::ip_hash> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 4, test::strings("host=127.0.0.1"));
    const int port = servers[0].second[0];
    auto ids = ids_of(servers);
    auto source = [](int n) -> std::optional<std::string> {
      return "127.0.0." + std::to_string(1 + n % 16);
    };
    std::map<std::string, std::set<int>> workers_of;
    for (int n = 0; n < 160; ++n) {
      const auto reply = co_await test::ask(port, std::to_string(n), "127.0.0.1", source(n));
      const int id = test::answered_by(reply);
      CHECK(ids.count(id) == 1);
      workers_of[*source(n)].insert(id);
    }
    std::set<int> used;
    for (const auto& entry : workers_of) {
      const auto& client = entry.first;
      CAPTURE(client);
      CHECK(entry.second.size() == 1);
      used.insert(*entry.second.begin());
    }
    CHECK(used.size() > 1); // 16 addresses over 4 workers
    // One worker leaves: only its clients move, each to a worker still there.
    auto leaving = servers[0].first;
    exits.expect_signal(leaving, SIGKILL);
    leaving.kill(SIGKILL);
    co_await leaving.exited();
    ids.erase(leaving.id());
    int moved = 0;
    for (int n = 0; n < 16; ++n) {
      const auto client = *source(n);
      CAPTURE(client);
      const auto reply = co_await test::ask(port, std::to_string(n), "127.0.0.1", client);
      const int now = test::answered_by(reply);
      const int before = *workers_of[client].begin();
      CHECK(ids.count(now) == 1);
      if (before == leaving.id())
        ++moved;
      else
        CHECK(now == before);
    }
    CHECK(moved > 0); // the leaving worker had clients (rendezvous hashing of these addresses)
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("ip_hash keeps its known clients on their workers when a worker joins, which takes "
          "only new clients") {
  asio::io_context io;
  cocluster::cluster<cocluster::ip_hash> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 3, test::strings("host=127.0.0.1"));
    const int port = servers[0].second[0];
    auto client = [](int n) { return "127.0.0." + std::to_string(1 + n); };
    std::map<std::string, int> worker_of;
    for (int n = 0; n < 16; ++n) {
      const auto reply = co_await test::ask(port, "known", "127.0.0.1", client(n));
      worker_of[client(n)] = test::answered_by(reply);
      CHECK(ids_of(servers).count(worker_of[client(n)]) == 1);
    }
    auto joined = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1"));
    const int newcomer = joined[0].first.id();
    for (int n = 0; n < 16; ++n) {
      CAPTURE(client(n));
      const auto reply = co_await test::ask(port, "again", "127.0.0.1", client(n));
      CHECK(test::answered_by(reply) == worker_of[client(n)]);
    }
    // New addresses are placed over all four: the newcomer gets some of them.
    int to_newcomer = 0;
    for (int n = 16; n < 48; ++n) {
      const auto reply = co_await test::ask(port, "new", "127.0.0.1", client(n));
      if (test::answered_by(reply) == newcomer)
        ++to_newcomer;
    }
    CHECK(to_newcomer > 0);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("least_connections gives a worker holding 50 idle connections none of the next 100") {
  asio::io_context io;
  cocluster::cluster<cocluster::least_connections> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto busy = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1", "hold"));
    const int port = busy[0].second[0];
    std::vector<test::held_connection> idle;
    for (int i = 0; i < 50; ++i)
      idle.push_back(co_await test::ask_and_hold(port, "idle"));
    for (auto& connection : idle)
      CHECK(test::answered_by(connection.reply) == busy[0].first.id());
    auto others = co_await fork_servers(cluster, 3, test::strings("host=127.0.0.1", "hold"));
    auto answers = co_await load(port, 100, 1);
    check_answers(answers, ids_of(others)); // none from the busy one
    co_await check_served(others, answers);
    CHECK(co_await served_by(busy[0].first) == 50);
    idle.clear();
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

// A keep-alive client, as a load generator's (wrk -c64): it asks once, then keeps its connection
// busy for `rounds` more lines. Returns the worker that served it, or 0 when the connection was
// cut or answered by another worker.
asio::awaitable<int> keep_alive_client(int port, int n, int rounds) {
  auto held = co_await test::ask_and_hold(port, "keep " + std::to_string(n));
  const int worker = test::answered_by(held.reply);
  for (int round = 0; round < rounds && worker != 0; ++round)
    if (test::answered_by(co_await exchange(held.socket, std::to_string(round))) != worker)
      co_return 0;
  co_return worker;
}

// Opens `count` keep-alive connections at once; returns how many each worker served.
asio::awaitable<answer_counts> keep_alive_burst(int port, int count, int rounds) {
  auto executor = co_await asio::this_coro::executor;
  std::vector<test::started<int>> clients;
  for (int n = 0; n < count; ++n)
    clients.push_back(test::start(executor, keep_alive_client(port, n, rounds)));
  answer_counts served;
  for (auto& client : clients)
    ++served[co_await client.result()];
  co_return served;
}

TEST_CASE("round-robin splits a burst of 64 concurrent keep-alive connections evenly, with 2 and "
          "with 4 workers: each serves 64/n of them, give or take a window") {
  asio::io_context io;
  // Every worker here is healthy: however slow the machine, none may look stalled (the 50 ms
  // default) and be skipped; the skipping has its own cases.
  auto options = windowed();
  options.handoff.stall_timeout = std::chrono::hours(1);
  cocluster::cluster<> cluster(io, options);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    constexpr int connections = 64;
    auto servers = co_await fork_servers(cluster, 2, test::strings("host=127.0.0.1", "hold"));
    const int port = servers[0].second[0];
    for (const int workers : {2, 4}) {
      if (workers == 4) {
        auto more = co_await fork_servers(cluster, 2, test::strings("host=127.0.0.1", "hold"));
        servers.insert(servers.end(), more.begin(), more.end());
      }
      const auto served = co_await keep_alive_burst(port, connections, 50);
      check_answers(served, ids_of(servers));
      for (const auto& entry : servers) {
        const int id = entry.first.id();
        const int count = served.count(id) ? served.at(id) : 0;
        INFO(workers << " workers: worker " << id << " served " << count << " of " << connections);
        CHECK(std::abs(count - connections / workers) <= window);
      }
    }
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("round-robin skips a worker that fell behind by twice its window: one that never "
          "accepts holds that many connections, and the other worker serves all the rest") {
  asio::io_context io;
  cocluster::cluster<> cluster(io, windowed());
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    // The hoarder is handed connections but never accepts them; the other one serves.
    auto hoarder = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1", "hoard"));
    auto server = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1"));
    const int port = hoarder[0].second[0];
    const int serving = server[0].first.id();
    constexpr int total = 60;
    constexpr int held = 2 * window; // handed to it, and waiting in the primary for its window
    // More clients at once than the hoarder holds: those it holds wait, the others go on.
    auto progress = std::make_shared<answer_counts>();
    auto clients = test::start(io.get_executor(), load(port, total, held + 4, progress));
    const bool rest_served = co_await test::eventually(
        [&] { return (*progress)[serving] == total - held; }, 20s);
    {
      INFO("the serving worker answered " << (*progress)[serving] << " of " << total);
      CHECK(rest_served);
    }
    // Once the hoarder is gone its connections go to the other worker too.
    exits.expect_signal(hoarder[0].first, SIGKILL);
    hoarder[0].first.kill(SIGKILL);
    auto answers = co_await clients.result();
    check_answers(answers, {serving});
    CHECK(answers[serving] == total);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("connections handed to a worker that is SIGKILLed before accepting them are served by "
          "another worker") {
  asio::io_context io;
  cocluster::cluster<> cluster(io, windowed());
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    // The hoarder is handed connections but never accepts them; the other one serves.
    auto hoarder = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1", "hoard"));
    auto server = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1"));
    const int port = hoarder[0].second[0];
    const pid_t hoarder_pid = hoarder[0].first.pid();
    const std::size_t before = sockets_of(hoarder_pid);
    auto clients = test::start(io.get_executor(), load(port, 100, 2 * window + 4));
    // Killed only once it really holds connections: a window of them is in its process.
    const bool handed = co_await test::eventually([&] {
      return sockets_of(hoarder_pid) >= before + static_cast<std::size_t>(window);
    });
    CHECK(handed);
    exits.expect_signal(hoarder[0].first, SIGKILL);
    hoarder[0].first.kill(SIGKILL);
    auto answers = co_await clients.result();
    check_answers(answers, ids_of(server));
    CHECK(answers[server[0].first.id()] == 100);
    co_await check_served(server, answers);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a custom scheduling policy of a few lines decides who serves") {
  asio::io_context io;
  cocluster::cluster<lowest_id_first> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 3, test::strings("host=127.0.0.1"));
    auto answers = co_await load(servers[0].second[0], 30, 1);
    check_answers(answers, ids_of(servers));
    CHECK(answers[servers[0].first.id()] == 30);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a custom policy that tracks connections is told once of each connection a worker "
          "accepted, when it ends, and not before") {
  counting_ends::ended.clear();
  asio::io_context io;
  cocluster::cluster<counting_ends> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("host=127.0.0.1", "hold"));
    const int port = servers[0].second[0];
    std::vector<test::held_connection> held;
    std::vector<int> served_by_worker;
    for (int n = 0; n < 10; ++n) {
      held.push_back(co_await test::ask_and_hold(port, "held " + std::to_string(n)));
      served_by_worker.push_back(test::answered_by(held.back().reply));
      CHECK(ids_of(servers).count(served_by_worker.back()) == 1);
    }
    // The client ends four of them: the policy hears of those four, by the workers that had them.
    answer_counts expected;
    for (int n = 0; n < 4; ++n) {
      held[static_cast<std::size_t>(n)].socket.close();
      ++expected[served_by_worker[static_cast<std::size_t>(n)]];
    }
    const bool four = co_await test::eventually([&] { return sum(counting_ends::ended) >= 4; });
    CHECK(four);
    CHECK(counting_ends::ended == expected); // not the six still open
    // Then the rest: each of the ten is counted once, for its worker.
    for (std::size_t n = 4; n < held.size(); ++n) {
      held[n].socket.close();
      ++expected[served_by_worker[n]];
    }
    const bool ten = co_await test::eventually([&] { return sum(counting_ends::ended) >= 10; });
    CHECK(ten);
    CHECK(counting_ends::ended == expected);
    CHECK(expected.size() == 2); // both workers had some
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("the README's custom policy gives each connection to the worker with the fewest open "
          "ones, by its own count, which the ends it is told of bring down") {
  observed_fewest_open::ends = 0;
  asio::io_context io;
  cocluster::cluster<observed_fewest_open> cluster(io);
  test::exit_watch exits(cluster);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("host=127.0.0.1", "hold"));
    const int port = servers[0].second[0];
    // Six held connections: three each, as the counts stay level.
    std::map<int, std::vector<asio::ip::tcp::socket>> held;
    for (int n = 0; n < 6; ++n) {
      auto connection = co_await test::ask_and_hold(port, "held " + std::to_string(n));
      held[test::answered_by(connection.reply)].push_back(std::move(connection.socket));
    }
    CHECK(held.size() == 2);
    for (const auto& entry : held)
      CHECK(entry.second.size() == 3);
    // One worker's three end; once the policy is told, it is the one with the fewest.
    const int emptied = held.begin()->first;
    held[emptied].clear();
    const bool told = co_await test::eventually([] { return observed_fewest_open::ends >= 3; });
    CHECK(told);
    CHECK(observed_fewest_open::ends == 3);
    for (int n = 0; n < 3; ++n) {
      auto connection = co_await test::ask_and_hold(port, "after " + std::to_string(n));
      CHECK(test::answered_by(connection.reply) == emptied);
      held[emptied].push_back(std::move(connection.socket));
    }
    held.clear();
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("the distribution can be chosen at run time and is fixed at the first fork") {
  const test::scoped_env policy("NODE_CLUSTER_SCHED_POLICY", "none"); // (put back at the end)
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  CHECK(cluster.distribution() == cocluster::distribution::shared_socket);
  cluster.set_distribution(cocluster::distribution::reuse_port);
  CHECK(cluster.distribution() == cocluster::distribution::reuse_port);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("host=127.0.0.1"));
    CHECK(servers[0].second == servers[1].second);
    // reuse_port, not the variable's shared socket: each worker listens on a socket of its own.
    CHECK(listening_sockets(servers[0].second[0]) == 2);
    const auto reply = co_await test::ask(servers[0].second[0], "x");
    CHECK(ids_of(servers).count(test::answered_by(reply)) == 1);
    co_await cluster.disconnect();
    co_await exits.check();
  });
  CHECK_THROWS_AS(cluster.set_distribution(cocluster::distribution::primary_accepts),
                  std::logic_error);
}

TEST_SUITE_END();
