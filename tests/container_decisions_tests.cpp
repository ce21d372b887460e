// The pure decisions for containers, tested directly (no process, no socket): whether the
// primary reaps orphans and which exited children it reaps, and what the health probes answer.
// Part of the decisions suite.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include <cocluster/detail/process/reap_decision.hpp>
#include <cocluster/supervision/health.hpp>

using cocluster::detail::reap_action;
using cocluster::detail::reap_action_for;
using cocluster::detail::reaps_orphans;
namespace health = cocluster::health;

namespace {

health::pool_state pool(std::size_t ready, std::size_t size, std::size_t min_ready,
                        bool stopping = false) {
  health::pool_state state;
  state.ready = ready;
  state.size = size;
  state.min_ready = min_ready;
  state.stopping = stopping;
  return state;
}

} // namespace

TEST_SUITE_BEGIN("decisions");

TEST_CASE("an exited child that is a live worker is left to its watcher and any other is reaped") {
  const std::vector<pid_t> workers{101, 102, 103};
  CHECK(reap_action_for(102, workers) == reap_action::leave_to_watcher);
  CHECK(reap_action_for(101, workers) == reap_action::leave_to_watcher);
  CHECK(reap_action_for(103, workers) == reap_action::leave_to_watcher);
  CHECK(reap_action_for(104, workers) == reap_action::reap);
  CHECK(reap_action_for(7, {}) == reap_action::reap);
}

TEST_CASE("orphans are reaped by default only by PID 1 or a child subreaper and the option wins") {
  CHECK(reaps_orphans(std::nullopt, 1, false));
  CHECK(reaps_orphans(std::nullopt, 4242, true));
  CHECK_FALSE(reaps_orphans(std::nullopt, 4242, false));
  CHECK_FALSE(reaps_orphans(false, 1, true));
  CHECK(reaps_orphans(true, 4242, false));
}

TEST_CASE("the probe paths are exactly /healthz and /readyz with or without a query") {
  CHECK(health::probe_of("/healthz") == health::probe::liveness);
  CHECK(health::probe_of("/readyz") == health::probe::readiness);
  CHECK(health::probe_of("/readyz?verbose") == health::probe::readiness);
  CHECK_FALSE(health::probe_of("/healthz/"));
  CHECK_FALSE(health::probe_of("/readyzz"));
  CHECK_FALSE(health::probe_of("/metrics"));
  CHECK_FALSE(health::probe_of("/"));
  CHECK_FALSE(health::probe_of(""));
}

TEST_CASE("the liveness probe answers 200 whatever the pool") {
  const auto answer = health::answer_for(health::probe::liveness, pool(0, 4, 1, true));
  CHECK(answer.status == 200);
  CHECK(answer.reason == "OK");
}

TEST_CASE("the readiness probe answers 200 from the minimum of ready workers on and 503 below") {
  const auto below = health::answer_for(health::probe::readiness, pool(1, 4, 2));
  CHECK(below.status == 503);
  CHECK(below.reason == "Service Unavailable");
  CHECK(below.body == "not ready: 1 of 4 workers ready, at least 2 needed\n");
  const auto at = health::answer_for(health::probe::readiness, pool(2, 4, 2));
  CHECK(at.status == 200);
  CHECK(at.body == "ready: 2 of 4 workers ready, at least 2 needed\n");
  CHECK(health::answer_for(health::probe::readiness, pool(4, 4, 2)).status == 200);
  CHECK(health::answer_for(health::probe::readiness, pool(0, 4, 1)).status == 503);
}

TEST_CASE("the readiness probe answers 503 once a stop has begun however many workers are ready") {
  const auto answer = health::answer_for(health::probe::readiness, pool(4, 4, 1, true));
  CHECK(answer.status == 503);
  CHECK(answer.body.rfind("stopping: ", 0) == 0);
}

TEST_SUITE_END();
