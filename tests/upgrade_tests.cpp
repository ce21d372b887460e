// The hot upgrade of a primary (`supervisor::async_upgrade`): this test process is the old
// primary, and the new one is this binary again, run as the scenario "upgraded-primary" (a
// supervised pool of one HTTP worker on the same port), or one that exits at once or never gets
// ready; one case hands over a UDP socket instead, one the connections the old primary had
// accepted and not handed over yet. Part of the supervisor suite.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "support/exits.hpp"
#include "support/http.hpp"
#include "support/net.hpp"
#include "support/processes.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"

using namespace std::chrono_literals;

namespace {

// What this process got through exec, nothing else: the socket at 3 (a listening one, or a
// datagram socket for `udp`) and the ready pipe named in the environment (checked before
// anything here opens a descriptor).
bool only_the_handover_descriptors(bool udp) {
  const char* ready = std::getenv("COCLUSTER_UPGRADE_READY_FD");
  if (!ready)
    return false;
  const std::set<int> expected{3, std::atoi(ready)};
  std::set<int> open;
  for (int fd = 3; fd < 256; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0)
      open.insert(fd);
  if (open != expected)
    return false;
  int value = 0;
  socklen_t length = sizeof value;
  if (udp)
    return ::getsockopt(3, SOL_SOCKET, SO_TYPE, &value, &length) == 0 && value == SOCK_DGRAM;
  return ::getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value != 0;
}

// The parent of `pid` (/proc/<pid>/stat), or 0.
pid_t parent_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos)
    return 0;
  char state = 0;
  int parent = 0;
  std::sscanf(text.c_str() + paren + 1, " %c %d", &state, &parent);
  return parent;
}

// The exit code of an upgraded primary one of whose workers did not exit 0.
constexpr int a_worker_failed = 81;

// The workers a scenario primary forks, from construction on. A scenario runs outside doctest,
// so the primary checks them itself: `failures()` prints each worker that did not end with exit
// code 0 (or still runs) to stderr and counts them.
class forked_workers {
public:
  explicit forked_workers(cocluster::cluster<>& cluster)
      : forks_(cluster.subscribe(cocluster::event::fork)) {}

  int failures(const char* primary) {
    while (auto forked = forks_.try_receive())
      workers_.push_back(forked->worker);
    int failed = 0;
    for (const auto& worker : workers_) {
      const auto& status = worker.status();
      if (status && status->success())
        continue;
      std::fprintf(stderr, "%s: worker %d (pid %d) ended with %s\n", primary, worker.id(),
                   static_cast<int>(worker.pid()),
                   status ? status->to_string().c_str() : "nothing: it still runs");
      ++failed;
    }
    return failed;
  }

private:
  cocluster::event_stream<cocluster::fork_event<cocluster::cluster<>::worker_type>> forks_;
  std::vector<cocluster::cluster<>::worker_type> workers_;
};

} // namespace

// A supervised worker that binds UDP 127.0.0.1:<port> through its primary and answers each
// datagram with its pid, until the primary disconnects it.
WORKER_SCENARIO("supervised-udp") {
  const int port = std::stoi(args.at(0));
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto messages = cluster.worker().subscribe(cocluster::event::message);
        auto socket = co_await cluster.bind(cocluster::udp_bind_options(port, "127.0.0.1"));
        const std::string pid = std::to_string(::getpid());
        // The end of the channel (the disconnect) ends the message stream, and the answering.
        co_await test::answer_datagrams(socket, messages, [&](const std::string&) { return pid; });
      },
      test::exit_on_failure("supervised-udp"));
  io.run();
  return 0;
}

// A supervised worker that listens on 127.0.0.1:<port> through its primary (ready: listening)
// but accepts nothing until it gets SIGUSR1; then it serves HTTP until its server closes and
// nothing it was handed is left.
WORKER_SCENARIO("supervised-http-late") {
  const int port = std::stoi(args.at(0));
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::signal_set go(io, SIGUSR1);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto server = co_await cluster.listen(cocluster::tcp_listen_options(port, "127.0.0.1"));
        co_await go.async_wait(asio::use_awaitable);
        for (;;) {
          auto [ec, socket] = co_await server.async_accept(test::as_tuple);
          if (ec)
            co_return;
          asio::co_spawn(io, test::http::serve_connection(std::move(socket), server),
                         test::exit_on_failure("supervised-http-late: a connection"));
        }
      },
      test::exit_on_failure("supervised-http-late"));
  io.run();
  return 0;
}

// The new primary: args = port, how ("ok", "udp": its worker runs supervised-udp, "exit": exits
// 3 at once, "never-ready": sleeps). Stopped by SIGTERM, it exits 0 when its run succeeded and
// every worker it forked exited 0 (after the graceful stop's disconnect), else 1 or
// `a_worker_failed`.
WORKER_SCENARIO("upgraded-primary") {
  const int port = std::stoi(args.at(0));
  const std::string how = args.at(1);
  if (how == "exit")
    return 3;
  if (how == "never-ready") {
    std::this_thread::sleep_for(60s);
    return 0;
  }
  if (!only_the_handover_descriptors(how == "udp")) {
    std::fprintf(stderr, "upgraded-primary: descriptors other than the hand-over's\n");
    return 80;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  cluster.setup_primary(test::scenario(how == "udp" ? "supervised-udp" : "supervised-http",
                                       test::strings(std::to_string(port))));
  cocluster::supervisor_options options;
  options.workers = 1;
  options.heartbeat.interval = 0ms;
  forked_workers workers(cluster);
  cocluster::supervisor supervisor(cluster, options);
  supervisor.handle_signals();
  int code = 1;
  supervisor.async_run([&code](std::error_code ec) { code = ec ? 1 : 0; });
  io.run(); // the run is over once every worker has exited
  if (workers.failures("upgraded-primary") != 0)
    return a_worker_failed;
  return code;
}

namespace {

struct upgrade_setup {
  int port = test::free_port();
  cocluster::supervisor_options options;

  explicit upgrade_setup(const std::string& how) {
    options.workers = 1;
    options.boot_timeout = 20s;
    options.drain_timeout = 5s;
    options.kill_timeout = 10s;
    options.heartbeat.interval = 0ms;
    options.upgrade_timeout = how == "ok" || how == "udp" ? 20s : 1500ms;
    options.upgrade_command = {test::self_executable(), "--worker-scenario", "upgraded-primary",
                               std::to_string(port), how};
    udp = how == "udp";
  }

  cocluster::settings workers() const {
    return test::scenario(udp ? "supervised-udp" : "supervised-http",
                          test::strings(std::to_string(port)));
  }

  bool udp = false;
};

// The pid that answers a datagram to 127.0.0.1:port (a worker's), or 0 when none answers within
// 2 s.
asio::awaitable<pid_t> who_answers_udp(int port) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::udp::socket client(executor, {asio::ip::make_address("127.0.0.1"), 0});
  const asio::ip::udp::endpoint target(asio::ip::make_address("127.0.0.1"),
                                       static_cast<unsigned short>(port));
  co_await client.async_send_to(asio::buffer(std::string("who")), target, asio::use_awaitable);
  char answer[32];
  asio::ip::udp::endpoint from;
  asio::steady_timer limit(executor, 2s);
  using namespace asio::experimental::awaitable_operators;
  auto got = co_await (client.async_receive_from(asio::buffer(answer), from, test::as_tuple) ||
                       limit.async_wait(test::as_tuple));
  if (got.index() != 0 || std::get<0>(std::get<0>(got)))
    co_return 0;
  co_return static_cast<pid_t>(
      std::atoi(std::string(answer, std::get<1>(std::get<0>(got))).c_str()));
}

// The pid that answers GET / on the port (a worker's), or 0.
asio::awaitable<pid_t> who_answers(int port) {
  auto socket = co_await test::http::send_request(
      port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto answer = co_await test::http::read_to_end(socket);
  const auto body = answer.find("\r\n\r\n");
  if (answer.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos)
    co_return 0;
  co_return static_cast<pid_t>(std::atoi(answer.c_str() + body + 4));
}

// A new primary left running by a test that failed half-way is killed at the end.
struct successor_guard {
  pid_t pid = 0;
  ~successor_guard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      test::wait_for_child(pid);
    }
  }
};

// The events of `type` so far (`seen` keeps what was taken from the stream).
std::vector<cocluster::supervisor_event> events_of(
    cocluster::event_stream<cocluster::supervisor_event>& stream,
    std::vector<cocluster::supervisor_event>& seen, cocluster::supervisor_event_type type) {
  while (auto event = stream.try_receive())
    seen.push_back(std::move(*event));
  std::vector<cocluster::supervisor_event> found;
  for (const auto& e : seen)
    if (e.type == type)
      found.push_back(e);
  return found;
}

// A pool of one worker (HTTP, or UDP for `how` "udp") is upgraded to a new primary of the same
// kind: the upgrade succeeds, the old pool's run ends with success and its worker is gone (it
// exited 0), and the port is answered (`who_answers`) by the new primary's worker. The new
// primary is stopped with SIGTERM at the end and exits 0: its run and its worker ended well.
void expect_upgrade_hands_over(const std::string& how,
                               std::function<asio::awaitable<pid_t>(int)> who_answers) {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  upgrade_setup setup(how);
  cluster.setup_primary(setup.workers());
  cocluster::supervisor supervisor(cluster, setup.options); // readiness: listening
  auto events = supervisor.subscribe();
  std::vector<cocluster::supervisor_event> seen;
  successor_guard successor;
  test::run(io, [&]() -> asio::awaitable<void> {
    bool run_done = false;
    std::error_code run_code;
    supervisor.async_run([&](std::error_code ec) {
      run_done = true;
      run_code = ec;
    });
    co_await supervisor.async_wait_ready();
    const pid_t old_worker = supervisor.workers().at(0).pid();
    CHECK(co_await who_answers(setup.port) == old_worker);

    // (a variable, not a structured binding: clang 14 cannot capture one in CHECK_MESSAGE)
    const std::error_code ec = std::get<0>(co_await supervisor.async_upgrade(test::as_tuple));
    CHECK_MESSAGE(!ec, ec.message());
    const auto upgraded = events_of(events, seen, cocluster::supervisor_event_type::upgraded);
    REQUIRE(upgraded.size() == 1);
    successor.pid = upgraded[0].pid;
    CHECK(successor.pid > 0);
    CHECK(co_await test::eventually([&] { return run_done; }, 20s));
    CHECK(!run_code);
    CHECK(test::process_gone(old_worker));
    // The port is served by the new primary's worker now.
    const pid_t answered = co_await who_answers(setup.port);
    CHECK(answered != 0);
    CHECK(answered != old_worker);
    CHECK(parent_of(answered) == successor.pid);
    co_await exits.check(); // the old pool's worker exited 0
  });
  REQUIRE(successor.pid > 0);
  ::kill(successor.pid, SIGTERM);
  const int status = test::wait_for_child(std::exchange(successor.pid, 0), 20s);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

// The connections waiting in the kernel's accept queue of the socket listening on
// 127.0.0.1:port (/proc/net/tcp's rx_queue of a LISTEN socket), or -1 when none listens there.
long accept_queue(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line); // the header
  while (std::getline(in, line)) {
    unsigned local_address = 0, local_port = 0, state = 0;
    unsigned long tx = 0, rx = 0;
    if (std::sscanf(line.c_str(), " %*d: %x:%x %*x:%*x %x %lx:%lx", &local_address, &local_port,
                    &state, &tx, &rx) == 5 &&
        state == 0x0A && static_cast<int>(local_port) == port)
      return static_cast<long>(rx);
  }
  return -1;
}

} // namespace

TEST_SUITE_BEGIN("supervisor");

TEST_CASE("async_upgrade hands the listening socket to a new primary whose worker serves it "
          "once ready, and the old pool stops with success") {
  expect_upgrade_hands_over("ok", who_answers);
}

TEST_CASE("an upgrade leaves no connection unanswered that the old primary accepted and no "
          "worker took yet: its leaving worker serves them") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  upgrade_setup setup("ok");
  cluster.setup_primary(test::scenario("supervised-http-late",
                                       test::strings(std::to_string(setup.port))));
  cocluster::supervisor supervisor(cluster, setup.options);
  auto events = supervisor.subscribe();
  std::vector<cocluster::supervisor_event> seen;
  successor_guard successor;
  test::run(io, [&]() -> asio::awaitable<void> {
    bool run_done = false;
    std::error_code run_code;
    supervisor.async_run([&](std::error_code ec) {
      run_done = true;
      run_code = ec;
    });
    co_await supervisor.async_wait_ready();
    const pid_t old_worker = supervisor.workers().at(0).pid();
    // Twelve requests, each on a connection of its own: the worker, not accepting yet, holds
    // the four of its window; the other eight wait in the old primary.
    std::vector<asio::ip::tcp::socket> clients;
    for (int i = 0; i < 12; ++i)
      clients.push_back(co_await test::http::send_request(
          setup.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    // The old primary accepted them all: none is left in the kernel for the new one.
    CHECK(co_await test::eventually([&] { return accept_queue(setup.port) == 0; }, 10s));

    const std::error_code ec = std::get<0>(co_await supervisor.async_upgrade(test::as_tuple));
    CHECK_MESSAGE(!ec, ec.message());
    const auto upgraded = events_of(events, seen, cocluster::supervisor_event_type::upgraded);
    REQUIRE(upgraded.size() == 1);
    successor.pid = upgraded[0].pid;
    // The old pool is stopping: its worker, asked to leave, accepts only now.
    ::kill(old_worker, SIGUSR1);
    int by_old_worker = 0;
    for (auto& client : clients) {
      const auto answer = co_await test::http::read_to_end(client);
      CHECK_MESSAGE(answer.rfind("HTTP/1.1 200", 0) == 0, "answer: '" << answer << "'");
      const auto body = answer.find("\r\n\r\n");
      if (body != std::string::npos && std::atoi(answer.c_str() + body + 4) == old_worker)
        ++by_old_worker;
    }
    CHECK(by_old_worker == 12);
    CHECK(co_await test::eventually([&] { return run_done; }, 20s));
    CHECK(!run_code);
    co_await exits.check(); // the old worker drained and exited 0
  });
  REQUIRE(successor.pid > 0);
  ::kill(successor.pid, SIGTERM);
  const int status = test::wait_for_child(std::exchange(successor.pid, 0), 20s);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("async_upgrade hands a UDP socket over: the new primary's worker, ready once bound, "
          "answers on the same port") {
  expect_upgrade_hands_over("udp", who_answers_udp);
}

namespace {

// A pool of one worker asks for an upgrade whose new primary behaves as `how` and fails: the
// upgrade completes with upgrade_failed, one upgrade_failed event whose reason holds `reason`
// (handed to `check_failed`, in the loop), and the old worker still serves, alone, until its
// graceful stop (it exits 0).
void expect_failed_upgrade(const std::string& how, const std::string& reason,
                           std::function<asio::awaitable<void>(pid_t)> check_failed) {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  upgrade_setup setup(how);
  cluster.setup_primary(setup.workers());
  cocluster::supervisor supervisor(cluster, setup.options);
  auto events = supervisor.subscribe();
  std::vector<cocluster::supervisor_event> seen;
  test::run(io, [&]() -> asio::awaitable<void> {
    supervisor.async_run([](std::error_code) {});
    co_await supervisor.async_wait_ready();
    const pid_t worker = supervisor.workers().at(0).pid();
    auto [ec] = co_await supervisor.async_upgrade(test::as_tuple);
    CHECK(ec == cocluster::errc::upgrade_failed);
    const auto failed = events_of(events, seen, cocluster::supervisor_event_type::upgrade_failed);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].reason.find(reason) != std::string::npos);
    co_await check_failed(failed[0].pid);
    CHECK(co_await who_answers(setup.port) == worker);
    CHECK(supervisor.ready_count() == 1);
    co_await supervisor.async_stop();
    co_await exits.check();
  });
}

} // namespace

TEST_CASE("an upgrade whose new primary exits at once fails with upgrade_failed and the old pool "
          "serves on") {
  expect_failed_upgrade("exit", "exit code 3", [](pid_t) -> asio::awaitable<void> { co_return; });
}

TEST_CASE("an upgrade whose new primary is not ready within upgrade_timeout kills it and the old "
          "pool serves on") {
  expect_failed_upgrade(
      "never-ready", "upgrade timeout of 1500 ms", [](pid_t killed) -> asio::awaitable<void> {
        CHECK(killed > 0);
        CHECK(co_await test::eventually([&] { return test::process_gone(killed); }, 10s));
      });
}

TEST_SUITE_END();
