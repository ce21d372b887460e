// systemd: socket activation through the real `systemd-socket-activate` (Debian's systemd
// package), which binds the port and starts a primary of this binary with the socket; and
// sd_notify to a notify socket the test owns (a path or an abstract name), with real worker
// processes under the supervisor. No systemd as PID 1 is needed. Waits are bounded; nothing
// asserts on speed beyond the bounds the variables themselves set.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/exits.hpp"
#include "support/http.hpp"
#include "support/net.hpp"
#include "support/processes.hpp"
#include "support/program.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/skip.hpp"
#include "support/worker_scenarios.hpp"

extern char** environ;

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Scenarios.

// A worker that serves HTTP (each answer is its pid) on `port` of any address, asking for the
// systemd socket named `name` ("-": none), and reports ready when told "go".
WORKER_SCENARIO("systemd-http") {
  const int port = std::stoi(args.at(0));
  const std::string name = args.at(1);
  return test::with_serialization([port, name]<class S>() {
    return test::run_worker<S>([port, name](auto& cluster) -> asio::awaitable<void> {
      auto messages = cluster.worker().subscribe(cocluster::event::message);
      asio::co_spawn(
          cluster.get_executor(),
          [&cluster, messages = std::move(messages)]() mutable -> asio::awaitable<void> {
            for (;;) {
              auto [ec, message] = co_await messages.async_receive(test::as_tuple);
              if (ec)
                co_return;
              if (message == "go")
                cocluster::report_ready(cluster);
            }
          },
          test::exit_on_failure("go"));
      cocluster::tcp_listen_options options(port);
      if (name != "-")
        options.with_systemd_name(name);
      auto server = co_await cluster.listen(options);
      for (;;) {
        auto [ec, socket] = co_await server.async_accept(test::as_tuple);
        if (ec)
          co_return;
        asio::co_spawn(cluster.get_executor(),
                       test::http::serve_connection(std::move(socket), server),
                       test::exit_on_failure("http: a connection"));
      }
    });
  });
}

// A primary started by systemd-socket-activate (not a worker: this binary run as a program).
// Args: port, name ("-": none), workers. Prints what the test checks, then serves until
// SIGTERM: "adopted cloexec=<0|1> variables=<set|unset>" about descriptor 3 and LISTEN_*,
// "listening <port>", "worker <pid>" for each worker once all listen, "primary <pid>". After
// SIGTERM it disconnects its workers and waits for their exits: it exits 0 when each exited 0,
// 81 when one did not (printed to stderr: "activated-primary: worker <id> (pid <pid>) ended
// with <how>"), 1 when something threw.
WORKER_SCENARIO("activated-primary") {
  const std::string port = args.at(0);
  const std::string name = args.at(1);
  const int workers = std::stoi(args.at(2));
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  if (!cluster.is_primary())
    return 93;
  cluster.setup_primary(test::scenario("systemd-http", test::strings(port, name)));
  const int flags = ::fcntl(3, F_GETFD);
  const bool variables = std::getenv("LISTEN_PID") || std::getenv("LISTEN_FDS") ||
                         std::getenv("LISTEN_FDNAMES");
  std::printf("adopted cloexec=%d variables=%s\n", flags >= 0 && (flags & FD_CLOEXEC) ? 1 : 0,
              variables ? "set" : "unset");
  std::fflush(stdout);
  int code = 0;
  // SIGTERM is caught from before the pid is printed: the test may send it at once.
  asio::signal_set signals(io, SIGTERM);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto listening = cluster.subscribe(cocluster::event::listening);
        std::vector<cocluster::cluster<>::worker_type> forked;
        for (int i = 0; i < workers; ++i)
          forked.push_back(cluster.fork());
        for (auto& worker : forked)
          co_await worker.listening();
        auto first = co_await listening.async_receive(asio::use_awaitable);
        std::printf("listening %d\n", first.address.port);
        for (auto& worker : forked)
          std::printf("worker %d\n", static_cast<int>(worker.pid()));
        std::printf("primary %d\n", static_cast<int>(::getpid()));
        std::fflush(stdout);
        co_await signals.async_wait(asio::use_awaitable);
        co_await cluster.disconnect();
        for (auto& worker : forked) {
          const auto status = co_await worker.exited();
          if (status.success())
            continue;
          std::fprintf(stderr, "activated-primary: worker %d (pid %d) ended with %s\n", worker.id(),
                       static_cast<int>(worker.pid()), status.to_string().c_str());
          code = 81;
        }
      },
      [&](std::exception_ptr e) {
        if (e)
          code = 1;
      });
  io.run();
  return code;
}

namespace {

using test::find_program;
using test::program;

const char* const needs_activate = "needs systemd-socket-activate (Debian's systemd package)";

// One GET with `Connection: close`: the body (the worker's pid), or nothing on a failure.
std::optional<int> get_pid(int port, std::chrono::seconds limit = 10s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return std::nullopt;
  timeval timeout{static_cast<time_t>(limit.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string in;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[1024];
      for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
        in.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  const auto body = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.1 200 OK", 0) != 0 || body == std::string::npos)
    return std::nullopt;
  return std::atoi(in.c_str() + body + 4);
}

// systemd-socket-activate with `activate_args` (its -l, --fdname, -E) starting this binary's
// activated primary with `primary_args`; the first connection starts it, as under systemd.
struct activated_run {
  std::unique_ptr<program> activator;
  int port = 0;             // where the workers listen
  std::set<int> workers;    // their pids
  int primary = 0;          // the primary's pid
  std::string adopted;      // the "adopted" line
  std::optional<int> first; // who answered the connection that started it
};

std::optional<activated_run> start_activated(const std::vector<std::string>& activate_args,
                                             int trigger_port, const std::string& worker_port,
                                             const std::string& name,
                                             std::chrono::seconds trigger_limit = 60s) {
  auto activate = find_program("systemd-socket-activate");
  if (!activate)
    return std::nullopt;
  std::vector<std::string> argv{*activate};
  argv.insert(argv.end(), activate_args.begin(), activate_args.end());
  argv.push_back(test::self_executable());
  for (const auto& arg :
       test::strings("--worker-scenario", "activated-primary", worker_port, name, "2"))
    argv.push_back(arg);
  activated_run run;
  run.activator = std::make_unique<program>(argv);
  REQUIRE_MESSAGE(run.activator->wait_line("Listening on", 10s), run.activator->output());
  // The first connection waits in the socket while the program starts, and is served.
  std::optional<int> first;
  std::thread trigger([&] { first = get_pid(trigger_port, trigger_limit); });
  const auto primary = run.activator->wait_line("primary ", 60s);
  trigger.join();
  REQUIRE_MESSAGE(primary, run.activator->output());
  run.first = first;
  run.primary = std::stoi(*primary);
  run.port = std::stoi(run.activator->wait_line("listening ").value_or("0"));
  run.adopted = run.activator->wait_line("adopted ").value_or("");
  for (const auto& pid : run.activator->lines_with("worker "))
    run.workers.insert(std::stoi(pid));
  return run;
}

// Requests from four clients until every worker has answered one (at most 2000 or 30 s); the
// pids that answered, and the number of failed requests.
std::pair<std::set<int>, int> serve_until_every_worker_answers(int port,
                                                               const std::set<int>& workers) {
  std::mutex mutex;
  std::set<int> seen;
  int failed = 0;
  std::atomic<int> requests{0};
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&] {
      while (requests++ < 2000 && std::chrono::steady_clock::now() < deadline) {
        const auto pid = get_pid(port);
        std::lock_guard lock(mutex);
        if (pid)
          seen.insert(*pid);
        else
          ++failed;
        if (seen == workers)
          return;
      }
    });
  for (auto& client : clients)
    client.join();
  return {seen, failed};
}

// Stops the activated primary with SIGTERM: it and the activator exit 0 (so each of its workers
// exited 0 too).
void stop_activated(activated_run& run) {
  REQUIRE(::kill(run.primary, SIGTERM) == 0);
  const int status = run.activator->wait(30s);
  CHECK_MESSAGE(WIFEXITED(status), run.activator->output());
  CHECK_MESSAGE(WEXITSTATUS(status) == 0, run.activator->output());
}

void every_worker_serves_the_activated_socket(const std::string& policy) {
  if (!find_program("systemd-socket-activate")) {
    test::skip(needs_activate);
    return;
  }
  const int port = test::free_port();
  auto run = start_activated(test::strings("-l", "127.0.0.1:" + std::to_string(port), "-E",
                                           "NODE_CLUSTER_SCHED_POLICY=" + policy),
                             port, std::to_string(port), "-");
  REQUIRE(run);
  CHECK(run->port == port);
  REQUIRE(run->workers.size() == 2);
  CHECK_MESSAGE(run->first.has_value(), run->activator->output());
  CHECK(run->workers.count(run->first.value_or(0)) == 1);
  const auto [seen, failed] = serve_until_every_worker_answers(port, run->workers);
  CHECK(seen == run->workers);
  CHECK(failed == 0);
  stop_activated(*run);
}

// ---------------------------------------------------------------------------------------------
// A notify socket owned by the test: every datagram, with the time it came.

class notify_socket {
public:
  struct datagram {
    std::chrono::steady_clock::time_point at;
    std::string text;
  };

  /// On a fresh path under /tmp, or in the abstract namespace.
  explicit notify_socket(bool abstract) {
    static int counter = 0;
    const std::string name = "/tmp/cocluster-notify-" + std::to_string(::getpid()) + "-" +
                             std::to_string(++counter);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    socklen_t length;
    if (abstract) {
      std::memcpy(address.sun_path + 1, name.data(), name.size());
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
      value_ = "@" + name;
    } else {
      std::memcpy(address.sun_path, name.data(), name.size());
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
      value_ = path_ = name;
    }
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0);
    reader_ = std::thread([this] {
      char buffer[4096];
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0)
          continue;
        // Read under the lock: drain() sees every datagram read before it in received_.
        std::lock_guard lock(mutex_);
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n <= 0)
          continue;
        received_.push_back({std::chrono::steady_clock::now(),
                             std::string(buffer, static_cast<std::size_t>(n))});
      }
    });
    ::setenv("NOTIFY_SOCKET", value_.c_str(), 1);
  }

  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;

  ~notify_socket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    stop_ = true;
    reader_.join();
    ::close(fd_);
    if (!path_.empty())
      ::unlink(path_.c_str());
  }

  std::vector<datagram> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }

  /// Reads every datagram sent so far and returns how many have come in all: a mark in
  /// received() between what was sent before the call and what is sent after it (a Unix
  /// datagram is queued on the socket when its sender's call returns).
  std::size_t drain() {
    std::lock_guard lock(mutex_);
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n < 0)
        return received_.size();
      received_.push_back({std::chrono::steady_clock::now(),
                           std::string(buffer, static_cast<std::size_t>(n))});
    }
  }

  /// The WATCHDOG=1 pings among the datagrams from index `from` up to `to` (excluded).
  std::size_t pings(std::size_t from, std::size_t to = static_cast<std::size_t>(-1)) {
    const auto all = received();
    std::size_t n = 0;
    for (std::size_t i = from; i < std::min(to, all.size()); ++i)
      if (all[i].text == "WATCHDOG=1\n")
        ++n;
    return n;
  }

  /// The index of the first datagram from `from` on that holds `line` (a whole line), if any.
  std::optional<std::size_t> find(const std::string& line, std::size_t from = 0) {
    const auto all = received();
    for (std::size_t i = from; i < all.size(); ++i)
      if (("\n" + all[i].text).find("\n" + line + "\n") != std::string::npos)
        return i;
    return std::nullopt;
  }

  /// Everything received, for a failure message.
  std::string dump() {
    std::string all;
    for (const auto& d : received())
      all += "[" + d.text + "]";
    return all;
  }

private:
  int fd_ = -1;
  std::string value_;
  std::string path_;
  std::atomic<bool> stop_{false};
  std::thread reader_;
  std::mutex mutex_;
  std::vector<datagram> received_;
};

std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
}

cocluster::supervisor_options notify_options(std::size_t workers) {
  cocluster::supervisor_options o;
  o.workers = workers;
  o.boot_timeout = 20s;
  o.drain_timeout = 5s;
  o.kill_timeout = 10s;
  o.heartbeat.interval = 0ms;
  return o;
}

cocluster::settings http_workers() {
  return test::scenario("systemd-http", test::strings(std::to_string(test::free_port()), "-"));
}

// Runs a pool of `workers` until ready, then `middle`, then stops it; returns once the stop's
// STOPPING=1 (or, with `expect_stopping` false, the stop) is through.
template <class Middle>
void run_pool(notify_socket& notify, std::size_t workers, cocluster::supervisor_options options,
              Middle middle, bool expect_stopping = true) {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(http_workers());
  options.workers = workers;
  cocluster::supervisor supervisor(cluster, options);
  test::run(io, [&]() -> asio::awaitable<void> {
    supervisor.async_run([](std::error_code) {});
    co_await middle(supervisor);
    co_await supervisor.async_stop();
    if (expect_stopping)
      CHECK(co_await test::eventually([&] { return notify.find("STOPPING=1").has_value(); }));
    co_await exits.check();
  });
}

} // namespace

TEST_SUITE_BEGIN("systemd");

// ---- socket activation ----

TEST_CASE("under systemd-socket-activate every round-robin worker serves the activated socket "
          "and the connection that started the program") {
  every_worker_serves_the_activated_socket("rr");
}

TEST_CASE("under systemd-socket-activate every shared-socket worker serves the activated "
          "socket") {
  every_worker_serves_the_activated_socket("none");
}

TEST_CASE("under systemd-socket-activate reuse_port workers share the activated socket") {
  every_worker_serves_the_activated_socket("reuseport");
}

TEST_CASE("the primary makes the activated socket close-on-exec and removes the activation "
          "variables") {
  if (!find_program("systemd-socket-activate")) {
    test::skip(needs_activate);
    return;
  }
  const int port = test::free_port();
  auto run = start_activated(test::strings("-l", "127.0.0.1:" + std::to_string(port)), port,
                             std::to_string(port), "-");
  REQUIRE(run);
  CHECK_MESSAGE(run->adopted == "cloexec=1 variables=unset", run->activator->output());
  stop_activated(*run);
}

TEST_CASE("a listen for a FileDescriptorName takes the socket of that name on its own port") {
  if (!find_program("systemd-socket-activate")) {
    test::skip(needs_activate);
    return;
  }
  const int other = test::free_port();
  int web = test::free_port();
  while (web == other)
    web = test::free_port();
  auto run = start_activated(test::strings("-l", "127.0.0.1:" + std::to_string(other), "-l",
                                           "127.0.0.1:" + std::to_string(web),
                                           "--fdname=other:web"),
                             other, "0", "web");
  REQUIRE(run);
  CHECK_MESSAGE(run->port == web, run->activator->output());
  const auto [seen, failed] = serve_until_every_worker_answers(web, run->workers);
  CHECK(seen == run->workers);
  CHECK(failed == 0);
  stop_activated(*run);
}

TEST_CASE("a listen that no activated socket matches binds its own port as without systemd") {
  if (!find_program("systemd-socket-activate")) {
    test::skip(needs_activate);
    return;
  }
  const int activated = test::free_port();
  int own = test::free_port();
  while (own == activated)
    own = test::free_port();
  auto run = start_activated(test::strings("-l", "127.0.0.1:" + std::to_string(activated)),
                             activated, std::to_string(own), "-", 3s);
  REQUIRE(run);
  CHECK_MESSAGE(run->port == own, run->activator->output());
  CHECK(!run->first); // nobody accepts on the activated socket
  const auto [seen, failed] = serve_until_every_worker_answers(own, run->workers);
  CHECK(seen == run->workers);
  CHECK(failed == 0);
  stop_activated(*run);
}

// ---- sd_notify ----

TEST_CASE("READY=1 reaches the notify socket only once every worker is ready") {
  notify_socket notify(false);
  auto options = notify_options(2);
  options.readiness = cocluster::readiness::ready_message;
  run_pool(notify, 2, options, [&](auto& supervisor) -> asio::awaitable<void> {
    CHECK(co_await test::eventually([&] { return supervisor.workers().size() == 2; }));
    auto workers = supervisor.workers();
    for (auto& worker : workers)
      co_await worker.listening();
    workers[0].send("go");
    CHECK(co_await test::eventually([&] { return supervisor.ready_count() == 1; }));
    CHECK(co_await test::eventually([&] {
      return notify.find("STATUS=1/2 workers ready, starting").has_value();
    }));
    co_await test::sleep(300ms);
    CHECK_MESSAGE(!notify.find("READY=1"), notify.dump());
    workers[1].send("go");
    CHECK(co_await test::eventually([&] { return notify.find("READY=1").has_value(); }));
    const auto ready = notify.received().at(*notify.find("READY=1")).text;
    CHECK(ready ==
          "READY=1\nMAINPID=" + std::to_string(::getpid()) + "\nSTATUS=2/2 workers ready\n");
  });
}

TEST_CASE("a rolling reload sends RELOADING=1 with its monotonic time then READY=1 and a stop "
          "sends STOPPING=1 after them") {
  notify_socket notify(false);
  std::uint64_t before = 0, after = 0;
  run_pool(notify, 2, notify_options(2), [&](auto& supervisor) -> asio::awaitable<void> {
    co_await supervisor.async_wait_ready();
    CHECK(co_await test::eventually([&] { return notify.find("READY=1").has_value(); }));
    before = monotonic_usec();
    co_await supervisor.async_reload();
    after = monotonic_usec();
    CHECK(co_await test::eventually([&] {
      const auto reloading = notify.find("RELOADING=1");
      return reloading && notify.find("READY=1", *reloading + 1);
    }));
  });
  const auto ready = notify.find("READY=1");
  REQUIRE(ready);
  const auto reloading = notify.find("RELOADING=1", *ready + 1);
  REQUIRE_MESSAGE(reloading, notify.dump());
  const auto ready_again = notify.find("READY=1", *reloading + 1);
  REQUIRE_MESSAGE(ready_again, notify.dump());
  const auto stopping = notify.find("STOPPING=1", *ready_again + 1);
  REQUIRE_MESSAGE(stopping, notify.dump());
  CHECK(!notify.find("READY=1", *stopping));
  CHECK(!notify.find("RELOADING=1", *reloading + 1));
  // The reload's start, on the clock systemd reads: between the test's readings around it.
  const auto text = notify.received().at(*reloading).text;
  const auto at = text.find("MONOTONIC_USEC=");
  REQUIRE(at != std::string::npos);
  const auto usec = std::stoull(text.substr(at + 15));
  CHECK(usec >= before);
  CHECK(usec <= after);
}

TEST_CASE("an abstract notify socket receives READY=1 and STOPPING=1") {
  notify_socket notify(true);
  run_pool(notify, 1, notify_options(1), [&](auto& supervisor) -> asio::awaitable<void> {
    co_await supervisor.async_wait_ready();
    CHECK(co_await test::eventually([&] { return notify.find("READY=1").has_value(); }));
  });
  const auto ready = notify.find("READY=1");
  const auto stopping = notify.find("STOPPING=1");
  REQUIRE_MESSAGE(ready.has_value(), notify.dump());
  REQUIRE_MESSAGE(stopping.has_value(), notify.dump());
  CHECK(*ready < *stopping);
}

TEST_CASE("watchdog pings come every half of WATCHDOG_USEC from the primary's loop and stop "
          "while that loop is blocked") {
  notify_socket notify(false);
  ::setenv("WATCHDOG_USEC", "200000", 1); // a ping every 100 ms (unset by notify's end)
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  constexpr auto interval = 100ms;
  std::size_t free_pings = 0, blocked_pings = 0;
  std::chrono::steady_clock::duration free_time{};
  bool resumed = false;
  // Every mark is taken on the primary's loop (this coroutine runs on it), the only sender of
  // pings: a ping between two marks was sent between them.
  run_pool(notify, 1, notify_options(1), [&](auto& supervisor) -> asio::awaitable<void> {
    co_await supervisor.async_wait_ready();
    const auto free_from = std::chrono::steady_clock::now();
    const auto free_mark = notify.drain();
    // Pings come while the loop runs (the limit only guards against a hang)...
    CHECK(co_await test::eventually([&] { return notify.pings(free_mark) >= 6; }, 30s));
    const auto free_end_mark = notify.drain();
    free_time = std::chrono::steady_clock::now() - free_from;
    free_pings = notify.pings(free_mark, free_end_mark);
    // ...none while it is blocked...
    const auto blocked_mark = notify.drain();
    std::this_thread::sleep_for(1500ms);
    const auto blocked_end_mark = notify.drain();
    blocked_pings = notify.pings(blocked_mark, blocked_end_mark);
    // ...and they resume with it.
    resumed = co_await test::eventually([&] { return notify.pings(blocked_end_mark) >= 2; }, 30s);
  });
  // Never more often than every interval: a timer re-armed after each ping fires at most once
  // an interval, so however slowly this machine ran, the free stretch holds no more than this.
  const auto most = static_cast<std::size_t>(free_time / interval) + 1;
  CHECK_MESSAGE(free_pings >= 6, notify.dump());
  CHECK_MESSAGE(free_pings <= most,
                free_pings << " pings in " << free_time / 1ms << " ms: " << notify.dump());
  CHECK_MESSAGE(blocked_pings == 0, notify.dump());
  CHECK_MESSAGE(resumed, notify.dump());
}

TEST_CASE("no watchdog ping is sent when WATCHDOG_PID names another process") {
  notify_socket notify(false);
  ::setenv("WATCHDOG_USEC", "200000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  run_pool(notify, 1, notify_options(1), [&](auto& supervisor) -> asio::awaitable<void> {
    co_await supervisor.async_wait_ready();
    co_await test::sleep(500ms);
  });
  CHECK(notify.find("READY=1"));
  CHECK_MESSAGE(!notify.find("WATCHDOG=1"), notify.dump());
}

TEST_CASE("with systemd_notify off nothing reaches the notify socket") {
  notify_socket notify(false);
  auto options = notify_options(1);
  options.systemd_notify = false;
  run_pool(
      notify, 1, options,
      [&](auto& supervisor) -> asio::awaitable<void> { co_await supervisor.async_wait_ready(); },
      false);
  std::this_thread::sleep_for(200ms);
  CHECK_MESSAGE(notify.received().empty(), notify.dump());
}

TEST_SUITE_END();
