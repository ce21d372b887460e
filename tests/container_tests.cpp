// The primary as a container's entry point: a supervised primary of this binary runs as PID 1 of
// a new PID namespace (`unshare --pid --fork --mount-proc`, as root; skipped otherwise), or as a
// child subreaper, while its workers leave orphans behind (a child that forks a grandchild and
// exits). The test looks from outside, through this namespace's /proc: the children of the
// namespace's init (its pid here) and their states. `--kill-child`: a test that gives up kills
// unshare, and with it the namespace. Last, the default pool size in a real cgroup with a CPU
// quota, made by the test (v1 or v2, whichever the host has). Nothing asserts on speed: waits
// are bounded.
#include <doctest/doctest.h>

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/exits.hpp"
#include "support/processes.hpp"
#include "support/program.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/skip.hpp"
#include "support/worker_scenarios.hpp"

using namespace std::chrono_literals;

namespace {

// The orphan's name in /proc/<pid>/comm.
const char* const orphan_name = "cc-orphan";

void sleep_ms(long ms) {
  timespec pause{ms / 1000, (ms % 1000) * 1'000'000};
  while (::nanosleep(&pause, &pause) != 0) {
  }
}

// Forks a child that forks the orphan and exits at once, and reaps that child: the orphan is
// re-parented to the nearest subreaper or to PID 1. It names itself, waits until it has been
// re-parented, lives 2 s more (so that the test sees it alive) and exits.
void leave_an_orphan() {
  const pid_t middle = ::fork();
  if (middle == 0) {
    const pid_t first_parent = ::getpid();
    const pid_t orphan = ::fork();
    if (orphan == 0) {
      ::prctl(PR_SET_NAME, orphan_name, 0, 0, 0);
      while (::getppid() == first_parent)
        sleep_ms(1);
      sleep_ms(2000);
      ::_exit(0);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(middle, &status, 0);
}

} // namespace

// A worker that leaves an orphan behind, then says it is ready, and stays until disconnected.
// Args: "orphan", "plain" (no orphan) or "crash" (exits 3 at once: a crash loop).
WORKER_SCENARIO("orphan-maker") {
  if (args.at(0) == "crash")
    return 3;
  const bool orphan = args.at(0) == "orphan";
  return test::with_serialization([orphan]<class S>() {
    return test::run_worker<S>([orphan](auto& cluster) -> asio::awaitable<void> {
      if (orphan)
        leave_an_orphan();
      cocluster::report_ready(cluster);
      co_return;
    });
  });
}

// A supervised primary, run as a program (as PID 1 under unshare, or directly). Args: workers,
// reap ("on", "off", "default"), subreaper ("subreaper" makes it one, "-" not), worker mode (see
// orphan-maker), and how many of its workers the test kills with SIGKILL. Prints "pid <its
// pid>", "ready" once the pool is, "exit <pid> code=<c> signal=<s>" for every worker exit the
// cluster reports, and, at the end, "run ok" (exit code 0) or "run failed: <what>" (exit code
// 1), as the main example does. Once the run is over it looks at how every worker it forked
// ended: exit code 0 (3 in mode "crash"), or SIGKILL for at most as many as the test kills; any
// other ending is printed ("unexpected: worker <pid> ended with <how>") and makes the exit code
// 81.
WORKER_SCENARIO("pid1-primary") {
  const auto workers = static_cast<std::size_t>(std::stoi(args.at(0)));
  const std::string reap = args.at(1);
  if (args.at(2) == "subreaper")
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  const bool crash = args.at(3) == "crash";
  const int killed_by_test = std::stoi(args.at(4));
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  if (!cluster.is_primary())
    return 93;
  cluster.setup_primary(test::scenario("orphan-maker", test::strings(args.at(3))));
  auto forks = cluster.subscribe(cocluster::event::fork);
  cocluster::supervisor_options options;
  options.workers = workers;
  options.readiness = cocluster::readiness::ready_message;
  options.drain_timeout = 5s;
  options.kill_timeout = 10s;
  options.heartbeat.interval = 0ms;
  options.backoff.initial = 20ms;
  options.backoff.jitter = 0;
  options.crash_loop.max_failures = 3;
  if (reap != "default")
    options.reap_orphans = reap == "on";
  cocluster::supervisor supervisor(cluster, options);
  supervisor.handle_signals();
  std::printf("pid %d\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  int code = 1;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto exits = cluster.subscribe(cocluster::event::exit);
        asio::co_spawn(
            io,
            [&exits]() -> asio::awaitable<void> {
              for (;;) {
                auto [ec, exit] = co_await exits.async_receive(test::as_tuple);
                if (ec)
                  co_return;
                std::printf("exit %d code=%d signal=%d\n", static_cast<int>(exit.worker.pid()),
                            exit.status.code.value_or(-1), exit.status.signal.value_or(0));
                std::fflush(stdout);
              }
            },
            asio::detached);
        auto pool_events = supervisor.subscribe();
        asio::co_spawn(
            io,
            [&pool_events]() -> asio::awaitable<void> {
              for (;;) {
                auto [ec, event] = co_await pool_events.async_receive(test::as_tuple);
                if (ec)
                  co_return;
                if (event.type == cocluster::supervisor_event_type::upgrade_failed) {
                  std::printf("%s\n", event.to_string().c_str());
                  std::fflush(stdout);
                }
              }
            },
            asio::detached);
        supervisor.async_wait_ready([](std::error_code ec) {
          if (!ec) {
            std::printf("ready\n");
            std::fflush(stdout);
          }
        });
        auto [ec] = co_await supervisor.async_run(test::as_tuple);
        std::printf("run %s\n", ec ? ("failed: " + ec.message()).c_str() : "ok");
        code = ec ? 1 : 0;
        // The run is over once every worker has exited: each one's status is known.
        int killed = 0;
        while (auto forked = forks.try_receive()) {
          const auto& status = forked->worker.status();
          if (status && (status->success() || (crash && status->code == 3)))
            continue;
          if (status && status->signal == SIGKILL && ++killed <= killed_by_test)
            continue;
          std::printf("unexpected: worker %d ended with %s\n",
                      static_cast<int>(forked->worker.pid()),
                      status ? status->to_string().c_str() : "nothing: it still runs");
          code = 81;
        }
        std::fflush(stdout);
        io.stop();
      },
      asio::detached);
  io.run();
  return code;
}

// A supervised primary with the default pool size, in the cgroup whose cgroup.procs file is the
// argument (it moves itself there first, so its workers start there too). Prints "available <n>"
// (available_cpus()), "pool <n>" (the workers the supervisor started), and "run ok" after a
// graceful stop; exits 0, or 94 when it could not join the cgroup.
WORKER_SCENARIO("quota-primary") {
  {
    std::ofstream procs(args.at(0));
    procs << ::getpid() << '\n';
    procs.flush();
    if (!procs)
      return 94;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  if (!cluster.is_primary())
    return 93;
  cluster.setup_primary(test::scenario("orphan-maker", test::strings("plain")));
  cocluster::supervisor_options options; // the pool size is the default: available_cpus()
  options.readiness = cocluster::readiness::ready_message;
  options.heartbeat.interval = 0ms;
  cocluster::supervisor supervisor(cluster, options);
  std::printf("available %u\n", cocluster::available_cpus());
  std::fflush(stdout);
  int code = 1;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        supervisor.async_run(asio::detached);
        co_await supervisor.async_wait_ready();
        std::printf("pool %zu\n", supervisor.workers().size());
        std::fflush(stdout);
        co_await supervisor.async_stop();
        std::printf("run ok\n");
        std::fflush(stdout);
        code = 0;
      },
      [&](std::exception_ptr e) {
        if (e)
          io.stop();
      });
  io.run();
  return code;
}

namespace {

// A fresh cgroup with a CPU quota, made by this (root) process in the host's cpu controller: the
// cgroup v1 `cpu` hierarchy, or a cgroup v2 child of the mount's root where the root delegates
// `cpu` to its children. Removed when it ends (once its processes have exited).
class quota_cgroup {
public:
  /// Why no such cgroup can be made here, or nothing.
  static std::optional<std::string> cannot_make() {
    if (::geteuid() != 0)
      return "needs root (to make a cgroup)";
    if (!parent())
      return "no cgroup cpu controller to write (neither a cgroup v1 cpu hierarchy nor cgroup "
             "v2 with cpu in the root's cgroup.subtree_control)";
    return std::nullopt;
  }

  /// A cgroup limited to `quota` microseconds of CPU time per 100000.
  explicit quota_cgroup(long quota) {
    static int made = 0;
    const auto where = parent();
    REQUIRE(where);
    folder_ = where->folder /
              ("cocluster-quota-" + std::to_string(::getpid()) + "-" + std::to_string(++made));
    REQUIRE(std::filesystem::create_directory(folder_));
    try {
      if (where->v1) {
        write("cpu.cfs_period_us", "100000");
        write("cpu.cfs_quota_us", std::to_string(quota));
      } else {
        write("cpu.max", std::to_string(quota) + " 100000");
      }
    } catch (...) {
      ::rmdir(folder_.c_str()); // (the destructor does not run for a half-made object)
      throw;
    }
  }
  quota_cgroup(const quota_cgroup&) = delete;
  quota_cgroup& operator=(const quota_cgroup&) = delete;
  ~quota_cgroup() {
    // A cgroup can be removed once its last process has been reaped: what a failed test left
    // there is killed first.
    for (int i = 0; i < 500 && ::rmdir(folder_.c_str()) != 0 && errno == EBUSY; ++i) {
      std::ifstream procs(folder_ / "cgroup.procs");
      for (pid_t pid; procs >> pid;)
        ::kill(pid, SIGKILL);
      sleep_ms(10);
    }
    if (std::filesystem::exists(folder_))
      MESSAGE("could not remove the test's cgroup " << folder_.string());
  }

  std::string procs() const { return (folder_ / "cgroup.procs").string(); }

private:
  struct place {
    std::filesystem::path folder;
    bool v1;
  };

  static std::optional<place> parent() {
    const std::filesystem::path root = "/sys/fs/cgroup";
    std::error_code ec;
    if (std::filesystem::exists(root / "cpu" / "cpu.cfs_quota_us", ec) &&
        ::access((root / "cpu").c_str(), W_OK) == 0)
      return place{root / "cpu", true};
    std::ifstream delegated(root / "cgroup.subtree_control");
    for (std::string controller; delegated >> controller;)
      if (controller == "cpu" && ::access(root.c_str(), W_OK) == 0)
        return place{root, false};
    return std::nullopt;
  }

  void write(const std::string& file, const std::string& text) const {
    std::ofstream out(folder_ / file);
    out << text << '\n';
    out.flush();
    REQUIRE_MESSAGE(out.good(), (folder_ / file).string());
  }

  std::filesystem::path folder_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The children of `pid` (every thread's), as this namespace numbers them.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code ec;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::istringstream list(read_text(task.path().string() + "/children"));
    for (pid_t child; list >> child;)
      children.push_back(child);
  }
  return children;
}

// The state letter of `pid` (R, S, Z...), or 0 once it is gone.
char state_of(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

std::string comm_of(pid_t pid) {
  std::string comm = read_text("/proc/" + std::to_string(pid) + "/comm");
  while (!comm.empty() && comm.back() == '\n')
    comm.pop_back();
  return comm;
}

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// The orphan among the children of `parent`, once it shows there.
std::optional<pid_t> wait_for_orphan(pid_t parent) {
  std::optional<pid_t> found;
  eventually([&] {
    for (pid_t child : children_of(parent))
      if (comm_of(child) == orphan_name)
        found = child;
    return found.has_value();
  });
  return found;
}

// The zombies among the children of `parent`.
std::vector<pid_t> zombies_of(pid_t parent) {
  std::vector<pid_t> zombies;
  for (pid_t child : children_of(parent))
    if (state_of(child) == 'Z')
      zombies.push_back(child);
  return zombies;
}

// The workers among the children of `parent` (not the orphan, not zombies).
std::vector<pid_t> workers_of(pid_t parent) {
  std::vector<pid_t> workers;
  for (pid_t child : children_of(parent))
    if (comm_of(child) != orphan_name && state_of(child) != 'Z' && state_of(child) != 0)
      workers.push_back(child);
  return workers;
}

// A primary of this binary as PID 1 of a new PID namespace. `init()` is its pid here.
class namespace_primary {
public:
  static std::optional<std::string> cannot_run() {
    if (::geteuid() != 0)
      return "needs root (unshare --pid --mount-proc)";
    if (!test::find_program("unshare"))
      return "needs unshare (util-linux)";
    return std::nullopt;
  }

  // pid1-primary's arguments, less the subreaper one (PID 1 reaps anyway).
  namespace_primary(const std::string& workers, const std::string& reap, const std::string& mode,
                    const std::string& killed_by_test)
      : program_(test::strings(*test::find_program("unshare"), "--pid", "--fork", "--kill-child",
                               "--mount-proc", test::self_executable(), "--worker-scenario",
                               "pid1-primary", workers, reap, "-", mode, killed_by_test)) {}

  test::program& program() { return program_; }

  // The namespace's init: the one child of unshare.
  pid_t init() {
    if (init_ == 0)
      eventually([&] {
        const auto children = children_of(program_.pid());
        if (!children.empty())
          init_ = children.front();
        return init_ != 0;
      });
    return init_;
  }

private:
  test::program program_;
  pid_t init_ = 0;
};

bool exited_with(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

} // namespace

TEST_SUITE_BEGIN("container");

TEST_CASE("as PID 1 the primary reaps an orphan that a worker's child left behind") {
  if (auto reason = namespace_primary::cannot_run()) {
    test::skip(*reason);
    return;
  }
  namespace_primary primary("1", "default", "orphan", "0");
  REQUIRE(primary.program().wait_line("pid ") == std::optional<std::string>("1"));
  const pid_t init = primary.init();
  REQUIRE(init != 0);
  const auto orphan = wait_for_orphan(init);
  REQUIRE_MESSAGE(orphan, primary.program().output());
  CHECK(eventually([&] { return state_of(*orphan) == 0; }));
  CHECK(zombies_of(init).empty());
  ::kill(init, SIGTERM);
  CHECK_MESSAGE(exited_with(primary.program().wait(), 0), primary.program().output());
}

TEST_CASE("with reap_orphans off the orphan stays a zombie under PID 1") {
  if (auto reason = namespace_primary::cannot_run()) {
    test::skip(*reason);
    return;
  }
  namespace_primary primary("1", "off", "orphan", "0");
  const pid_t init = primary.init();
  REQUIRE(init != 0);
  const auto orphan = wait_for_orphan(init);
  REQUIRE_MESSAGE(orphan, primary.program().output());
  REQUIRE(eventually([&] { return state_of(*orphan) == 'Z'; }));
  std::this_thread::sleep_for(1500ms); // longer than the reaper's backstop, were it on
  CHECK(state_of(*orphan) == 'Z');
  ::kill(init, SIGTERM);
  CHECK_MESSAGE(exited_with(primary.program().wait(), 0), primary.program().output());
}

TEST_CASE("as PID 1 a worker killed by a signal is reported with that signal and replaced") {
  if (auto reason = namespace_primary::cannot_run()) {
    test::skip(*reason);
    return;
  }
  namespace_primary primary("2", "default", "orphan", "1");
  REQUIRE(primary.program().wait_line("ready"));
  const pid_t init = primary.init();
  const auto orphan = wait_for_orphan(init);
  REQUIRE(orphan);
  std::vector<pid_t> workers;
  REQUIRE(eventually([&] { return (workers = workers_of(init)).size() == 2; }));
  ::kill(workers.front(), SIGKILL);
  // The cluster saw the signal: the reaper left the worker's status to its watcher.
  const auto line = primary.program().wait_line("exit ");
  REQUIRE_MESSAGE(line, primary.program().output());
  CHECK(line->find("code=-1 signal=9") != std::string::npos);
  CHECK(eventually([&] {
    const auto now = workers_of(init);
    return now.size() == 2 && std::find(now.begin(), now.end(), workers.front()) == now.end();
  }));
  ::kill(init, SIGTERM);
  CHECK_MESSAGE(exited_with(primary.program().wait(), 0), primary.program().output());
}

TEST_CASE("SIGTERM to the primary as PID 1 drains its workers and it exits 0") {
  if (auto reason = namespace_primary::cannot_run()) {
    test::skip(*reason);
    return;
  }
  namespace_primary primary("2", "default", "orphan", "0");
  REQUIRE(primary.program().wait_line("ready"));
  ::kill(primary.init(), SIGTERM);
  const int status = primary.program().wait();
  CHECK_MESSAGE(exited_with(status, 0), primary.program().output());
  CHECK(primary.program().wait_line("run ok", 0ms));
  // Both workers left through the disconnect and exited 0.
  CHECK(primary.program().lines_with("exit ").size() == 2);
  for (const auto& exit : primary.program().lines_with("exit "))
    CHECK(exit.find("code=0 signal=0") != std::string::npos);
}

TEST_CASE("as PID 1 the primary refuses a hot upgrade and serves on with its workers") {
  if (auto reason = namespace_primary::cannot_run()) {
    test::skip(*reason);
    return;
  }
  namespace_primary primary("2", "default", "orphan", "0");
  REQUIRE(primary.program().wait_line("ready"));
  const auto workers = workers_of(primary.init());
  REQUIRE(workers.size() == 2);
  ::kill(primary.init(), SIGUSR2);
  REQUIRE(primary.program().wait_line("pool upgrade_failed"));
  CHECK(primary.program().lines_with("pool upgrade_failed").at(0).find("PID 1") !=
        std::string::npos);
  CHECK(workers_of(primary.init()) == workers);
  ::kill(primary.init(), SIGTERM);
  CHECK_MESSAGE(exited_with(primary.program().wait(), 0), primary.program().output());
}

TEST_CASE("a crash loop under PID 1 ends the primary with exit code 1") {
  if (auto reason = namespace_primary::cannot_run()) {
    test::skip(*reason);
    return;
  }
  namespace_primary primary("1", "default", "crash", "0");
  const int status = primary.program().wait();
  CHECK_MESSAGE(exited_with(status, 1), primary.program().output());
  CHECK(primary.program().wait_line("run failed: ", 0ms));
}

TEST_CASE("in a cgroup with a quota of half a CPU the supervisor's default pool is one worker") {
  if (auto reason = quota_cgroup::cannot_make()) {
    test::skip(*reason);
    return;
  }
  quota_cgroup cgroup(50000);
  test::program primary(test::strings(test::self_executable(), "--worker-scenario", "quota-primary",
                                      cgroup.procs()));
  CHECK_MESSAGE(exited_with(primary.wait(), 0), primary.output());
  CHECK(primary.wait_line("available ", 0ms) == std::optional<std::string>("1"));
  CHECK(primary.wait_line("pool ", 0ms) == std::optional<std::string>("1"));
}

TEST_CASE("in a cgroup with a quota of one and a half CPUs the default pool is two workers") {
  if (auto reason = quota_cgroup::cannot_make()) {
    test::skip(*reason);
    return;
  }
  // The machine's CPUs as the mask allows them; any quota of this test's own cgroup does not
  // count (the new cgroup is a child of the root). On one CPU the quota could not show: 1 is
  // what any answer would be lowered to (the fake trees of the decisions suite cover that case).
  cpu_set_t mask;
  CPU_ZERO(&mask);
  REQUIRE(::sched_getaffinity(0, sizeof mask, &mask) == 0);
  const auto cpus = std::min(static_cast<long>(CPU_COUNT(&mask)), ::sysconf(_SC_NPROCESSORS_ONLN));
  if (cpus < 2) {
    test::skip("needs 2 CPUs or more (the quota rounds up to 2)");
    return;
  }
  const std::string expected = "2";
  quota_cgroup cgroup(150000);
  test::program primary(test::strings(test::self_executable(), "--worker-scenario", "quota-primary",
                                      cgroup.procs()));
  CHECK_MESSAGE(exited_with(primary.wait(), 0), primary.output());
  CHECK(primary.wait_line("available ", 0ms) == std::optional<std::string>(expected));
  CHECK(primary.wait_line("pool ", 0ms) == std::optional<std::string>(expected));
}

TEST_CASE("a primary that is a child subreaper reaps its workers' orphans by default") {
  test::program primary(test::strings(test::self_executable(), "--worker-scenario", "pid1-primary",
                                      "1", "default", "subreaper", "orphan", "0"));
  const auto pid_line = primary.wait_line("pid ");
  REQUIRE(pid_line);
  const pid_t self = std::stoi(*pid_line);
  const auto orphan = wait_for_orphan(self);
  REQUIRE_MESSAGE(orphan, primary.output());
  CHECK(eventually([&] { return state_of(*orphan) == 0; }));
  CHECK(zombies_of(self).empty());
  ::kill(self, SIGTERM);
  CHECK_MESSAGE(exited_with(primary.wait(), 0), primary.output());
}

TEST_SUITE_END();
