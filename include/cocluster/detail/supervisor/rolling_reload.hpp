// SPDX-License-Identifier: MIT
/// @file
/// `rolling_reload`: the release a pool's forks get, and the rolling reload that changes it. It
/// carries out the pure `reload_plan`: replacements forked a batch at a time, old workers retired
/// once their batch is ready, a failed replacement rolled back; requests made while a reload runs
/// are merged (`change_queue`) and run after it.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_ROLLING_RELOAD_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_ROLLING_RELOAD_HPP

#include <csignal>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "cocluster/detail/supervisor/completion.hpp"
#include "cocluster/detail/supervisor/member_set.hpp"
#include "cocluster/error.hpp"
#include "cocluster/settings.hpp"
#include "cocluster/supervision/reload_plan.hpp"
#include "cocluster/supervisor/events.hpp"

namespace cocluster::detail {

/// A pool's release and its reloads.
template <class Cluster>
class rolling_reload {
public:
  using members_type = member_set<Cluster>;
  using member = typename members_type::member;

  /// What a reload asks of its pool.
  struct callbacks {
    std::function<void(supervisor_event)> publish; // an event to report
    std::function<std::size_t()> pool_size;        // the pool's size now
    std::function<bool()> running;                 // whether the pool runs
    std::function<int(int, int)> replace;          // fork a replacement (slot, old id): its id
                                                   // (0: none was forked)
    std::function<void()> fill_empty_slots;        // a worker for every slot left without one
  };

  /// @param cluster the pool's cluster (its settings check a release)
  /// @param members the pool's members
  /// @param batch how many workers are replaced at once
  /// @param on what a reload asks of the pool
  rolling_reload(Cluster& cluster, members_type& members, std::size_t batch, callbacks on)
      : cluster_(cluster), members_(members), batch_(batch), on_(std::move(on)) {}

  /// What forks get over the cluster's settings: the release.
  const settings& release() const noexcept { return release_; }
  /// The release's number.
  int generation() const noexcept { return generation_; }
  /// Whether a reload is in flight.
  bool in_flight() const noexcept { return static_cast<bool>(plan_); }

  /// A reload to the release with `changes` over the current one; `done` hears how it ended.
  /// Asked for while one runs, it is queued, merged with every change asked for since.
  void request(const settings& changes, outcome_callback done) {
    if (plan_) {
      queued_.add(changes);
      queued_waiters_.add(std::move(done));
      return;
    }
    outcome_waiters waiters;
    waiters.add(std::move(done));
    start(changes, std::move(waiters));
  }

  /// One step of the rollout (a replacement got ready, or a worker of the pool left): when the
  /// batch in flight is ready, its old workers are retired; then the next batch is forked,
  /// until every worker runs the target release.
  void advance() {
    if (!plan_ || !on_.running())
      return;
    const auto step = plan_->next(members_.reload_roster());
    if (step.waiting)
      return;
    for (int id : step.completed)
      if (auto* replacement = members_.find(id))
        replacement->state.replacement_done();
    for (const auto& [replacement_id, old_id] : step.retire) {
      auto* old = members_.find(old_id);
      auto* replacement = members_.find(replacement_id);
      if (!old || !replacement)
        continue;
      members_.retire(*old);
      on_.publish(supervisor_event::of_worker(
          supervisor_event_type::reload_step, replacement_id, replacement->worker.pid(),
          replacement->state.slot(), on_.pool_size(),
          "replaced worker " + std::to_string(old_id) + " (pid " +
              std::to_string(old->worker.pid()) + ")"));
    }
    if (step.finished) {
      finish();
      return;
    }
    for (int old_id : step.replace) {
      const auto* old = members_.find(old_id);
      if (!old)
        continue;
      if (const int id = on_.replace(old->state.slot(), old_id); id != 0)
        plan_->forked(id);
    }
  }

  /// A replacement failed before it was ready: the batch's others go too (their old workers
  /// serve on), and the reload rolls back, or ends failed if it was rolling back already.
  /// @param failed the replacement, gone from the pool
  /// @param reason its failure in words
  void replacement_failed(const member& failed, const std::string& reason) {
    if (!plan_)
      return;
    const std::string what = "worker " + std::to_string(failed.worker.id()) + " (pid " +
                             std::to_string(failed.worker.pid()) + ") " + reason;
    const auto step = plan_->replacement_failed(failed.worker.id(), what);
    for (int id : step.kill)
      if (auto* m = members_.find(id)) {
        m->state.retire();
        m->worker.kill(SIGKILL);
      }
    if (step.finished) {
      finish();
      return;
    }
    // Back to the old release: workers already replaced are replaced again, by it.
    release_ = previous_;
    generation_ = plan_->generation();
    on_.fill_empty_slots();
    advance();
  }

  /// The reload in flight and those queued end with `ec` (a stop, the supervisor destroyed).
  /// @param ec the error their callers get
  /// @param what the words for it
  void cut_short(std::error_code ec, const std::string& what) {
    if (auto plan = std::move(plan_)) {
      plan_.reset();
      waiters_.complete(ec, what);
    }
    queued_.clear();
    queued_waiters_.complete(ec, what);
  }

private:
  void start(const settings& changes, outcome_waiters waiters) {
    const settings next = release_.merged_with(changes);
    try {
      changes.validate(); // a bad setting changes nothing
      cluster_.settings().merged_with(next).validate();
    } catch (const std::exception& e) {
      waiters.complete(std::make_error_code(std::errc::invalid_argument),
                       std::string("supervisor: reload: ") + e.what());
      start_queued();
      return;
    }
    previous_ = release_;
    plan_.emplace(generation_, ++generation_counter_, batch_);
    release_ = next;
    generation_ = plan_->generation();
    waiters_ = std::move(waiters);
    on_.publish(supervisor_event::of_pool(supervisor_event_type::reload_started, on_.pool_size()));
    advance();
  }

  void finish() {
    auto plan = std::move(*plan_);
    plan_.reset();
    on_.fill_empty_slots();
    auto waiters = std::move(waiters_);
    waiters_ = {};
    if (plan.failure().empty()) {
      on_.publish(supervisor_event::of_pool(supervisor_event_type::reload_finished,
                                            on_.pool_size()));
      waiters.complete({}, "");
    } else {
      on_.publish(supervisor_event::of_pool(supervisor_event_type::reload_failed, on_.pool_size(),
                                            plan.failure()));
      waiters.complete(make_error_code(errc::reload_failed),
                       "supervisor: reload failed: " + plan.failure());
    }
    start_queued();
  }

  void start_queued() {
    if (queued_.empty() || !on_.running())
      return;
    outcome_waiters waiters;
    waiters.take(queued_waiters_);
    start(queued_.take(), std::move(waiters));
  }

  Cluster& cluster_;
  members_type& members_;
  std::size_t batch_;
  callbacks on_;
  settings release_;           // what forks get over the cluster's settings: the release
  settings previous_;          // the release to roll back to
  int generation_ = 0;         // the release's number
  int generation_counter_ = 0; // the last release number given
  std::optional<reload_plan> plan_;
  outcome_waiters waiters_;
  change_queue<settings> queued_;
  outcome_waiters queued_waiters_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_ROLLING_RELOAD_HPP
