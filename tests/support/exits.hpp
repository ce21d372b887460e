// How every worker of a test ended: the one check that a worker's failure (an exception in a
// scenario, a non-zero exit code, a signal) fails the test that started it.
//
//   cocluster::cluster<> cluster(io);
//   test::exit_watch exits(cluster);          // before the first fork
//   ...
//   exits.expect_signal(victim, SIGKILL);     // the endings that are not "exit code 0"
//   co_await cluster.disconnect();
//   co_await exits.check();                   // every forked worker ended as expected
//
// A watch destroyed before check() completed fails the test, so it cannot be forgotten.
#ifndef COCLUSTER_TESTS_SUPPORT_EXITS_HPP
#define COCLUSTER_TESTS_SUPPORT_EXITS_HPP

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include <doctest/doctest.h>

#include <cocluster.hpp>

namespace test {

/// Records every worker `Cluster` forks from its construction on, and checks how each ended.
template <class Cluster>
class exit_watch {
public:
  using worker_type = typename Cluster::worker_type;

  explicit exit_watch(Cluster& cluster) : forks_(cluster.subscribe(cocluster::event::fork)) {}

  exit_watch(const exit_watch&) = delete;
  exit_watch& operator=(const exit_watch&) = delete;

  ~exit_watch() {
    if (!checked_)
      FAIL_CHECK("exit_watch: the test never awaited check() on how its workers ended");
  }

  /// `worker` is expected to end with exit code `code` (every other worker: 0).
  void expect_code(const worker_type& worker, int code) {
    expected_[worker.id()] = expectation{code, std::nullopt, false};
  }

  /// `worker` is expected to be killed by `signal`.
  void expect_signal(const worker_type& worker, int signal) {
    expected_[worker.id()] = expectation{std::nullopt, signal, false};
  }

  /// `worker` may end either way (a test that races a kill against a normal exit); it must
  /// still end.
  void expect_any(const worker_type& worker) {
    expected_[worker.id()] = expectation{std::nullopt, std::nullopt, true};
  }

  /// The workers forked so far (in fork order), for tests that look at them.
  const std::map<int, worker_type>& forked() {
    collect();
    return workers_;
  }

  /// Waits (at most `limit`) until every forked worker has ended, then checks each one's
  /// ending: exit code 0 unless an expect_* call said otherwise. A worker still running after
  /// `limit` fails the test.
  asio::awaitable<void> check(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    checked_ = true;
    collect();
    const auto deadline = std::chrono::steady_clock::now() + limit;
    auto executor = co_await asio::this_coro::executor;
    for (auto& [key, worker] : workers_) {
      const int id = key; // a plain variable: clang 14 cannot capture a structured binding
      while (!worker.status() && std::chrono::steady_clock::now() < deadline) {
        asio::steady_timer tick(executor, std::chrono::milliseconds(5));
        co_await tick.async_wait(asio::use_awaitable);
      }
      CAPTURE(id);
      const auto status = worker.status();
      if (!status) {
        FAIL_CHECK("worker " << id << " (pid " << worker.pid() << ") was still running "
                             << std::chrono::duration_cast<std::chrono::seconds>(limit).count()
                             << " s after the test's end");
        continue;
      }
      const auto it = expected_.find(id);
      const expectation want = it == expected_.end() ? expectation{} : it->second;
      if (want.any)
        continue;
      INFO("worker " << id << " ended with " << status->to_string());
      CHECK(!status->spawn_error);
      CHECK(status->code == want.code);
      CHECK(status->signal == want.signal);
    }
  }

private:
  struct expectation {
    std::optional<int> code = 0;
    std::optional<int> signal;
    bool any = false;
  };

  void collect() {
    while (auto forked = forks_.try_receive())
      workers_.emplace(forked->worker.id(), forked->worker);
  }

  cocluster::event_stream<cocluster::fork_event<worker_type>> forks_;
  std::map<int, worker_type> workers_;
  std::map<int, expectation> expected_;
  bool checked_ = false;
};

} // namespace test

#endif
