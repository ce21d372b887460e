// Processes and channels under stress: failed spawns, descriptor hygiene, a dying primary, many
// and large messages, and peers that write garbage.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "support/fds.hpp"
#include "support/processes.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/worker_scenarios.hpp"

using namespace std::chrono_literals;

namespace {

template <class S>
using cluster_of = cocluster::cluster<cocluster::round_robin, S>;

nlohmann::json numbered(int i) { return {{"i", i}}; }
nlohmann::json fd_report(const std::vector<int>& fds) { return {{"fds", fds}}; }

std::string unhex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const char byte : bytes) {
    const auto c = static_cast<unsigned char>(byte);
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// Reads lines from a stream descriptor until `count` lines starting with `prefix` were seen.
asio::awaitable<std::vector<std::string>> read_lines(asio::posix::stream_descriptor& pipe,
                                                     std::string& buffer, std::size_t count) {
  std::vector<std::string> lines;
  while (lines.size() < count) {
    const std::size_t n = co_await asio::async_read_until(pipe, asio::dynamic_buffer(buffer), '\n',
                                                          asio::use_awaitable);
    lines.push_back(buffer.substr(0, n - 1));
    buffer.erase(0, n);
  }
  co_return lines;
}

} // namespace

// ---- worker scenarios ----

// Lists its descriptors before anything else opens one, then reports them.
WORKER_SCENARIO("list-fds") {
  std::vector<int> fds;
  for (const auto& [fd, target] : test::open_fds())
    fds.push_back(fd);
  return test::with_serialization([&fds]<class S>() {
    return test::run_worker<S>([&fds](auto& cluster) -> asio::awaitable<void> {
      co_await cluster.worker().async_send(test::message<S>(fd_report(fds)));
    });
  });
}

// Sends `n` numbered messages as fast as it can, then waits to be disconnected.
WORKER_SCENARIO("send-many") {
  const int n = std::stoi(args.at(0));
  return test::with_serialization([n]<class S>() {
    return test::run_worker<S>([n](auto& cluster) -> asio::awaitable<void> {
      auto self = cluster.worker();
      for (int i = 0; i < n; ++i)
        if (!self.send(test::message<S>(numbered(i))))
          co_await self.async_drain();
    });
  });
}

// Sends `n` numbered messages, awaits the last one's write, and exits at once (Node #36268:
// there, process.send() followed by process.exit() loses the message).
WORKER_SCENARIO("send-then-exit") {
  const int n = std::stoi(args.at(0));
  return test::with_serialization([n]<class S>() {
    return test::run_worker<S>([n](auto& cluster) -> asio::awaitable<void> {
      auto self = cluster.worker();
      for (int i = 0; i + 1 < n; ++i)
        if (!self.send(test::message<S>(numbered(i))))
          co_await self.async_drain();
      co_await self.async_send(test::message<S>(numbered(n - 1)));
      std::exit(7);
    });
  });
}

// Sends every message back unchanged, awaiting each write (for the large round trips); "echo"
// in lifecycle_tests.cpp wraps messages as {"echo": message} instead.
WORKER_SCENARIO("bounce") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      auto messages = cluster.worker().subscribe(cocluster::event::message);
      for (;;) {
        auto [ec, message] = co_await messages.async_receive(test::as_tuple);
        if (ec)
          co_return;
        co_await cluster.worker().async_send(std::move(message));
      }
    });
  });
}

// "bounce" with ipc_options::busy_poll of args[0] microseconds, sending without awaiting.
WORKER_SCENARIO("bounce-polling") {
  cocluster::cluster_options options;
  options.ipc.busy_poll = std::chrono::microseconds(std::stoi(args.at(0)));
  return test::with_serialization([&]<class S>() {
    return test::run_worker<S>(
        [](auto& cluster) -> asio::awaitable<void> {
          auto messages = cluster.worker().subscribe(cocluster::event::message);
          for (;;) {
            auto [ec, message] = co_await messages.async_receive(test::as_tuple);
            if (ec)
              co_return;
            cluster.worker().send(message);
          }
        },
        0, options);
  });
}

// Writes raw bytes (hex) on its channel without speaking the protocol, then waits for the end.
WORKER_SCENARIO("raw-bytes") {
  const std::string bytes = unhex(args.at(0));
  const int fd = std::stoi(std::getenv("NODE_CHANNEL_FD"));
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
    return 3;
  char sink[4096];
  while (::read(fd, sink, sizeof sink) > 0) {
  }
  return 0;
}

// Becomes a primary of its own with `n` idle workers (dropping its channel to the test), prints
// "pid N" for each and "ready", then: "wait" forever, "throw" out of io_context::run(), or
// "return" from main with the workers alive. A fourth argument "no-pdeathsig" turns off the
// parent-death signal of its workers.
WORKER_SCENARIO("primary-of") {
  const int n = std::stoi(args.at(0));
  const std::string mode = args.at(1);
  const bool pdeathsig = args.size() < 3 || args[2] != "no-pdeathsig";
  ::close(std::stoi(std::getenv("NODE_CHANNEL_FD")));
  ::unsetenv("NODE_UNIQUE_ID");
  ::unsetenv("NODE_CHANNEL_FD");
  ::unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  auto s = test::scenario("idle");
  if (!pdeathsig)
    s.parent_death_signal = 0;
  cluster.setup_primary(s);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n; ++i) {
          auto worker = cluster.fork();
          co_await worker.online();
          std::printf("pid %d\n", worker.pid());
        }
        std::printf("ready\n");
        std::fflush(stdout);
        if (mode == "throw")
          asio::post(io, [] { throw std::runtime_error("the primary failed"); });
        else if (mode == "return")
          io.stop();
        else
          co_await test::sleep(3600s);
      },
      asio::detached);
  io.run();
  return 0;
}

TEST_SUITE_BEGIN("process");

TEST_CASE("a worker whose program does not exist is reported as an error and an exit, not a hang") {
  for (const std::string exec : {"/nonexistent/cocluster-worker", "cocluster-no-such-program"}) {
    CAPTURE(exec);
    asio::io_context io;
    cocluster::cluster<> cluster(io);
    cocluster::settings s;
    s.exec = exec;
    cluster.setup_primary(s);
    test::run(io, [&]() -> asio::awaitable<void> {
      auto errors = cluster.subscribe(cocluster::event::error);
      auto worker = cluster.fork();
      auto worker_errors = worker.subscribe(cocluster::event::error);
      auto status = co_await worker.exited();
      CHECK(status.code == 127);
      CHECK(status.spawn_error == std::errc::no_such_file_or_directory);
      CHECK(status.to_string().find("spawn failed") != std::string::npos);
      auto error = co_await errors.async_receive();
      CHECK(error.worker == worker);
      CHECK(error.error.code == std::errc::no_such_file_or_directory);
      CHECK(error.error.what.find("cocluster-") != std::string::npos);
      auto own = co_await worker_errors.async_receive();
      CHECK(own.code == error.error.code);
      auto [online_error] = co_await worker.async_wait_online(test::as_tuple);
      CHECK(online_error == cocluster::errc::worker_exited);
      co_await worker.disconnected();
      CHECK(cluster.workers().empty());
    });
  }
}

TEST_CASE("a worker whose working directory does not exist fails at chdir, named in the error") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  auto s = test::scenario("idle");
  s.cwd = "/nonexistent/cocluster-dir";
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto errors = worker.subscribe(cocluster::event::error);
    auto error = co_await errors.async_receive();
    CHECK(error.code == std::errc::no_such_file_or_directory);
    CHECK(error.what.find("chdir /nonexistent/cocluster-dir") != std::string::npos);
    auto status = co_await worker.exited();
    CHECK(status.code == 127);
  });
}

TEST_CASE("uid and gid apply to the worker, or fail its start with the step named") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  auto s = test::scenario("exit-with", {"0"});
  s.uid = 65534;
  s.gid = 65534;
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto errors = worker.subscribe(cocluster::event::error);
    auto status = co_await worker.exited();
    if (::geteuid() == 0 && test::others_can_execute(test::self_executable())) {
      // As root the start succeeds; the worker then runs as nobody and exits 0 here.
      CHECK(status.code == 0);
      CHECK(!status.spawn_error);
    } else if (::geteuid() == 0) {
      // As root, from a directory nobody may not enter (a private temporary checkout): the
      // identity change works and the exec, now as nobody, is refused.
      CHECK(status.code == 127);
      CHECK(status.spawn_error == std::errc::permission_denied);
      auto error = co_await errors.async_receive();
      CHECK(error.what.find("execve") != std::string::npos);
    } else {
      CHECK(status.code == 127);
      CHECK(status.spawn_error == std::errc::operation_not_permitted);
      auto error = co_await errors.async_receive();
      CHECK(error.what.find("setgid") != std::string::npos);
    }
  });
}

TEST_CASE("a worker gets no descriptor of the primary but its stdio and the channel") {
  // Descriptors the primary opened without close-on-exec must not leak either.
  const int leaky = ::open("/dev/null", O_RDONLY);
  const int leaky_high = ::fcntl(leaky, F_DUPFD, 100);
  REQUIRE(leaky >= 0);
  REQUIRE(leaky_high >= 100);
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  cluster.setup_primary(test::scenario("list-fds"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["fds"] == nlohmann::json::parse("[0,1,2,3]"));
    co_await cluster.disconnect();
  });
  ::close(leaky);
  ::close(leaky_high);
}

TEST_CASE("forking and reaping many workers leaks no descriptor in the primary") {
  const auto before = test::open_fds();
  {
    asio::io_context io;
    cocluster::cluster<> cluster(io);
    cluster.setup_primary(test::scenario("exit-with", {"0"}));
    test::run(io, [&]() -> asio::awaitable<void> {
      std::vector<cocluster::cluster<>::worker_type> workers;
      for (int i = 0; i < 20; ++i)
        workers.push_back(cluster.fork());
      for (auto& worker : workers) {
        co_await worker.exited();
        co_await worker.disconnected();
      }
      co_await test::sleep(50ms);
    });
  }
  CHECK(test::open_fds() == before);
}

TEST_CASE("no worker outlives a SIGKILLed primary by a second") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  auto s = test::scenario("primary-of", {"3", "wait"});
  s.silent = true;
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto primary = cluster.fork();
    std::string buffer;
    auto lines = co_await read_lines(*primary.stdio_pipe(1), buffer, 4);
    REQUIRE(lines.back() == "ready");
    std::vector<pid_t> pids;
    for (std::size_t i = 0; i + 1 < lines.size(); ++i)
      pids.push_back(std::stoi(lines[i].substr(4)));
    for (pid_t pid : pids)
      CHECK(!test::process_gone(pid));
    primary.kill(SIGKILL);
    co_await primary.exited();
    co_await test::sleep(1000ms);
    for (pid_t pid : pids)
      CHECK_MESSAGE(test::process_gone(pid), "worker " << pid << " outlived its primary");
  });
}

TEST_CASE("workers of a killed primary exit with code 0 when their channel ends, even without the "
          "parent-death signal") {
  // Orphans are reparented to this process, so their exit codes can be read here.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  std::vector<pid_t> pids;
  {
    asio::io_context io;
    cocluster::cluster<> cluster(io);
    auto s = test::scenario("primary-of", {"2", "wait", "no-pdeathsig"});
    s.silent = true;
    cluster.setup_primary(s);
    test::run(io, [&]() -> asio::awaitable<void> {
      auto primary = cluster.fork();
      std::string buffer;
      auto lines = co_await read_lines(*primary.stdio_pipe(1), buffer, 3);
      for (std::size_t i = 0; i + 1 < lines.size(); ++i)
        pids.push_back(std::stoi(lines[i].substr(4)));
      primary.kill(SIGKILL);
      co_await primary.exited();
    });
  }
  for (pid_t pid : pids) {
    const int status = test::wait_for_child(pid);
    CHECK(status != -1);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("a primary that fails with an uncaught error, or just returns, takes its workers along "
          "[primary-error, primary-kill]") {
  for (const std::string mode : {"throw", "return"}) {
    CAPTURE(mode);
    asio::io_context io;
    cocluster::cluster<> cluster(io);
    auto s = test::scenario("primary-of", {"2", mode});
    s.silent = true;
    cluster.setup_primary(s);
    test::run(io, [&]() -> asio::awaitable<void> {
      auto primary = cluster.fork();
      std::string buffer;
      auto lines = co_await read_lines(*primary.stdio_pipe(1), buffer, 3);
      std::vector<pid_t> pids;
      for (std::size_t i = 0; i + 1 < lines.size(); ++i)
        pids.push_back(std::stoi(lines[i].substr(4)));
      auto status = co_await primary.exited();
      if (mode == "throw")
        CHECK(status.code == 91); // the test main's code for a scenario that threw
      else
        CHECK(status.code == 0);
      const bool all_gone = co_await test::eventually([&] {
        for (pid_t pid : pids)
          if (!test::process_gone(pid))
            return false;
        return true;
      }, 2s);
      CHECK(all_gone);
    });
  }
}

TEST_CASE_TEMPLATE("a worker that awaits its send and exits at once loses no message", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  constexpr int count = 2000;
  asio::io_context io;
  cocluster::cluster<cocluster::round_robin, S> cluster(io);
  cluster.setup_primary(test::scenario("send-then-exit", test::strings(std::to_string(count))));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto status = co_await worker.exited();
    CHECK(status.code == 7);
    int received = 0;
    bool in_order = true;
    for (;;) {
      auto [ec, message] = co_await messages.async_receive(test::as_tuple);
      if (ec)
        break; // the stream ends after the worker's last message
      in_order = in_order && test::as_json<S>(message) == numbered(received);
      ++received;
    }
    CHECK(received == count);
    CHECK(in_order);
  });
}

TEST_CASE_TEMPLATE("100,000 small messages from a worker arrive in order with none lost", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  constexpr int count = 100000;
  cluster.setup_primary(test::scenario("send-many", {std::to_string(count)}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    int next = 0;
    bool in_order = true;
    while (next < count) {
      auto message = co_await messages.async_receive();
      in_order = in_order && test::as_json<S>(message) == numbered(next);
      ++next;
    }
    CHECK(in_order);
    CHECK(next == count);
    co_await cluster.disconnect();
  }, 120s);
}

TEST_CASE_TEMPLATE("a primary and a worker that both busy-poll exchange 5,000 requests and "
                   "replies in order, and the worker exits cleanly", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cocluster::cluster_options options;
  options.ipc.busy_poll = std::chrono::microseconds(200);
  cluster_of<S> cluster(io, options);
  cluster.setup_primary(test::scenario("bounce-polling", test::strings("200")));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto replies = worker.subscribe(cocluster::event::message);
    bool in_order = true;
    for (int i = 0; i < 5000; ++i) {
      worker.send(test::message<S>(numbered(i)));
      auto reply = co_await replies.async_receive();
      in_order = in_order && test::as_json<S>(reply) == numbered(i);
    }
    CHECK(in_order);
    co_await cluster.disconnect();
    auto status = co_await worker.exited();
    CHECK(status.success());
  }, 120s);
}

TEST_CASE_TEMPLATE("a 16 MiB message round-trips through a worker intact", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  cluster.setup_primary(test::scenario("bounce"));
  std::string payload(16 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>('A' + (i * 31) % 58);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    co_await worker.async_send(test::message<S>(nlohmann::json(payload)));
    auto back = co_await messages.async_receive();
    const auto json = test::as_json<S>(back);
    REQUIRE(json.is_string());
    CHECK(json.template get_ref<const std::string&>() == payload);
    co_await cluster.disconnect();
  }, 120s);
}

TEST_CASE("each kind of malformed input from a worker is an error event that disconnects only "
          "that worker") {
  const std::vector<std::pair<const char*, std::string>> inputs = {
      {"bad JSON", "{\"a\":}\n"},
      {"a blank line", "\n"},
      {"invalid UTF-8", "\"\xc3\x28\"\n"},
      {"a line over max_message_size", std::string(3000, 'x')},
      {"nesting too deep", std::string(1500, '[') + std::string(1500, ']') + "\n"},
  };
  asio::io_context io;
  cocluster::cluster_options options;
  options.ipc.max_message_size = 2000;
  cocluster::cluster<> cluster(io, options);
  test::run(io, [&]() -> asio::awaitable<void> {
    cluster.setup_primary(test::scenario("bounce"));
    auto healthy = cluster.fork();
    auto replies = healthy.subscribe(cocluster::event::message);
    for (const auto& [name, bytes] : inputs) {
      const std::string input_name = name;
      CAPTURE(input_name);
      cluster.setup_primary(test::scenario("raw-bytes", {hex(bytes)}));
      auto bad = cluster.fork();
      auto errors = bad.subscribe(cocluster::event::error);
      auto error = co_await errors.async_receive();
      CHECK((error.code == cocluster::errc::malformed_message ||
             error.code == cocluster::errc::message_too_large));
      CHECK(!error.what.empty());
      co_await bad.disconnected();
      auto status = co_await bad.exited(); // it saw its channel close
      CHECK(status.code == 0);
      // The primary still serves the other worker.
      healthy.send(std::string(name));
      auto reply = co_await replies.async_receive();
      CHECK(reply == std::string(name));
    }
    co_await cluster.disconnect();
  });
}

TEST_SUITE_END();
