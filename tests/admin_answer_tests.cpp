// The supervisor's answers to admin requests (`cocluster::async_admin_answer`) from a real
// pool: /metrics is its snapshot, /readyz follows its readiness and its stop. The workers run
// the metrics suite's "metrics-server" scenario. Part of the metrics suite.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include <cocluster.hpp>

#include "support/exits.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"

using namespace std::chrono_literals;

namespace {

cocluster::supervisor_options two_workers() {
  cocluster::supervisor_options options;
  options.workers = 2;
  options.heartbeat.interval = 0ms;
  return options;
}

} // namespace

TEST_SUITE_BEGIN("metrics");

TEST_CASE("async_admin_answer answers GET /metrics with the supervisor's snapshot in "
          "Prometheus's text format, every worker in it") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("metrics-server", test::strings("0")));
  cocluster::supervisor supervisor(cluster, two_workers());
  test::run(io, [&]() -> asio::awaitable<void> {
    asio::co_spawn(io, supervisor.async_run(), asio::detached);
    co_await supervisor.async_wait_ready();
    auto [ec, answer] = co_await cocluster::async_admin_answer(supervisor, "GET", "/metrics?x=1",
                                                               {}, test::as_tuple);
    CHECK(!ec);
    CHECK(answer.status == 200);
    CHECK(answer.content_type == cocluster::prometheus_content_type);
    for (const auto& worker : supervisor.workers())
      CHECK_MESSAGE(answer.body.find("pid=\"" + std::to_string(worker.pid()) + "\"") !=
                        std::string::npos,
                    answer.body);
    const auto bytes = cocluster::admin::to_http(answer);
    CHECK(bytes.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(bytes.find("\r\nContent-Length: " + std::to_string(answer.body.size()) + "\r\n") !=
          std::string::npos);
    co_await supervisor.async_stop();
    co_await exits.check();
  });
}

TEST_CASE("async_admin_answer's /readyz is 503 before the pool is ready, 200 once it is, and 503 "
          "again from the start of its stop") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("metrics-server", test::strings("0")));
  cocluster::supervisor supervisor(cluster, two_workers());
  const cocluster::admin::paths probes{true, 2};
  test::run(io, [&]() -> asio::awaitable<void> {
    bool run_done = false;
    auto before = std::get<1>(co_await cocluster::async_admin_answer(supervisor, "GET", "/readyz",
                                                                     probes, test::as_tuple));
    CHECK(before.status == 503);
    supervisor.async_run([&](std::error_code) { run_done = true; });
    co_await supervisor.async_wait_ready();
    auto ready = std::get<1>(co_await cocluster::async_admin_answer(supervisor, "GET", "/readyz",
                                                                    probes, test::as_tuple));
    CHECK(ready.status == 200);
    CHECK(ready.body == "ready: 2 of 2 workers ready, at least 2 needed\n");
    supervisor.async_stop(asio::detached); // (started now: the stop has begun)
    auto stopping = std::get<1>(co_await cocluster::async_admin_answer(supervisor, "GET", "/readyz",
                                                                       probes, test::as_tuple));
    CHECK(stopping.status == 503);
    CHECK(stopping.body.rfind("stopping", 0) == 0);
    CHECK(co_await test::eventually([&] { return run_done; }, 30s));
    co_await exits.check();
  });
}

TEST_SUITE_END();
