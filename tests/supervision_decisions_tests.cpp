// The supervisor's pure decisions, tested directly (no process, no socket): a member's boot and
// exit (`member_state`), the rolling reload (`reload_plan`, `change_queue`), the stop
// (`stop_sequence`), the hang check (`heartbeat_verdict`) and the signals (`signal_action_of`).
// Part of the decisions suite.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <cocluster/supervision/heartbeat_verdict.hpp>
#include <cocluster/supervision/member_state.hpp>
#include <cocluster/supervision/reload_plan.hpp>
#include <cocluster/supervision/signal_action.hpp>
#include <cocluster/supervision/stop_sequence.hpp>

using namespace std::chrono_literals;
using cocluster::exit_kind;
using cocluster::member_state;
using cocluster::reload_member;
using cocluster::reload_plan;
using cocluster::replacement_reason;

namespace {

const auto t0 = std::chrono::steady_clock::time_point() + 1h;

member_state ready_member(int slot = 0) {
  member_state m(slot, 1, 1);
  m.listened(t0, true);
  return m;
}

// A pool of `count` ready workers (ids 1..count) of release `generation`.
std::vector<reload_member> pool_of(int count, int generation) {
  std::vector<reload_member> pool;
  for (int id = 1; id <= count; ++id)
    pool.push_back({id, generation, 0, false, true});
  return pool;
}

reload_member* find(std::vector<reload_member>& pool, int id) {
  for (auto& m : pool)
    if (m.id == id)
      return &m;
  return nullptr;
}

// Carries out a step as the supervisor would: retired workers retire, completed replacements
// become plain members, and each replaced worker gets a booting replacement (ids from `next_id`).
void carry_out(reload_plan& plan, const cocluster::reload_step& step,
               std::vector<reload_member>& pool, int& next_id) {
  for (int id : step.completed)
    find(pool, id)->replaces = 0;
  for (const auto& [replacement, old] : step.retire)
    find(pool, old)->retiring = true;
  for (int old : step.replace) {
    const int id = next_id++;
    pool.push_back({id, plan.generation(), old, false, false});
    plan.forked(id);
  }
}

struct settings_like {
  std::map<std::string, std::string> values;
  settings_like merged_with(const settings_like& over) const {
    settings_like merged = *this;
    for (const auto& [key, value] : over.values)
      merged.values[key] = value;
    return merged;
  }
};

} // namespace

TEST_SUITE_BEGIN("decisions");

// ---- member_state: boot ----

TEST_CASE("a member is ready once it listens on as many servers as readiness asks, not before") {
  member_state m(0, 1, 2);
  CHECK_FALSE(m.listened(t0, true));
  CHECK_FALSE(m.is_ready());
  CHECK(m.listened(t0 + 1s, true));
  CHECK(m.is_ready());
  CHECK(m.ready_at() == t0 + 1s);
  CHECK_FALSE(m.listened(t0 + 2s, true)); // once
}

TEST_CASE("a dead, retired or failed member never gets ready, and a ready one only once") {
  member_state dead(0, 1, 1);
  CHECK_FALSE(dead.mark_ready(t0, false));
  CHECK_FALSE(dead.is_ready());
  member_state retired(0, 1, 1);
  retired.retire();
  CHECK_FALSE(retired.mark_ready(t0, true));
  member_state failed(0, 1, 1);
  failed.fail("hung");
  CHECK_FALSE(failed.mark_ready(t0, true));
  member_state once(0, 1, 1);
  CHECK(once.mark_ready(t0, true));
  CHECK_FALSE(once.mark_ready(t0 + 1s, true));
  CHECK(once.ready_at() == t0);
}

TEST_CASE("the boot timeout kills a live member that is not ready, and records why") {
  member_state booting(0, 1, 1);
  CHECK(booting.boot_timed_out(500ms, true));
  CHECK(booting.failure() == "not ready within the boot timeout of 500 ms");
  member_state ready = ready_member();
  CHECK_FALSE(ready.boot_timed_out(500ms, true));
  CHECK(ready.failure().empty());
  member_state dead(0, 1, 1);
  CHECK_FALSE(dead.boot_timed_out(500ms, false));
}

TEST_CASE("a member's uptime counts from its readiness, and is zero for one never ready") {
  CHECK(member_state(0, 1, 1).uptime(t0 + 1h) == 0ms);
  CHECK(ready_member().uptime(t0 + 1500ms) == 1500ms);
}

TEST_CASE("only a ready, beating, live member that is neither retired nor failed is hang-checked") {
  member_state m = ready_member();
  CHECK_FALSE(m.is_hang_checked(true)); // no heartbeats asked for
  m.heartbeats_requested(t0);
  CHECK(m.is_hang_checked(true));
  CHECK_FALSE(m.is_hang_checked(false));
  member_state booting(0, 1, 1);
  booting.heartbeats_requested(t0);
  CHECK_FALSE(booting.is_hang_checked(true));
  member_state retired = m;
  retired.retire();
  CHECK_FALSE(retired.is_hang_checked(true));
  member_state failed = m;
  failed.fail("hung: no heartbeat for 3000 ms");
  CHECK_FALSE(failed.is_hang_checked(true));
}

// ---- member_state: exit ----

TEST_CASE("every exit of a stopping pool or of a retired member is a retirement") {
  CHECK(ready_member().exit_meaning(true, false) == exit_kind::retired);
  member_state retired = ready_member();
  retired.retire();
  CHECK(retired.exit_meaning(false, false) == exit_kind::retired);
  CHECK(member_state(0, 1, 1, 7, replacement_reason::reload).exit_meaning(true, false) ==
        exit_kind::retired);
}

TEST_CASE("a ready member that disconnected itself left by itself; one the supervisor killed "
          "crashed") {
  CHECK(ready_member().exit_meaning(false, true) == exit_kind::left_by_itself);
  member_state hung = ready_member();
  hung.fail("hung");
  CHECK(hung.exit_meaning(false, true) == exit_kind::crashed);
  CHECK(ready_member().exit_meaning(false, false) == exit_kind::crashed);
}

TEST_CASE("a member that exits before it is ready failed its boot; a replacement failed its "
          "replacement") {
  CHECK(member_state(0, 1, 1).exit_meaning(false, false) == exit_kind::boot_failed);
  CHECK(member_state(0, 1, 1).exit_meaning(false, true) == exit_kind::boot_failed);
  member_state replacement(0, 2, 1, 7, replacement_reason::reload);
  CHECK(replacement.exit_meaning(false, false) == exit_kind::replacement_failed);
  replacement.listened(t0, true);
  replacement.replacement_done();
  CHECK(replacement.exit_meaning(false, false) == exit_kind::crashed);
}

TEST_CASE("a failed exit's reason is the supervisor's, else the status, marked when never "
          "ready") {
  CHECK(ready_member().exit_reason("code 3") == "code 3");
  CHECK(member_state(0, 1, 1).exit_reason("code 3") == "code 3 before it was ready");
  member_state hung = ready_member();
  hung.fail("hung: no heartbeat for 3000 ms");
  hung.fail("a later reason");
  CHECK(hung.exit_reason("signal SIGKILL") == "hung: no heartbeat for 3000 ms");
}

TEST_CASE("a member that replaces none has no replacement reason") {
  member_state m(0, 1, 1, 0, replacement_reason::reload);
  CHECK(m.replaces() == 0);
  CHECK(m.reason() == replacement_reason::none);
  member_state r(0, 1, 1, 4, replacement_reason::reload);
  CHECK(r.replaces() == 4);
  CHECK(r.reason() == replacement_reason::reload);
}

// ---- reload_plan ----

TEST_CASE("a reload replaces batch-size workers of the old release first, oldest first") {
  reload_plan plan(1, 2, 2);
  auto pool = pool_of(3, 1);
  const auto step = plan.next(pool);
  CHECK_FALSE(step.waiting);
  CHECK_FALSE(step.finished);
  CHECK(step.retire.empty());
  CHECK(step.replace == std::vector<int>{1, 2});
  CHECK(plan.generation() == 2);
}

TEST_CASE("a reload waits while a replacement of its batch is booting, and retires nothing") {
  reload_plan plan(1, 2, 2);
  auto pool = pool_of(3, 1);
  int next_id = 10;
  carry_out(plan, plan.next(pool), pool, next_id);
  find(pool, 10)->ready = true; // 11 still boots
  const auto step = plan.next(pool);
  CHECK(step.waiting);
  CHECK(step.retire.empty());
  CHECK(step.replace.empty());
  CHECK_FALSE(find(pool, 1)->retiring);
}

TEST_CASE("once its batch is ready, a reload retires the old workers and replaces the next") {
  reload_plan plan(1, 2, 2);
  auto pool = pool_of(3, 1);
  int next_id = 10;
  carry_out(plan, plan.next(pool), pool, next_id);
  find(pool, 10)->ready = true;
  find(pool, 11)->ready = true;
  const auto step = plan.next(pool);
  CHECK_FALSE(step.waiting);
  CHECK(step.retire == std::vector<std::pair<int, int>>{{10, 1}, {11, 2}});
  CHECK(step.completed == std::vector<int>{10, 11});
  CHECK(step.replace == std::vector<int>{3}); // not the new 10 and 11, not the retired 1 and 2
}

TEST_CASE("a reload finishes when every serving worker runs the target release") {
  reload_plan plan(1, 2, 1);
  auto pool = pool_of(2, 1);
  int next_id = 10;
  for (int round = 0; round < 2; ++round) {
    const auto step = plan.next(pool);
    REQUIRE_FALSE(step.finished);
    carry_out(plan, step, pool, next_id);
    for (auto& m : pool)
      m.ready = true;
  }
  const auto last = plan.next(pool);
  CHECK(last.retire.size() == 1);
  CHECK(last.finished);
  CHECK(plan.failure().empty());
}

TEST_CASE("a replacement whose old worker is gone or retired already retires nothing") {
  reload_plan plan(1, 2, 1);
  auto pool = pool_of(1, 1);
  int next_id = 10;
  carry_out(plan, plan.next(pool), pool, next_id);
  find(pool, 10)->ready = true;
  find(pool, 1)->retiring = true; // scaled down meanwhile
  const auto step = plan.next(pool);
  CHECK(step.retire.empty());
  CHECK(step.completed == std::vector<int>{10});
  CHECK(step.finished);
}

TEST_CASE("a failed replacement kills the rest of its batch and rolls back to the previous "
          "release") {
  reload_plan plan(1, 2, 2);
  auto pool = pool_of(3, 1);
  int next_id = 10;
  carry_out(plan, plan.next(pool), pool, next_id);
  const auto failure = plan.replacement_failed(10, "worker 10 (pid 5) code 1 before it was ready");
  CHECK(failure.kill == std::vector<int>{11});
  CHECK(failure.roll_back);
  CHECK_FALSE(failure.finished);
  CHECK(plan.rolling_back());
  CHECK(plan.generation() == 1);
  CHECK(plan.failure() == "worker 10 (pid 5) code 1 before it was ready");
  CHECK(plan.batch().empty());
}

TEST_CASE("rolling back replaces the workers already on the new release by the previous one") {
  reload_plan plan(1, 2, 1);
  auto pool = pool_of(2, 1);
  int next_id = 10;
  carry_out(plan, plan.next(pool), pool, next_id); // 10 replaces 1
  find(pool, 10)->ready = true;
  carry_out(plan, plan.next(pool), pool, next_id); // 1 retired, 11 replaces 2
  std::erase_if(pool, [](const reload_member& m) { return m.id == 1 || m.id == 11; });
  plan.replacement_failed(11, "worker 11 (pid 6) code 1 before it was ready");
  const auto step = plan.next(pool);
  CHECK(step.replace == std::vector<int>{10}); // release 2 goes; 2 already runs release 1
  CHECK(plan.generation() == 1);
}

TEST_CASE("a replacement that fails while rolling back ends the reload, failed, with both "
          "failures") {
  reload_plan plan(1, 2, 1);
  plan.replacement_failed(10, "worker 10 failed");
  const auto again = plan.replacement_failed(12, "worker 12 failed");
  CHECK(again.finished);
  CHECK_FALSE(again.roll_back);
  CHECK(plan.failure() == "worker 10 failed; the rollback failed too: worker 12 failed");
}

TEST_CASE("reloads queued while one runs merge their changes, the later change of a setting "
          "winning") {
  cocluster::change_queue<settings_like> queue;
  CHECK(queue.empty());
  queue.add({{{"exec", "v2"}, {"args", "a"}}});
  queue.add({{{"exec", "v3"}}});
  CHECK_FALSE(queue.empty());
  const auto merged = queue.take();
  CHECK(merged.values == std::map<std::string, std::string>{{"exec", "v3"}, {"args", "a"}});
  CHECK(queue.empty());
}

// ---- stop_sequence ----

TEST_CASE("a stop drains a running pool, the second kills, and one after the end does nothing") {
  cocluster::stop_sequence stop;
  CHECK(stop.start());
  CHECK_FALSE(stop.start());
  CHECK(stop.is_running());
  CHECK(stop.request() == cocluster::stop_action::drain);
  CHECK(stop.is_stopping());
  CHECK_FALSE(stop.is_running());
  CHECK(stop.request() == cocluster::stop_action::kill);
  stop.finished();
  CHECK(stop.phase() == cocluster::pool_phase::stopped);
  CHECK(stop.request() == cocluster::stop_action::nothing);
}

TEST_CASE("a stop of a pool that never ran finishes at once") {
  cocluster::stop_sequence stop;
  CHECK(stop.request() == cocluster::stop_action::finish);
  CHECK_FALSE(stop.start());
}

TEST_CASE("a stopping pool's stop ends with its last worker, not before") {
  cocluster::stop_sequence stop;
  CHECK_FALSE(stop.member_gone(0)); // not stopping
  stop.start();
  stop.request();
  CHECK_FALSE(stop.member_gone(1));
  CHECK(stop.member_gone(0));
}

TEST_CASE("the run ends with the first failure that stopped it") {
  cocluster::stop_sequence stop;
  CHECK_FALSE(stop.failure());
  stop.fail(std::make_error_code(std::errc::io_error), "the first");
  stop.fail(std::make_error_code(std::errc::invalid_argument), "the second");
  CHECK(stop.failure() == std::make_error_code(std::errc::io_error));
  CHECK(stop.failure_what() == "the first");
}

// ---- heartbeat_verdict ----

TEST_CASE("a worker silent for longer than the timeout is hung, counted from its last beat") {
  cocluster::heartbeat_verdict verdict(1s, 3s);
  CHECK_FALSE(verdict.hung_for(t0 + 3s, t0, std::nullopt));
  CHECK(verdict.hung_for(t0 + 3001ms, t0, std::nullopt) == 3001ms);
  CHECK_FALSE(verdict.hung_for(t0 + 5s, t0, t0 + 2s));
  CHECK(verdict.hung_for(t0 + 6s, t0, t0 + 2s) == 4s);
}

TEST_CASE("a beat from before the heartbeats were asked for does not count against a worker") {
  cocluster::heartbeat_verdict verdict(1s, 3s);
  CHECK_FALSE(verdict.hung_for(t0 + 10s, t0 + 8s, t0)); // silent 2 s since the request
}

TEST_CASE("a hang check that comes late judges nobody; the next one on time does") {
  cocluster::heartbeat_verdict verdict(1s, 4s);
  CHECK(verdict.begin_check(t0));
  CHECK(verdict.begin_check(t0 + 3s));       // interval + timeout/2 = 3 s: on time
  CHECK_FALSE(verdict.begin_check(t0 + 7s)); // 4 s after the previous: the primary was held up
  CHECK(verdict.begin_check(t0 + 8s));
}

// ---- signals ----

TEST_CASE("SIGTERM and SIGINT stop and SIGHUP reloads, running or not") {
  for (bool running : {true, false}) {
    CHECK(cocluster::signal_action_of(SIGTERM, running, 2) == cocluster::signal_action::stop);
    CHECK(cocluster::signal_action_of(SIGINT, running, 2) == cocluster::signal_action::stop);
    CHECK(cocluster::signal_action_of(SIGHUP, running, 2) == cocluster::signal_action::reload);
  }
}

TEST_CASE("SIGTTIN adds a worker, SIGTTOU removes one but never the last, SIGUSR2 upgrades; "
          "none while stopping") {
  using cocluster::signal_action;
  using cocluster::signal_action_of;
  CHECK(signal_action_of(SIGTTIN, true, 1) == signal_action::scale_up);
  CHECK(signal_action_of(SIGTTOU, true, 2) == signal_action::scale_down);
  CHECK(signal_action_of(SIGTTOU, true, 1) == signal_action::none);
  CHECK(signal_action_of(SIGUSR2, true, 1) == signal_action::upgrade);
  CHECK(signal_action_of(SIGTTIN, false, 1) == signal_action::none);
  CHECK(signal_action_of(SIGTTOU, false, 2) == signal_action::none);
  CHECK(signal_action_of(SIGUSR2, false, 1) == signal_action::none);
  CHECK(signal_action_of(SIGUSR1, true, 2) == signal_action::none);
}

TEST_SUITE_END();
