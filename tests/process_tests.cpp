// Processes and channels under stress: failed spawns, descriptor hygiene, a dying primary, many
// and large messages, and peers that write garbage.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/exits.hpp"
#include "support/fds.hpp"
#include "support/processes.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/skip.hpp"
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

// The pids that "primary-of" printed before its "ready" line.
std::vector<pid_t> printed_pids(const std::vector<std::string>& lines) {
  std::vector<pid_t> pids;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i)
    pids.push_back(std::stoi(lines[i].substr(4)));
  return pids;
}

// Starts this binary's "print-fds" scenario as a plain program (posix_spawn, as a primary or a
// worker would start any other program: no cluster fork, which closes every descriptor itself)
// with its stdout on a pipe, and returns the descriptors it started with. Throws on a failure of
// its own, so that it can run in a worker scenario as well as in a test.
std::vector<int> fds_of_a_started_program() {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  const std::string self = test::self_executable();
  std::vector<std::string> words = test::strings(self, "--worker-scenario", "print-fds");
  std::vector<char*> argv;
  for (auto& word : words)
    argv.push_back(word.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string text;
  char chunk[256];
  for (ssize_t n; (n = ::read(out[0], chunk, sizeof chunk)) != 0;) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      break;
    text.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (spawned != 0)
    throw std::runtime_error("posix_spawn failed");
  const int status = test::wait_for_child(pid);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("print-fds did not exit with 0");
  std::vector<int> fds;
  std::istringstream numbers(text);
  for (int fd; numbers >> fd;)
    fds.push_back(fd);
  return fds;
}

// Makes this process the reaper of its orphaned descendants for one test, so that the exit
// status of a worker whose primary died can be read here.
struct subreaper_scope {
  subreaper_scope() { REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0); }
  ~subreaper_scope() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
  subreaper_scope(const subreaper_scope&) = delete;
  subreaper_scope& operator=(const subreaper_scope&) = delete;
};

// Gives this process (root) the supplementary groups `groups` for one test, so that a worker's
// dropping them can be seen; restores the previous ones at the end.
struct supplementary_groups_scope {
  explicit supplementary_groups_scope(const std::vector<gid_t>& groups) {
    saved.resize(static_cast<std::size_t>(std::max(::getgroups(0, nullptr), 0)));
    REQUIRE(::getgroups(static_cast<int>(saved.size()), saved.data()) >= 0);
    REQUIRE(::setgroups(groups.size(), groups.data()) == 0);
  }
  ~supplementary_groups_scope() { ::setgroups(saved.size(), saved.data()); }
  supplementary_groups_scope(const supplementary_groups_scope&) = delete;
  supplementary_groups_scope& operator=(const supplementary_groups_scope&) = delete;
  std::vector<gid_t> saved;
};

// Reaps `pids`, orphans reparented to this process (a subreaper_scope), waiting at most `limit`
// for all of them to end. Returns, for each that ended, its raw wait status, or nullopt when its
// own primary had reaped it before dying (waitpid: not a child of this process). Those still
// running after `limit` are missing from the result, and are killed and reaped (they are this
// process's children then) so that a failing test leaves no process behind.
asio::awaitable<std::map<pid_t, std::optional<int>>> reap_orphans(
    const std::vector<pid_t>& pids, std::chrono::milliseconds limit = 20s) {
  std::map<pid_t, std::optional<int>> ended;
  co_await test::eventually(
      [&] {
        for (const pid_t pid : pids) {
          if (ended.count(pid))
            continue;
          int status = 0;
          const pid_t r = ::waitpid(pid, &status, WNOHANG);
          if (r == pid)
            ended[pid] = status;
          else if (r < 0 && errno == ECHILD)
            ended[pid] = std::nullopt;
        }
        return ended.size() == pids.size();
      },
      limit);
  for (const pid_t pid : pids) {
    if (!ended.count(pid)) {
      ::kill(pid, SIGKILL);
      test::wait_for_child(pid);
    }
  }
  co_return ended;
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

// Prints the descriptors it started with ("0 1 2 ...") on stdout: the program that
// fds_of_a_started_program() starts. Not a cluster worker.
WORKER_SCENARIO("print-fds") {
  std::string line;
  for (const auto& [fd, target] : test::open_fds())
    line += std::to_string(fd) + " ";
  line += "\n";
  return ::write(1, line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 3;
}

// Once its cluster (worker role) runs, starts a program of its own and reports the descriptors
// that program got.
WORKER_SCENARIO("start-program") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      co_await cluster.worker().async_send(test::message<S>(fd_report(fds_of_a_started_program())));
    });
  });
}

// Reports the identity it runs with: real, effective and saved uid and gid, and its
// supplementary groups.
WORKER_SCENARIO("report-ids") {
  uid_t uids[3] = {};
  gid_t gids[3] = {};
  if (::getresuid(&uids[0], &uids[1], &uids[2]) != 0 ||
      ::getresgid(&gids[0], &gids[1], &gids[2]) != 0)
    return 3;
  std::vector<gid_t> groups(static_cast<std::size_t>(std::max(::getgroups(0, nullptr), 0)));
  if (::getgroups(static_cast<int>(groups.size()), groups.data()) < 0)
    return 4;
  nlohmann::json report;
  report["uid"] = std::vector<uid_t>(uids, uids + 3);
  report["gid"] = std::vector<gid_t>(gids, gids + 3);
  report["groups"] = groups;
  return test::with_serialization([&report]<class S>() {
    return test::run_worker<S>([&report](auto& cluster) -> asio::awaitable<void> {
      co_await cluster.worker().async_send(test::message<S>(report));
    });
  });
}

// Sends `n` numbered messages as fast as it can, awaits the last one's write, then disconnects:
// the primary's message stream ends right after the last message.
WORKER_SCENARIO("send-many") {
  const int n = std::stoi(args.at(0));
  return test::with_serialization([n]<class S>() {
    return test::run_worker<S>([n](auto& cluster) -> asio::awaitable<void> {
      auto self = cluster.worker();
      for (int i = 0; i + 1 < n; ++i)
        if (!self.send(test::message<S>(numbered(i))))
          co_await self.async_drain();
      co_await self.async_send(test::message<S>(numbered(n - 1)));
      self.disconnect();
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

// Comes online, then blocks in pause() and never runs its io_context again: it never reads its
// channel, so the end of the channel cannot end it; only a signal can.
WORKER_SCENARIO("busy") {
  return test::with_serialization([]<class S>() {
    return test::run_worker<S>([](auto& cluster) -> asio::awaitable<void> {
      // Its write completing means the online message queued before it went out too.
      co_await cluster.worker().async_send(test::message<S>(nlohmann::json("busy")));
      for (;;)
        ::pause();
    });
  });
}

// Becomes a primary of its own with `n` workers (dropping its channel to the test), prints
// "pid N" for each once it is online and "ready", then: "wait" forever, "throw" out of
// io_context::run(), or "return" from main with the workers alive. Further arguments:
// "no-pdeathsig" turns off the parent-death signal of its workers, "busy" makes them "busy"
// workers instead of "idle" ones.
WORKER_SCENARIO("primary-of") {
  const int n = std::stoi(args.at(0));
  const std::string mode = args.at(1);
  const std::set<std::string> flags(args.begin() + 2, args.end());
  ::close(std::stoi(std::getenv("NODE_CHANNEL_FD")));
  ::unsetenv("NODE_UNIQUE_ID");
  ::unsetenv("NODE_CHANNEL_FD");
  ::unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  auto s = test::scenario(flags.count("busy") ? "busy" : "idle");
  if (flags.count("no-pdeathsig"))
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
      test::exit_on_failure("the primary's forks"));
  io.run();
  return 0;
}

TEST_SUITE_BEGIN("process");

TEST_CASE("a worker whose program does not exist is reported as an error and an exit, not a hang") {
  for (const std::string exec : {"/nonexistent/cocluster-worker", "cocluster-no-such-program"}) {
    CAPTURE(exec);
    asio::io_context io;
    cocluster::cluster<> cluster(io);
    test::exit_watch exits(cluster);
    cocluster::settings s;
    s.exec = exec;
    cluster.setup_primary(s);
    test::run(io, [&]() -> asio::awaitable<void> {
      auto errors = cluster.subscribe(cocluster::event::error);
      auto worker = cluster.fork();
      exits.expect_any(worker); // a spawn error, checked here
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
      co_await exits.check();
    });
  }
}

TEST_CASE("a worker whose working directory does not exist fails at chdir, named in the error") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto s = test::scenario("idle");
  s.cwd = "/nonexistent/cocluster-dir";
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    exits.expect_any(worker); // a spawn error, checked here
    auto errors = worker.subscribe(cocluster::event::error);
    auto error = co_await errors.async_receive();
    CHECK(error.code == std::errc::no_such_file_or_directory);
    CHECK(error.what.find("chdir /nonexistent/cocluster-dir") != std::string::npos);
    auto status = co_await worker.exited();
    CHECK(status.code == 127);
    CHECK(status.spawn_error == std::errc::no_such_file_or_directory);
    co_await exits.check();
  });
}

TEST_CASE("a worker started with a uid and gid runs as that user and group, with no "
          "supplementary group") {
  if (::geteuid() != 0) {
    test::skip("needs root: only root may start a worker as another user");
    return;
  }
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) {
    test::skip("there is no user nobody");
    return;
  }
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nobody->pw_gid;
  if (!test::others_can_execute(test::self_executable())) {
    test::skip("nobody may not execute " + test::self_executable() +
               " (a directory on its way is closed to others)");
    return;
  }
  // Supplementary groups of the primary (root's group and users), which the worker must not keep.
  const supplementary_groups_scope groups(std::vector<gid_t>{0, 100});
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto s = test::scenario("report-ids");
  s.uid = uid;
  s.gid = gid;
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    INFO("the worker reported " << report.dump());
    // Real, effective and saved: the worker cannot take root back.
    const std::vector<uid_t> uids(3, uid);
    const std::vector<gid_t> gids(3, gid);
    CHECK(report["uid"] == nlohmann::json(uids));
    CHECK(report["gid"] == nlohmann::json(gids));
    // root's supplementary groups are dropped (as libuv does for Node).
    CHECK(report["groups"] == nlohmann::json::array());
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a worker's start that fails at or after its change of uid and gid names the failing "
          "step") {
  const passwd* nobody = ::getpwnam("nobody");
  const uid_t uid = nobody ? nobody->pw_uid : 65534;
  const gid_t gid = nobody ? nobody->pw_gid : 65534;
  const bool root = ::geteuid() == 0;
  // As root the change always works: the worker's program is then put where root may go but
  // nobody may not (a directory of mode 0700), so the exec, as nobody, is refused. As another
  // user the change itself is refused.
  std::filesystem::path private_dir;
  if (root) {
    char name[] = "/tmp/cocluster-private-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    private_dir = name;
    std::filesystem::copy_file(test::self_executable(), private_dir / "worker");
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto s = test::scenario("exit-with", {"0"});
  if (root)
    s.exec = (private_dir / "worker").string();
  s.uid = uid;
  s.gid = gid;
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    exits.expect_any(worker); // a spawn error, checked here
    auto errors = worker.subscribe(cocluster::event::error);
    auto status = co_await worker.exited();
    CHECK(status.code == 127);
    auto error = co_await errors.async_receive();
    INFO("the error: " << error.what);
    if (root) {
      CHECK(status.spawn_error == std::errc::permission_denied);
      CHECK(error.what.find("execve " + s.exec.value()) != std::string::npos);
    } else {
      CHECK(status.spawn_error == std::errc::operation_not_permitted);
      CHECK(error.what.find("setgid") != std::string::npos);
    }
    co_await exits.check();
  });
  if (root)
    std::filesystem::remove_all(private_dir);
}

TEST_CASE("a worker gets no descriptor of the primary but its stdio and the channel") {
  // Descriptors the primary opened without close-on-exec must not leak either.
  const int leaky = ::open("/dev/null", O_RDONLY);
  const int leaky_high = ::fcntl(leaky, F_DUPFD, 100);
  REQUIRE(leaky >= 0);
  REQUIRE(leaky_high >= 100);
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("list-fds"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["fds"] == nlohmann::json::parse("[0,1,2,3]"));
    co_await cluster.disconnect();
    co_await exits.check();
  });
  ::close(leaky);
  ::close(leaky_high);
}

TEST_CASE("a program the primary starts by other means than fork gets no descriptor of the "
          "cluster's") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto s = test::scenario("idle");
  s.silent = true; // stdio pipes too, besides the channel
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    // What such a program inherits anyway (the test's own descriptors) ...
    const auto before = fds_of_a_started_program();
    auto worker = cluster.fork();
    co_await worker.online();
    // ... and with a worker's channel and pipes open in the primary: nothing more.
    const auto during = fds_of_a_started_program();
    INFO("the program's descriptors: " << nlohmann::json(before).dump() << " without a worker, "
                                       << nlohmann::json(during).dump() << " with one");
    INFO("the primary's descriptors: " << nlohmann::json(test::open_fds()).dump());
    CHECK(during == before);
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("a program a worker starts gets no descriptor of the worker's channel") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("start-program"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["fds"] == nlohmann::json::parse("[0,1,2]"));
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("forking and reaping many workers leaks no descriptor in the primary") {
  const auto before = test::open_fds();
  {
    asio::io_context io;
    cocluster::cluster<> cluster(io);
    test::exit_watch exits(cluster);
    cluster.setup_primary(test::scenario("exit-with", {"0"}));
    test::run(io, [&]() -> asio::awaitable<void> {
      std::vector<cocluster::cluster<>::worker_type> workers;
      for (int i = 0; i < 20; ++i)
        workers.push_back(cluster.fork());
      for (auto& worker : workers) {
        co_await worker.exited();
        co_await worker.disconnected();
      }
      co_await exits.check();
    });
  }
  CHECK(test::open_fds() == before);
}

TEST_CASE("no worker outlives a SIGKILLed primary, not even one that never reads its channel") {
  const subreaper_scope reaper; // the orphans are reaped here, with their exit status
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto s = test::scenario("primary-of", {"3", "wait", "busy"});
  s.silent = true;
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto primary = cluster.fork();
    exits.expect_signal(primary, SIGKILL);
    std::string buffer;
    auto lines = co_await read_lines(*primary.stdio_pipe(1), buffer, 4);
    REQUIRE(lines.back() == "ready");
    const auto pids = printed_pids(lines);
    for (pid_t pid : pids)
      CHECK(!test::process_gone(pid));
    primary.kill(SIGKILL);
    co_await primary.exited();
    // The workers block in pause() and never see their channel end: only the parent-death
    // signal (SIGKILL by default) ends them.
    const auto ended = co_await reap_orphans(pids);
    for (pid_t pid : pids) {
      CAPTURE(pid);
      REQUIRE_MESSAGE(ended.count(pid), "worker " << pid << " outlived its primary");
      const auto status = ended.at(pid);
      REQUIRE(status.has_value()); // its primary was killed: nobody else can have reaped it
      CHECK(WIFSIGNALED(*status));
      CHECK(WTERMSIG(*status) == SIGKILL);
    }
    co_await exits.check();
  });
}

TEST_CASE("workers of a killed primary exit with code 0 when their channel ends, even without the "
          "parent-death signal") {
  const subreaper_scope reaper; // the orphans are reaped here, with their exit status
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto s = test::scenario("primary-of", {"2", "wait", "no-pdeathsig"});
  s.silent = true;
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto primary = cluster.fork();
    exits.expect_signal(primary, SIGKILL);
    std::string buffer;
    auto lines = co_await read_lines(*primary.stdio_pipe(1), buffer, 3);
    REQUIRE(lines.back() == "ready");
    const auto pids = printed_pids(lines);
    primary.kill(SIGKILL);
    co_await primary.exited();
    const auto ended = co_await reap_orphans(pids);
    for (pid_t pid : pids) {
      CAPTURE(pid);
      REQUIRE_MESSAGE(ended.count(pid), "worker " << pid << " outlived its primary");
      const auto status = ended.at(pid);
      REQUIRE(status.has_value()); // its primary was killed: nobody else can have reaped it
      CHECK(WIFEXITED(*status));
      CHECK(WEXITSTATUS(*status) == 0);
    }
    co_await exits.check();
  });
}

TEST_CASE("a primary that fails with an uncaught error, or just returns, takes its workers along "
          "[primary-error, primary-kill]") {
  for (const std::string mode : {"throw", "return"}) {
    CAPTURE(mode);
    const subreaper_scope reaper; // the orphans are reaped here
    asio::io_context io;
    cocluster::cluster<> cluster(io);
    test::exit_watch exits(cluster);
    auto s = test::scenario("primary-of", {"2", mode});
    s.silent = true;
    cluster.setup_primary(s);
    test::run(io, [&]() -> asio::awaitable<void> {
      auto primary = cluster.fork();
      // The test main's code for a scenario that threw; 0 for one that returned.
      exits.expect_code(primary, mode == "throw" ? 91 : 0);
      std::string buffer;
      auto lines = co_await read_lines(*primary.stdio_pipe(1), buffer, 3);
      REQUIRE(lines.back() == "ready");
      const auto pids = printed_pids(lines);
      co_await primary.exited();
      const auto ended = co_await reap_orphans(pids);
      for (pid_t pid : pids)
        CHECK_MESSAGE(ended.count(pid), "worker " << pid << " outlived its primary");
      co_await exits.check();
    });
  }
}

TEST_CASE_TEMPLATE("a worker that awaits its send and exits at once loses no message", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  constexpr int count = 2000;
  asio::io_context io;
  cocluster::cluster<cocluster::round_robin, S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("send-then-exit", test::strings(std::to_string(count))));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    exits.expect_code(worker, 7);
    auto messages = worker.subscribe(cocluster::event::message);
    co_await worker.exited();
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
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("100,000 small messages from a worker arrive in order with none lost", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  constexpr int count = 100000;
  cluster.setup_primary(test::scenario("send-many", test::strings(std::to_string(count))));
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        auto worker = cluster.fork();
        auto messages = worker.subscribe(cocluster::event::message);
        // Everything that arrived until the stream ended (the worker disconnects after its last
        // message), compared with what was sent, 0 to count - 1: a lost, doubled or reordered
        // message is a difference here, not a wait that never ends.
        std::vector<int> received;
        for (;;) {
          auto [ec, message] = co_await messages.async_receive(test::as_tuple);
          if (ec)
            break;
          const auto json = test::as_json<S>(message);
          received.push_back(json.is_object() ? json.value("i", -1) : -1);
        }
        CHECK(received.size() == static_cast<std::size_t>(count));
        std::size_t first_wrong = 0;
        while (first_wrong < received.size() &&
               received[first_wrong] == static_cast<int>(first_wrong))
          ++first_wrong;
        CHECK_MESSAGE(first_wrong == received.size(),
                      "message " << first_wrong << " is number "
                                 << (first_wrong < received.size() ? received[first_wrong] : -1));
        co_await exits.check();
      },
      120s);
}

TEST_CASE_TEMPLATE("a primary and a worker that both busy-poll exchange 5,000 requests and "
                   "replies in order, and the worker exits cleanly",
                   S, COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cocluster::cluster_options options;
  options.ipc.busy_poll = std::chrono::microseconds(200);
  cluster_of<S> cluster(io, options);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("bounce-polling", test::strings("200")));
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
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
        co_await exits.check();
      },
      120s);
}

TEST_CASE_TEMPLATE("a 16 MiB message round-trips through a worker intact", S,
                   COCLUSTER_TEST_SERIALIZATIONS) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("bounce"));
  std::string payload(16 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>('A' + (i * 31) % 58);
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        auto worker = cluster.fork();
        auto messages = worker.subscribe(cocluster::event::message);
        co_await worker.async_send(test::message<S>(nlohmann::json(payload)));
        auto back = co_await messages.async_receive();
        const auto json = test::as_json<S>(back);
        REQUIRE(json.is_string());
        CHECK(json.template get_ref<const std::string&>() == payload);
        co_await cluster.disconnect();
        co_await exits.check();
      },
      120s);
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
  test::exit_watch exits(cluster);
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
      // Its exit code (0, checked by exits) says that it saw its channel close.
      co_await bad.exited();
      // The primary still serves the other worker.
      healthy.send(std::string(name));
      auto reply = co_await replies.async_receive();
      CHECK(reply == std::string(name));
    }
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_SUITE_END();
