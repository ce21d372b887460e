// Shared server ports, ported from Node's test-cluster-* (names in brackets), plus the policies.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <cocluster/detail/async/oneshot_event.hpp>

#include "support/fds.hpp"
#include "support/net.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"

using namespace std::chrono_literals;

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

// Runs `count` clients, `parallel` at a time, against `port`; returns answers by worker id
// (0 counts connections that got no answer).
asio::awaitable<std::map<int, int>> load(int port, int count, int parallel) {
  auto executor = co_await asio::this_coro::executor;
  auto answers = std::make_shared<std::map<int, int>>();
  auto next = std::make_shared<int>(0);
  auto running = std::make_shared<int>(parallel);
  // Level-triggered: the clients may all finish before the wait below starts (co_spawn runs a
  // coroutine inline until it first suspends).
  auto done = std::make_shared<cocluster::detail::oneshot_event<>>(executor);
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
            const bool exact = reply.size() > 2 && reply.substr(reply.find(' ') + 1) == std::to_string(n);
            ++(*answers)[exact ? test::answered_by(reply) : 0];
          }
          if (--*running == 0)
            done->set({});
        },
        asio::detached);
  co_await done->async_wait(asio::use_awaitable);
  co_return *answers;
}

int total(const std::map<int, int>& answers) {
  int sum = 0;
  for (const auto& [id, n] : answers)
    sum += n;
  return sum;
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

} // namespace

TEST_SUITE_BEGIN("net");

TEST_CASE("listen(0) gives every worker the same non-zero port, reported by listening "
          "[listening-port]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
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
    co_await cluster.disconnect();
  });
}

TEST_CASE("a worker waiting on a round-robin server stays alive until a connection comes "
          "[rr-handle-keep-loop-alive]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1"));
    auto worker = servers.front().first;
    const int port = servers.front().second.at(0);
    // Nothing but the handed-over accept keeps the worker busy for a while.
    asio::steady_timer idle(co_await asio::this_coro::executor, std::chrono::milliseconds(300));
    co_await idle.async_wait(asio::use_awaitable);
    CHECK_FALSE(worker.is_dead());
    CHECK(worker.state() == cocluster::worker_state::listening);
    const auto reply = co_await test::ask(port, "late");
    CHECK(test::answered_by(reply) == worker.id());
    co_await cluster.disconnect();
    CHECK(worker.status()->code == 0);
  });
}

TEST_CASE_TEMPLATE("each worker's i-th concurrent listen(0) shares one port, and a closed index is "
                   "reused [child-index-net, server-restart-rr, server-restart-none]",
                   Policy, cocluster::round_robin, cocluster::shared_socket) {
  asio::io_context io;
  cluster_of<Policy> cluster(io);
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
    CHECK(test::answered_by(reply) != 0);
    co_await cluster.disconnect();
    for (auto& [worker, ports] : servers)
      CHECK(worker.status()->code == 0);
  });
}

TEST_CASE_TEMPLATE("a port already taken is EADDRINUSE in the worker, named in the error, and the "
                   "primary stays up [shared-handle-bind-error, ipc-throw]",
                   Policy, cocluster::round_robin, cocluster::shared_socket) {
  asio::io_context io;
  cluster_of<Policy> cluster(io);
  asio::ip::tcp::acceptor taken(io, {asio::ip::make_address("127.0.0.1"), 0});
  const int port = taken.local_endpoint().port();
  cluster.setup_primary(
      test::scenario("listen-fails", test::strings("port=" + std::to_string(port), "host=127.0.0.1")));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["code"] == EADDRINUSE);
    const auto what = report["error"].template get<std::string>();
    CHECK(what.find("bind 127.0.0.1:" + std::to_string(port)) != std::string::npos);
    co_await cluster.disconnect();
    CHECK(worker.status()->code == 0);
  });
}

TEST_CASE("a privileged port is EACCES for a worker that is not root [bind-privileged-port]") {
  if (::geteuid() == 0) {
    MESSAGE("running as root: privileged ports are allowed, skipped");
    return;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  cluster.setup_primary(test::scenario("listen-fails", test::strings("port=42", "host=127.0.0.1")));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["code"] == EACCES);
    co_await cluster.disconnect();
  });
}

TEST_CASE("two independent primaries cannot share an explicit port [bind-twice]") {
  const int port = test::free_port();
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto s = test::scenario("primary-with-server", {std::to_string(port)});
    s.silent = true;
    cluster.setup_primary(s);
    auto other = cluster.fork();
    std::string line;
    co_await asio::async_read_until(*other.stdio_pipe(1), asio::dynamic_buffer(line), '\n',
                                    asio::use_awaitable);
    REQUIRE(line == "ready\n");
    cluster.setup_primary(
        test::scenario("listen-fails", test::strings("port=" + std::to_string(port), "host=127.0.0.1")));
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["code"] == EADDRINUSE);
    other.kill(SIGKILL);
    co_await other.exited();
    co_await cluster.disconnect();
  });
}

TEST_CASE("a shared socket's workers leave cleanly after serving [shared-leak]") {
  asio::io_context io;
  cocluster::cluster<cocluster::shared_socket> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1"));
    cluster.setup_primary(test::scenario("idle"));
    auto idle = cluster.fork();
    co_await idle.online();
    const auto reply = co_await test::ask(servers[0].second[0], "hello");
    CHECK(test::answered_by(reply) == servers[0].first.id());
    co_await cluster.disconnect();
    CHECK(servers[0].first.status()->code == 0);
    CHECK(idle.status()->code == 0);
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
  test::run(io, [&]() -> asio::awaitable<void> {
    std::map<int, int> limit_of;
    for (const int limit : {0, 1, 9}) {
      auto servers = co_await fork_servers(
          cluster, 1, test::strings("kind=unix", "path=" + path, "hold", "max=" + std::to_string(limit)));
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
      ++served_by_limit[limit_of[test::answered_by(reply)]];
      held.push_back(std::move(socket)); // connections stay open: they count against the limit
    }
    CHECK(served_by_limit[0] == 0);
    CHECK(served_by_limit[1] == 1);
    CHECK(served_by_limit[9] == 9);
    held.clear();
    co_await cluster.disconnect();
  });
  std::filesystem::remove_all(dir);
}

TEST_CASE("a worker that closes its server while connections are handed to it refuses them, "
          "another serves them, and no descriptor leaks [worker-handle-close]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("host=127.0.0.1"));
    const int port = servers[0].second[0];
    auto closer = servers[0].first;
    auto closer_messages = closer.subscribe(cocluster::event::message);
    const auto before = test::open_fds(std::to_string(closer.pid())).size();
    // Connections pour in while the first worker closes its server.
    auto clients = test::start(io.get_executor(), load(port, 200, 8));
    co_await test::sleep(5ms);
    closer.send(std::string("close"));
    auto answers = co_await clients.result();
    CHECK(answers[0] == 0);
    CHECK(total(answers) == 200);
    co_await closer_messages.async_receive(); // "closed"
    const auto after_count = co_await test::eventually(
        [&] { return test::open_fds(std::to_string(closer.pid())).size() <= before; }, 2s);
    CHECK(after_count);
    auto later = co_await load(port, 20, 2);
    CHECK(later[closer.id()] == 0);
    CHECK(later[servers[1].first.id()] == 20);
    co_await cluster.disconnect();
  });
}

TEST_CASE("a worker's disconnect waits for its open connections [worker-wait-server-close]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1", "hold"));
    auto worker = servers[0].first;
    auto held = co_await test::ask_and_hold(servers[0].second[0], "hold me");
    CHECK(test::answered_by(held.reply) == worker.id());
    bool disconnected = false;
    worker.async_wait_disconnect([&](std::error_code) { disconnected = true; });
    worker.disconnect();
    co_await test::sleep(300ms);
    CHECK(!disconnected); // the connection is still open
    held.socket.close();
    co_await worker.disconnected();
    const auto status = co_await worker.exited();
    CHECK(status.code == 0);
  });
}

TEST_CASE("a disconnect with a drain timeout shuts down connections still open after it") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1", "hold"));
    auto worker = servers[0].first;
    auto held = co_await test::ask_and_hold(servers[0].second[0], "hold me");
    const auto start = std::chrono::steady_clock::now();
    worker.disconnect(std::chrono::milliseconds(200));
    co_await worker.disconnected();
    const auto waited = std::chrono::steady_clock::now() - start;
    CHECK(waited >= std::chrono::milliseconds(150));
    char byte;
    auto [ec, n] = co_await held.socket.async_read_some(
        asio::buffer(&byte, 1), asio::experimental::as_tuple(asio::use_awaitable));
    CHECK(ec == asio::error::eof); // the worker shut it down
    const auto status = co_await worker.exited();
    CHECK(status.code == 0);
  });
}

TEST_CASE("a disconnected worker lives as long as its own outgoing connection [worker-no-exit]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::ip::tcp::acceptor server(io, {asio::ip::make_address("127.0.0.1"), 0});
  cluster.setup_primary(
      test::scenario("client-of", {std::to_string(server.local_endpoint().port())}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto peer = co_await server.async_accept(asio::use_awaitable);
    co_await messages.async_receive(); // "connected"
    worker.disconnect();
    co_await worker.disconnected();
    co_await test::sleep(300ms);
    CHECK(!worker.is_dead());
    peer.close();
    const auto status = co_await worker.exited();
    CHECK(status.code == 0);
    CHECK(worker.exited_after_disconnect() == true);
  });
}

TEST_CASE("eight workers with two servers each answer on both ports, and a second run reuses the "
          "ports [disconnect]") {
  const std::string port_a = std::to_string(test::free_port());
  const std::string port_b = std::to_string(test::free_port());
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    for (int round = 0; round < 2; ++round) {
      CAPTURE(round);
      // Two explicit ports per worker: the same ports in both rounds.
      cluster.setup_primary(test::scenario("serve", test::strings("host=127.0.0.1", "port=" + port_a)));
      std::vector<cocluster::cluster<>::worker_type> workers;
      for (int i = 0; i < 8; ++i)
        workers.push_back(cluster.fork());
      for (auto& worker : workers)
        co_await worker.listening();
      cluster.setup_primary(test::scenario("serve", test::strings("host=127.0.0.1", "port=" + port_b)));
      for (int i = 0; i < 8; ++i)
        workers.push_back(cluster.fork());
      for (std::size_t i = 8; i < workers.size(); ++i)
        co_await workers[i].listening();
      const auto a = co_await test::ask(std::stoi(port_a), "a");
      const auto b = co_await test::ask(std::stoi(port_b), "b");
      CHECK(test::answered_by(a) != 0);
      CHECK(test::answered_by(b) != 0);
      co_await cluster.disconnect();
      CHECK(cluster.workers().empty());
      for (auto& worker : workers)
        CHECK(worker.status()->code == 0);
    }
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
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("kind=unix", "path=" + absolute));
    CHECK(std::filesystem::exists(deep / "server.sock"));
    std::set<int> answered;
    for (int i = 0; i < 4; ++i)
      answered.insert(test::answered_by(co_await test::ask_unix("server.sock", "GET /")));
    CHECK(answered.size() == 2); // round-robin over the two workers
    co_await cluster.disconnect();
  });
  CHECK(!std::filesystem::exists(deep / "server.sock")); // removed with the listener
  std::filesystem::current_path(previous);
  std::filesystem::remove_all(base);
}

TEST_CASE("workers bound to one UDP port share its datagrams [dgram-1]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  cluster.setup_primary(test::scenario("udp-echo"));
  test::run(io, [&]() -> asio::awaitable<void> {
    std::vector<cocluster::cluster<>::worker_type> workers;
    std::vector<cocluster::event_stream<nlohmann::json>> streams;
    for (int i = 0; i < 4; ++i) {
      workers.push_back(cluster.fork());
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
    int answers = 0;
    for (int i = 0; i < 40; ++i) {
      co_await client.async_send_to(asio::buffer("ping", 4), target, asio::use_awaitable);
      char reply[16];
      asio::ip::udp::endpoint from;
      const auto n = co_await client.async_receive_from(asio::buffer(reply), from,
                                                         asio::use_awaitable);
      const int id = std::stoi(std::string(reply, n));
      if (id >= 1 && id <= 4)
        ++answers;
    }
    CHECK(answers == 40);
    for (auto& worker : workers)
      worker.send(std::string("stop"));
    co_await cluster.disconnect();
    for (auto& worker : workers)
      CHECK(worker.status()->code == 0);
  });
}

TEST_CASE("workers listening on :: share one dual-stack port reachable over IPv4 "
          "[net-listen-ipv6only-false]") {
  if (!test::has_ipv6()) {
    MESSAGE("no IPv6 on this machine: skipped");
    return;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
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
    CHECK(test::answered_by(over_v4) != 0);
    CHECK(test::answered_by(over_v6) != 0);
    co_await cluster.disconnect();
  });
}

TEST_CASE("a port one worker closed can be taken by another, and taken back "
          "[seq/port-reuse-between-workers]") {
  const int port = test::free_port();
  asio::io_context io;
  cocluster::cluster<> cluster(io);
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
  });
}

TEST_CASE("large messages interleaved with handed-over connections keep every descriptor matched "
          "to its frame [seq/send-handle-large-payload]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
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
    CHECK(answers[worker.id()] == 100);
    co_await cluster.disconnect();
  });
}

TEST_CASE("workers can share a listening descriptor the primary already has [listen-fd-cluster]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::ip::tcp::acceptor inherited(io, {asio::ip::make_address("127.0.0.1"), 0});
  const int fd = inherited.native_handle();
  const int port = inherited.local_endpoint().port();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("fd=" + std::to_string(fd)));
    CHECK(servers[0].second[0] == port);
    std::set<int> answered;
    for (int i = 0; i < 4; ++i)
      answered.insert(test::answered_by(co_await test::ask(port, "via fd")));
    CHECK(answered.size() == 2);
    co_await cluster.disconnect();
  });
}

TEST_CASE("an IPv6-only server takes IPv6 clients and refuses IPv4 ones") {
  if (!test::has_ipv6()) {
    MESSAGE("no IPv6 on this machine: skipped");
    return;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 2, test::strings("host=::", "ipv6only"));
    const int port = servers[0].second[0];
    const auto over_v6 = co_await test::ask(port, "v6", "::1");
    CHECK(test::answered_by(over_v6) != 0);
    asio::ip::tcp::socket v4(io);
    auto [ec] = co_await v4.async_connect({asio::ip::make_address("127.0.0.1"),
                                           static_cast<unsigned short>(port)},
                                          asio::experimental::as_tuple(asio::use_awaitable));
    CHECK(ec == asio::error::connection_refused);
    co_await cluster.disconnect();
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
    auto [ec, none] = co_await server.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
    CHECK(ec == asio::error::operation_aborted);
  });
}

// ---- the scheduling policies ----

TEST_CASE_TEMPLATE("every policy answers 4,000 short connections exactly once with four workers",
                   Policy, cocluster::round_robin, cocluster::shared_socket, cocluster::reuse_port,
                   cocluster::least_connections, cocluster::ip_hash) {
  asio::io_context io;
  cluster_of<Policy> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 4, test::strings("host=127.0.0.1"));
    auto answers = co_await load(servers[0].second[0], 4000, 8);
    CHECK(answers[0] == 0);
    CHECK(total(answers) == 4000);
    if constexpr (std::is_same_v<Policy, cocluster::round_robin>) {
      int most = 0, least = 4000;
      for (auto& [worker, ports] : servers) {
        most = std::max(most, answers[worker.id()]);
        least = std::min(least, answers[worker.id()]);
      }
      CHECK(most - least <= 1);
    }
    co_await cluster.disconnect();
  }, 180s);
}

TEST_CASE("ip_hash sends each client address to a single worker, and moves it only when that "
          "worker leaves") {
  asio::io_context io;
  cocluster::cluster<cocluster::ip_hash> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 4, test::strings("host=127.0.0.1"));
    const int port = servers[0].second[0];
    auto source = [](int n) -> std::optional<std::string> {
      return "127.0.0." + std::to_string(1 + n % 16);
    };
    std::map<std::string, std::set<int>> workers_of;
    for (int n = 0; n < 160; ++n) {
      const auto reply = co_await test::ask(port, std::to_string(n), "127.0.0.1", source(n));
      workers_of[*source(n)].insert(test::answered_by(reply));
    }
    std::set<int> used;
    for (auto& [client, ids] : workers_of) {
      CHECK(ids.size() == 1);
      used.insert(*ids.begin());
    }
    CHECK(used.size() > 1); // 16 addresses over 4 workers
    // One worker leaves: only its clients move.
    auto leaving = servers[0].first;
    leaving.kill(SIGKILL);
    co_await leaving.exited();
    for (int n = 0; n < 16; ++n) {
      const auto client = *source(n);
      const auto reply = co_await test::ask(port, std::to_string(n), "127.0.0.1", client);
      const int now = test::answered_by(reply);
      const int before = *workers_of[client].begin();
      if (before == leaving.id())
        CHECK(now != leaving.id());
      else
        CHECK(now == before);
    }
    co_await cluster.disconnect();
  });
}

TEST_CASE("least_connections gives a worker holding 50 idle connections none of the next 100") {
  asio::io_context io;
  cocluster::cluster<cocluster::least_connections> cluster(io);
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
    CHECK(answers[busy[0].first.id()] == 0);
    CHECK(total(answers) == 100);
    idle.clear();
    co_await cluster.disconnect();
  });
}

TEST_CASE("connections handed to a worker that is SIGKILLed before accepting them are served by "
          "another worker") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    // The hoarder takes connections but never accepts them; the other one serves.
    auto hoarder = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1", "hoard"));
    auto server = co_await fork_servers(cluster, 1, test::strings("host=127.0.0.1"));
    const int port = hoarder[0].second[0];
    auto clients = test::start(io.get_executor(), load(port, 500, 50));
    co_await test::sleep(200ms);
    hoarder[0].first.kill(SIGKILL);
    auto answers = co_await clients.result();
    CHECK(answers[0] == 0);
    CHECK(answers[server[0].first.id()] == 500);
    co_await cluster.disconnect();
  });
}

TEST_CASE("a custom scheduling policy of a few lines decides who serves") {
  asio::io_context io;
  cocluster::cluster<lowest_id_first> cluster(io);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto servers = co_await fork_servers(cluster, 3, test::strings("host=127.0.0.1"));
    auto answers = co_await load(servers[0].second[0], 30, 1);
    CHECK(answers[servers[0].first.id()] == 30);
    co_await cluster.disconnect();
  });
}

TEST_CASE("the distribution can be chosen at run time and is fixed at the first fork") {
  ::setenv("NODE_CLUSTER_SCHED_POLICY", "none", 1);
  {
    asio::io_context io;
    cocluster::cluster<> cluster(io);
    CHECK(cluster.distribution() == cocluster::distribution::shared_socket);
    cluster.set_distribution(cocluster::distribution::reuse_port);
    CHECK(cluster.distribution() == cocluster::distribution::reuse_port);
    test::run(io, [&]() -> asio::awaitable<void> {
      auto servers = co_await fork_servers(cluster, 2, test::strings("host=127.0.0.1"));
      CHECK(servers[0].second == servers[1].second);
      const auto reply = co_await test::ask(servers[0].second[0], "x");
      CHECK(test::answered_by(reply) != 0);
      co_await cluster.disconnect();
    });
    CHECK_THROWS_AS(cluster.set_distribution(cocluster::distribution::primary_accepts),
                    std::logic_error);
  }
  ::unsetenv("NODE_CLUSTER_SCHED_POLICY");
}

TEST_SUITE_END();

