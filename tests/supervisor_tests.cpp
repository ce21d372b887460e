// The supervisor: respawn with backoff, the crash-loop guard, boot timeouts, rolling reloads
// under load (with rollback), graceful stop, hang detection, scaling and signals, Node workers.
// Real worker processes serving real HTTP on loopback; load loops bounded in count and time; no
// timing assertions beyond the bounds the options themselves set.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/exits.hpp"
#include "support/http.hpp"
#include "support/net.hpp"
#include "support/node.hpp"
#include "support/processes.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/skip.hpp"
#include "support/worker_scenarios.hpp"

using namespace std::chrono_literals;

namespace {

// SUP_MODE picks how a supervised worker behaves, so that a reload can change it through the
// settings' env: "ok" (default) serves HTTP on the port; "exit" exits 1 at boot; "never-ready"
// connects and never listens; "ready-message" serves, and reports ready once the primary sends
// "go". Every mode obeys the messages "block" (its event loop sleeps 30 s: a hang), "busy"
// (two seconds of CPU work in slices that let the loop run: busy, not hung) and "leave" (it
// disconnects itself, as a worker recycling itself after its own limit does).
std::string mode() {
  const char* value = std::getenv("SUP_MODE");
  return value ? value : "ok";
}

template <class Cluster>
asio::awaitable<void> obey(Cluster& cluster) {
  auto self = cluster.worker();
  auto messages = self.subscribe(cocluster::event::message);
  for (;;) {
    auto [ec, message] = co_await messages.async_receive(test::as_tuple);
    if (ec)
      co_return;
    if (message == "block") {
      std::this_thread::sleep_for(30s);
    } else if (message == "busy") {
      const auto end = std::chrono::steady_clock::now() + 2s;
      while (std::chrono::steady_clock::now() < end) {
        const auto slice = std::chrono::steady_clock::now() + 10ms;
        while (std::chrono::steady_clock::now() < slice) {
        }
        co_await asio::post(cluster.get_executor(), asio::use_awaitable);
      }
    } else if (message == "go") {
      cocluster::report_ready(cluster);
    } else if (message == "leave") {
      self.disconnect();
    }
  }
}

} // namespace

WORKER_SCENARIO("supervised-http") {
  const int port = std::stoi(args.at(0));
  const std::string how = mode();
  if (how == "exit")
    return 1;
  return test::with_serialization([port, how]<class S>() {
    return test::run_worker<S>([port, how](auto& cluster) -> asio::awaitable<void> {
      asio::co_spawn(cluster.get_executor(), obey(cluster), test::exit_on_failure("obey"));
      if (how == "never-ready")
        co_return;
      co_await test::http::serve(cluster, port);
    });
  });
}

namespace {

cocluster::settings http_workers(int port) {
  return test::scenario("supervised-http", test::strings(std::to_string(port)));
}

cocluster::settings with_mode(cocluster::settings s, const std::string& how) {
  std::map<std::string, std::string> env;
  env["SUP_MODE"] = how;
  s.env = env;
  return s;
}

// Options for tests: short timeouts, no hang detection unless a test turns it on.
cocluster::supervisor_options test_options(std::size_t workers) {
  cocluster::supervisor_options o;
  o.workers = workers;
  o.boot_timeout = 20s;
  o.drain_timeout = 5s;
  o.kill_timeout = 10s;
  o.heartbeat.interval = 0ms;
  o.backoff.initial = 20ms;
  o.backoff.jitter = 0;
  return o;
}

// Every event of a supervisor from the subscription on: `all()` takes what is queued.
class event_log {
public:
  explicit event_log(cocluster::event_stream<cocluster::supervisor_event> stream)
      : stream_(std::move(stream)) {}

  const std::vector<cocluster::supervisor_event>& all() {
    while (auto event = stream_.try_receive())
      seen_.push_back(std::move(*event));
    return seen_;
  }

private:
  cocluster::event_stream<cocluster::supervisor_event> stream_;
  std::vector<cocluster::supervisor_event> seen_;
};

using events_log = std::shared_ptr<event_log>;

template <class Supervisor>
events_log record(Supervisor& supervisor) {
  return std::make_shared<event_log>(supervisor.subscribe());
}

std::vector<cocluster::supervisor_event> of_type(const events_log& log,
                                                 cocluster::supervisor_event_type type) {
  std::vector<cocluster::supervisor_event> found;
  for (const auto& event : log->all())
    if (event.type == type)
      found.push_back(event);
  return found;
}

// The run's outcome, kept once it completes.
struct run_outcome {
  bool done = false;
  std::error_code code;
};

template <class Supervisor>
std::shared_ptr<run_outcome> start_run(Supervisor& supervisor) {
  auto outcome = std::make_shared<run_outcome>();
  supervisor.async_run([outcome](std::error_code ec) {
    outcome->done = true;
    outcome->code = ec;
  });
  return outcome;
}

template <class Supervisor>
std::set<pid_t> pids_of(const Supervisor& supervisor) {
  std::set<pid_t> pids;
  for (const auto& worker : supervisor.workers())
    pids.insert(worker.pid());
  return pids;
}

template <class Supervisor>
asio::awaitable<bool> all_ready(const Supervisor& supervisor, std::size_t n,
                                std::chrono::milliseconds limit = 20s) {
  co_return co_await test::eventually(
      [&] { return supervisor.ready_count() == n && supervisor.workers().size() == n; }, limit);
}

} // namespace

TEST_SUITE_BEGIN("supervisor");

TEST_CASE("a supervisor wait whose cancellation slot is emitted completes with operation_aborted "
          "and the pool runs on: a later wait completes when the pool is ready") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(http_workers(test::free_port()));
  cocluster::supervisor supervisor(cluster, test_options(1));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    asio::cancellation_signal cancel;
    std::optional<std::error_code> cancelled;
    supervisor.async_wait_ready(
        asio::bind_cancellation_slot(cancel.slot(), [&](std::error_code ec) { cancelled = ec; }));
    cancel.emit(asio::cancellation_type::terminal); // before any worker could be ready
    CHECK(co_await test::eventually([&] { return cancelled.has_value(); }));
    CHECK(*cancelled == asio::error::operation_aborted);
    co_await supervisor.async_wait_ready();
    CHECK(supervisor.ready_count() == 1);
    co_await supervisor.async_stop();
    CHECK(co_await test::eventually([&] { return run->done; }));
    CHECK(!run->code);
    co_await exits.check(); // every worker exited 0
  });
}

TEST_CASE("a supervised worker killed with SIGKILL is replaced by a ready worker, after delays "
          "that grow with each consecutive crash and start again after a stable run") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(http_workers(test::free_port()));
  auto options = test_options(1);
  options.backoff.initial = 50ms;
  options.backoff.factor = 2;
  options.backoff.jitter = 0.2;
  options.backoff.reset_after = 1500ms;
  options.crash_loop.max_failures = 100;
  cocluster::supervisor supervisor(cluster, options);
  auto log = record(supervisor);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    co_await supervisor.async_wait_ready();
    auto kill_and_wait = [&]() -> asio::awaitable<void> {
      auto victim = supervisor.workers().at(0);
      exits.expect_signal(victim, SIGKILL);
      victim.kill(SIGKILL);
      const bool replaced = co_await test::eventually([&] {
        return supervisor.ready_count() == 1 && supervisor.workers().at(0).id() != victim.id();
      });
      CHECK(replaced);
    };
    for (int i = 0; i < 3; ++i)
      co_await kill_and_wait();
    co_await test::sleep(1800ms); // longer than reset_after: the streak ends
    co_await kill_and_wait();
    co_await supervisor.async_stop();
    CHECK(run->done);
    CHECK(!run->code);
    co_await exits.check();
  });
  const auto delays = of_type(log, cocluster::supervisor_event_type::respawn_scheduled);
  REQUIRE(delays.size() == 4);
  // 50, 100, 200 ms (±20 %), then 50 again after the stable run.
  CHECK(delays[0].delay >= 40ms);
  CHECK(delays[0].delay <= 60ms);
  CHECK(delays[1].delay >= 80ms);
  CHECK(delays[1].delay <= 120ms);
  CHECK(delays[2].delay >= 160ms);
  CHECK(delays[2].delay <= 240ms);
  CHECK(delays[3].delay >= 40ms);
  CHECK(delays[3].delay <= 60ms);
  CHECK(of_type(log, cocluster::supervisor_event_type::crashed).size() == 4);
  CHECK(of_type(log, cocluster::supervisor_event_type::ready).size() == 5);
}

TEST_CASE("workers that exit at boot stop the pool after K failed starts: the run completes "
          "with the crash-loop error and no process is left behind") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(with_mode(http_workers(test::free_port()), "exit"));
  auto options = test_options(2);
  options.backoff.initial = 10ms;
  options.crash_loop.max_failures = 4;
  options.crash_loop.window = 60s;
  cocluster::supervisor supervisor(cluster, options);
  auto log = record(supervisor);
  test::run(io, [&]() -> asio::awaitable<void> {
    std::error_code code;
    try {
      co_await supervisor.async_run();
    } catch (const std::system_error& e) {
      code = e.code();
    }
    CHECK(code == cocluster::errc::crash_loop);
    // The code completes the run (as for every async_*); the event says what happened.
    const auto loops = of_type(log, cocluster::supervisor_event_type::crash_loop);
    REQUIRE(loops.size() == 1);
    CHECK(loops[0].reason.find("crash loop") != std::string::npos);
    CHECK(loops[0].reason.find("exit code 1 before it was ready") != std::string::npos);
    for (const auto& [id, worker] : exits.forked())
      exits.expect_code(worker, 1);
    co_await exits.check();
  });
  // Four failures, then no respawn: the fourth may come after the other slot's respawn was
  // already forked (its worker failing at boot too, after the guard tripped), never later.
  const auto started = of_type(log, cocluster::supervisor_event_type::started).size();
  CHECK(exits.forked().size() == started);
  CHECK(started >= 4);
  CHECK(started <= 5);
  bool tripped = false;
  for (const auto& event : log->all()) {
    CAPTURE(event.to_string());
    if (tripped) {
      CHECK(event.type != cocluster::supervisor_event_type::started);
      CHECK(event.type != cocluster::supervisor_event_type::respawn_scheduled);
    }
    tripped = tripped || event.type == cocluster::supervisor_event_type::crash_loop;
  }
  CHECK(tripped);
  CHECK(of_type(log, cocluster::supervisor_event_type::boot_failed).size() >= 4);
  CHECK(of_type(log, cocluster::supervisor_event_type::crash_loop).size() == 1);
  CHECK(of_type(log, cocluster::supervisor_event_type::ready).empty());
  CHECK(of_type(log, cocluster::supervisor_event_type::stopped).size() == 1);
}

TEST_CASE("a worker that never gets ready is killed after the boot timeout and counted as a "
          "failed start") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(with_mode(http_workers(test::free_port()), "never-ready"));
  auto options = test_options(1);
  options.boot_timeout = 300ms;
  options.crash_loop.max_failures = 2;
  cocluster::supervisor supervisor(cluster, options);
  auto log = record(supervisor);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto [ec] = co_await supervisor.async_run(test::as_tuple);
    CHECK(ec == cocluster::errc::crash_loop);
    for (const auto& [id, worker] : exits.forked())
      exits.expect_signal(worker, SIGKILL);
    co_await exits.check();
  });
  const auto failures = of_type(log, cocluster::supervisor_event_type::boot_failed);
  REQUIRE(failures.size() == 2);
  for (const auto& failure : failures)
    CHECK(failure.reason.find("boot timeout of 300 ms") != std::string::npos);
}

TEST_CASE("with readiness by message a worker that listens is not ready until it reports ready") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(with_mode(http_workers(test::free_port()), "ready-message"));
  auto options = test_options(1);
  options.readiness = cocluster::readiness::ready_message;
  cocluster::supervisor supervisor(cluster, options);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    co_await test::eventually([&] { return supervisor.workers().size() == 1; });
    auto worker = supervisor.workers().at(0);
    co_await worker.listening();
    co_await test::sleep(300ms);
    CHECK(supervisor.ready_count() == 0);
    worker.send("go");
    co_await supervisor.async_wait_ready();
    CHECK(supervisor.ready_count() == 1);
    co_await supervisor.async_stop();
    co_await exits.check();
  });
}

TEST_CASE_TEMPLATE("a rolling reload under keep-alive and one-request load fails no request, "
                   "replaces every worker and never has fewer than N ready workers",
                   Policy, cocluster::round_robin, cocluster::shared_socket,
                   cocluster::reuse_port) {
  asio::io_context io;
  cocluster::cluster<Policy> cluster(io);
  test::exit_watch exits(cluster);
  const int port = test::free_port();
  cluster.setup_primary(http_workers(port));
  cocluster::supervisor supervisor(cluster, test_options(4));
  auto log = record(supervisor);
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        auto run = start_run(supervisor);
        co_await supervisor.async_wait_ready();
        const auto first = pids_of(supervisor);
        std::size_t fewest_ready = supervisor.ready_count();
        bool sampling = true;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              while (sampling) {
                fewest_ready = std::min(fewest_ready, supervisor.ready_count());
                co_await test::sleep(1ms);
              }
            },
            test::exit_on_failure("sampling"));
        test::http::load load(io.get_executor(), port, 8, 4);
        co_await test::sleep(300ms);
        co_await supervisor.async_reload();
        const auto second = pids_of(supervisor);
        co_await supervisor.async_reload();
        const auto third = pids_of(supervisor);
        co_await test::sleep(300ms);
        const auto report = co_await load.finish();
        sampling = false;
        INFO("first error: " << report.first_error);
        CHECK(report.answered > 0);
        CHECK(report.failed == 0);
        CHECK(report.unanswered == 0);
        CHECK(fewest_ready >= 4);
        CHECK(first.size() == 4);
        CHECK(second.size() == 4);
        CHECK(third.size() == 4);
        for (pid_t pid : second)
          CHECK(first.count(pid) == 0);
        for (pid_t pid : third) {
          CHECK(first.count(pid) == 0);
          CHECK(second.count(pid) == 0);
        }
        // Every generation answered.
        for (pid_t pid : first)
          CHECK(report.pids.count(std::to_string(pid)) == 1);
        co_await supervisor.async_stop();
        co_await exits.check(); // every worker, replaced or stopped, exited 0
      },
      90s);
  CHECK(of_type(log, cocluster::supervisor_event_type::reload_step).size() == 8);
  CHECK(of_type(log, cocluster::supervisor_event_type::reload_finished).size() == 2);
  for (const auto& event : log->all()) // no failure of any kind
    CHECK(event.type != cocluster::supervisor_event_type::crashed);
}

TEST_CASE("a reload to a release that exits at boot, or never gets ready, stops and rolls back: "
          "the old workers answer on and the reload completes with the error") {
  for (const std::string broken : {"exit", "never-ready"}) {
    CAPTURE(broken);
    asio::io_context io;
    cocluster::cluster<> cluster(io);
    test::exit_watch exits(cluster);
    const int port = test::free_port();
    const auto good = http_workers(port);
    cluster.setup_primary(good);
    auto options = test_options(2);
    options.boot_timeout = 500ms;
    cocluster::supervisor supervisor(cluster, options);
    auto log = record(supervisor);
    test::run(io, [&]() -> asio::awaitable<void> {
      auto run = start_run(supervisor);
      co_await supervisor.async_wait_ready();
      const auto old = pids_of(supervisor);
      test::http::load load(io.get_executor(), port, 2, 1);
      std::error_code code;
      try {
        co_await supervisor.async_reload(with_mode(good, broken));
      } catch (const std::system_error& e) {
        code = e.code();
      }
      CHECK(code == cocluster::errc::reload_failed);
      const auto failed = of_type(log, cocluster::supervisor_event_type::reload_failed);
      REQUIRE(failed.size() == 1);
      const std::string& what = failed[0].reason;
      CHECK(what.find("worker") != std::string::npos);
      CHECK(what.find(broken == "exit" ? "exit code 1 before it was ready"
                                       : "boot timeout of 500 ms") != std::string::npos);
      co_await test::sleep(200ms);
      const auto report = co_await load.finish();
      INFO("first error: " << report.first_error);
      CHECK(report.failed == 0);
      CHECK(report.unanswered == 0);
      CHECK(pids_of(supervisor) == old); // rolled back: the old workers serve
      CHECK(supervisor.ready_count() == 2);
      for (pid_t pid : old)
        CHECK(report.pids.count(std::to_string(pid)) == 1);
      for (const auto& [id, worker] : exits.forked())
        if (old.count(worker.pid()) == 0) {
          if (broken == "exit")
            exits.expect_code(worker, 1);
          else
            exits.expect_signal(worker, SIGKILL);
        }
      // The release is the old one again: a respawn starts a good worker.
      auto victim = supervisor.workers().at(0);
      exits.expect_signal(victim, SIGKILL);
      victim.kill(SIGKILL);
      CHECK(co_await test::eventually([&] {
        return supervisor.ready_count() == 2 && pids_of(supervisor).count(victim.pid()) == 0;
      }));
      co_await supervisor.async_stop();
      co_await exits.check();
    });
    CHECK(of_type(log, cocluster::supervisor_event_type::reload_failed).size() == 1);
    CHECK(of_type(log, cocluster::supervisor_event_type::reload_step).empty());
  }
}

TEST_CASE("a reload asked for while one runs is queued and runs after it, with the changes of "
          "every request merged") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  const int port = test::free_port();
  cluster.setup_primary(http_workers(port));
  cocluster::supervisor supervisor(cluster, test_options(2));
  auto log = record(supervisor);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    co_await supervisor.async_wait_ready();
    const auto first = pids_of(supervisor);
    // Three requests at once: the first runs, the other two wait as one reload.
    int done = 0;
    std::error_code failure;
    auto count = [&](std::error_code ec) {
      ++done;
      if (ec)
        failure = ec;
    };
    supervisor.async_reload({}, count);
    cocluster::settings cwd_change;
    cwd_change.cwd = "/";
    supervisor.async_reload(cwd_change, count);
    supervisor.async_reload(with_mode(cocluster::settings{}, "ok"), count);
    CHECK(co_await test::eventually([&] { return done == 3; }, 30s));
    CHECK(!failure);
    for (pid_t pid : pids_of(supervisor))
      CHECK(first.count(pid) == 0);
    // Both changes of the queued requests reached the workers of the second reload.
    for (pid_t pid : pids_of(supervisor)) {
      std::error_code ec;
      CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec) == "/");
    }
    co_await supervisor.async_stop();
    co_await exits.check();
  });
  CHECK(of_type(log, cocluster::supervisor_event_type::reload_started).size() == 2);
  CHECK(of_type(log, cocluster::supervisor_event_type::reload_finished).size() == 2);
  CHECK(of_type(log, cocluster::supervisor_event_type::reload_step).size() == 4);
}

TEST_CASE("a hung worker is sent SIGABRT first when core dumps are asked for") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(http_workers(test::free_port()));
  auto options = test_options(1);
  options.heartbeat.interval = 100ms;
  options.heartbeat.timeout = 500ms;
  options.heartbeat.core_dump = true;
  cocluster::supervisor supervisor(cluster, options);
  // No core file from the test: the limit is inherited by the workers.
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    co_await supervisor.async_wait_ready();
    auto hung = supervisor.workers().at(0);
    exits.expect_signal(hung, SIGABRT);
    hung.send("block");
    const auto status = co_await hung.exited();
    CHECK(status.signal == SIGABRT);
    CHECK(co_await all_ready(supervisor, 1));
    co_await supervisor.async_stop();
    co_await exits.check();
  });
}

TEST_CASE("a graceful stop lets a request in flight finish within the drain timeout") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  const int port = test::free_port();
  cluster.setup_primary(http_workers(port));
  auto options = test_options(1);
  options.drain_timeout = 5s;
  cocluster::supervisor supervisor(cluster, options);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    co_await supervisor.async_wait_ready();
    auto client = co_await test::http::send_request(port, "GET /slow/600 HTTP/1.1\r\n\r\n");
    co_await test::sleep(150ms); // the worker holds the request
    auto stopping = test::start(io.get_executor(), [&]() -> asio::awaitable<int> {
      co_await supervisor.async_stop();
      co_return 0;
    }());
    const std::string answer = co_await test::http::read_to_end(client);
    CHECK(answer.rfind("HTTP/1.1 200 OK", 0) == 0);
    CHECK(answer.find("Connection: close") != std::string::npos); // it was draining
    co_await stopping.result();
    co_await exits.check();
  });
}

TEST_CASE("a graceful stop cuts a connection held past the drain timeout, and kills a worker "
          "still busy after the kill timeout") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  const int port = test::free_port();
  cluster.setup_primary(http_workers(port));
  auto options = test_options(1);
  options.drain_timeout = 300ms;
  options.kill_timeout = 1500ms;
  cocluster::supervisor supervisor(cluster, options);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    co_await supervisor.async_wait_ready();
    // A client whose request takes longer than the drain timeout.
    auto client = co_await test::http::send_request(port, "GET /slow/20000 HTTP/1.1\r\n\r\n");
    co_await test::sleep(150ms);
    // The worker's handler still waits for its 20 s when the drain cuts the connection: the
    // process cannot end by itself (as a Node process with a pending timer), so it is killed.
    auto worker = supervisor.workers().at(0);
    exits.expect_signal(worker, SIGKILL);
    co_await supervisor.async_stop();
    CHECK(co_await test::http::read_to_end(client) == ""); // cut: no answer
    CHECK(run->done);
    co_await exits.check();
  });
}

TEST_CASE("a second stop while the first waits kills the workers at once") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(http_workers(test::free_port()));
  auto options = test_options(1);
  options.kill_timeout = 60s; // longer than the test may take
  cocluster::supervisor supervisor(cluster, options);
  auto log = record(supervisor);
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        auto run = start_run(supervisor);
        co_await supervisor.async_wait_ready();
        auto worker = supervisor.workers().at(0);
        co_await worker.async_send("block"); // it cannot leave by itself
        exits.expect_signal(worker, SIGKILL);
        auto first = test::start(io.get_executor(), [&]() -> asio::awaitable<int> {
          co_await supervisor.async_stop();
          co_return 1;
        }());
        co_await test::sleep(300ms);
        CHECK(!run->done);
        co_await supervisor.async_stop();
        CHECK(co_await first.result() == 1);
        CHECK(run->done);
        co_await exits.check();
      },
      20s);
  CHECK(of_type(log, cocluster::supervisor_event_type::stopping).size() == 2);
}

TEST_CASE("a worker that disconnects itself is replaced at once, without a failure counted") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(http_workers(test::free_port()));
  auto options = test_options(1);
  options.backoff.initial = 30s; // a respawn after a failure would not happen within the test
  options.crash_loop.max_failures = 1;
  cocluster::supervisor supervisor(cluster, options);
  auto log = record(supervisor);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    co_await supervisor.async_wait_ready();
    auto leaving = supervisor.workers().at(0);
    leaving.send("leave");
    CHECK(co_await test::eventually([&] {
      return supervisor.ready_count() == 1 && supervisor.workers().at(0) != leaving;
    }));
    CHECK(leaving.exited_after_disconnect() == true);
    CHECK(!run->done); // no crash loop
    co_await supervisor.async_stop();
    co_await exits.check();
  });
  CHECK(of_type(log, cocluster::supervisor_event_type::exited).size() == 2);
  CHECK(of_type(log, cocluster::supervisor_event_type::respawn_scheduled).empty());
  CHECK(of_type(log, cocluster::supervisor_event_type::crashed).empty());
}

TEST_CASE("a worker whose event loop blocks is detected once silent past the heartbeat timeout, "
          "killed and replaced; a busy but responsive worker is left alone") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(http_workers(test::free_port()));
  auto options = test_options(2);
  options.heartbeat.interval = 100ms;
  options.heartbeat.timeout = 600ms;
  cocluster::supervisor supervisor(cluster, options);
  auto log = record(supervisor);
  std::chrono::steady_clock::duration since_start{};
  test::run(io, [&]() -> asio::awaitable<void> {
    // Before the pool starts: no heartbeat was asked for earlier, so no silence is longer than
    // the time from here to the replacement.
    const auto start = std::chrono::steady_clock::now();
    auto run = start_run(supervisor);
    co_await supervisor.async_wait_ready();
    auto workers = supervisor.workers();
    auto hung = workers[0];
    auto busy = workers[1];
    exits.expect_signal(hung, SIGKILL);
    busy.send("busy");
    hung.send("block");
    const bool replaced = co_await test::eventually([&] {
      return supervisor.ready_count() == 2 && pids_of(supervisor).count(hung.pid()) == 0;
    });
    since_start = std::chrono::steady_clock::now() - start;
    CHECK(replaced);
    co_await busy.async_send("busy"); // a second stretch of work, still beating
    co_await test::sleep(2500ms);
    CHECK(pids_of(supervisor).count(busy.pid()) == 1);
    CHECK(!busy.is_dead());
    co_await supervisor.async_stop();
    co_await exits.check();
  });
  const auto hangs = of_type(log, cocluster::supervisor_event_type::hang_detected);
  REQUIRE(hangs.size() == 1);
  CHECK(hangs[0].pid != 0);
  // "hung: no heartbeat for N ms": more than the timeout, and a silence that really passed
  // (how soon after the timeout the check finds it is the heartbeat_verdict's, tested in the
  // decisions suite with given times).
  const auto at = hangs[0].reason.find("for ");
  REQUIRE(at != std::string::npos);
  const int silent = std::stoi(hangs[0].reason.substr(at + 4));
  CHECK(silent > 600);
  CHECK(silent <= since_start / 1ms);
}

TEST_CASE("the pool scales up and down at run time, and by SIGTTIN and SIGTTOU") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(http_workers(test::free_port()));
  cocluster::supervisor supervisor(cluster, test_options(2));
  auto log = record(supervisor);
  supervisor.handle_signals();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    co_await supervisor.async_wait_ready();
    supervisor.scale(4);
    CHECK(supervisor.size() == 4);
    CHECK(co_await all_ready(supervisor, 4));
    const auto before = supervisor.workers();
    supervisor.scale(1);
    CHECK(co_await all_ready(supervisor, 1));
    CHECK(supervisor.workers().at(0) == before.at(0)); // the newest went
    CHECK(co_await test::eventually([&] {
      return std::all_of(before.begin() + 1, before.end(), [](auto& w) { return w.is_dead(); });
    }));
    ::raise(SIGTTIN);
    CHECK(co_await test::eventually([&] { return supervisor.size() == 2; }));
    CHECK(co_await all_ready(supervisor, 2));
    ::raise(SIGTTOU);
    CHECK(co_await test::eventually([&] { return supervisor.size() == 1; }));
    CHECK(co_await all_ready(supervisor, 1));
    CHECK_THROWS_AS(supervisor.scale(0), std::invalid_argument);
    co_await supervisor.async_stop();
    co_await exits.check();
  });
  CHECK(of_type(log, cocluster::supervisor_event_type::scaled).size() == 4);
  for (const auto& event : log->all())
    CHECK(event.type != cocluster::supervisor_event_type::crashed);
}

TEST_CASE("SIGHUP reloads the pool and SIGTERM stops it gracefully") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(http_workers(test::free_port()));
  cocluster::supervisor supervisor(cluster, test_options(2));
  auto log = record(supervisor);
  supervisor.handle_signals();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto run = start_run(supervisor);
    co_await supervisor.async_wait_ready();
    const auto old = pids_of(supervisor);
    ::raise(SIGHUP);
    CHECK(co_await test::eventually([&] {
      return !of_type(log, cocluster::supervisor_event_type::reload_finished).empty();
    }));
    for (pid_t pid : pids_of(supervisor))
      CHECK(old.count(pid) == 0);
    ::raise(SIGTERM);
    CHECK(co_await test::eventually([&] { return run->done; }));
    CHECK(!run->code);
    co_await exits.check();
  });
}

TEST_CASE("unmodified Node HTTP workers under the supervisor are respawned, reloaded with no "
          "failed request, not hang-checked, and stopped gracefully") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  const int port = test::free_port();
  cocluster::settings s;
  s.exec = *node;
  s.args = test::strings(test::test_file("node/interop_http_worker.js"));
  std::map<std::string, std::string> env;
  env["PORT"] = std::to_string(port);
  s.env = env;
  cluster.setup_primary(s);
  auto options = test_options(2);
  options.heartbeat.interval = 100ms; // on, but Node workers do not beat and are not checked
  options.heartbeat.timeout = 300ms;
  cocluster::supervisor supervisor(cluster, options);
  auto log = record(supervisor);
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        auto run = start_run(supervisor);
        co_await supervisor.async_wait_ready();
        auto victim = supervisor.workers().at(0);
        exits.expect_signal(victim, SIGKILL);
        victim.kill(SIGKILL);
        CHECK(co_await test::eventually([&] {
          return supervisor.ready_count() == 2 && pids_of(supervisor).count(victim.pid()) == 0;
        }));
        const auto before = pids_of(supervisor);
        // Node's server closes idle kept-alive connections when it closes, which races a
        // client's next request: one request per connection here.
        test::http::load load(io.get_executor(), port, 0, 4);
        co_await test::sleep(200ms);
        co_await supervisor.async_reload();
        co_await test::sleep(200ms);
        const auto report = co_await load.finish();
        INFO("first error: " << report.first_error);
        CHECK(report.answered > 0);
        CHECK(report.failed == 0);
        CHECK(report.unanswered == 0);
        for (pid_t pid : pids_of(supervisor))
          CHECK(before.count(pid) == 0);
        co_await supervisor.async_stop();
        co_await exits.check();
      },
      90s);
  CHECK(of_type(log, cocluster::supervisor_event_type::hang_detected).empty());
}

TEST_SUITE_END();
