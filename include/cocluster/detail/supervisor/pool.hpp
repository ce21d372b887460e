// SPDX-License-Identifier: MIT
/// @file
/// The supervisor's engine: the pool of one cluster's workers, a worker a slot. It wires the
/// parts together and carries out their decisions: the members and their boot (`member_set`,
/// `member_state`), respawns (`respawner`), the rolling reload (`rolling_reload`,
/// `reload_plan`), the stop (`stop_sequence`), the hang check (`heartbeat_monitor`), signals
/// (`signal_watch`), the hot upgrade (`upgrade_runner`), orphans and metrics. `supervisor` is its
/// public face.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_POOL_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_POOL_HPP

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/async/event_hub.hpp"
#include "cocluster/detail/supervisor/completion.hpp"
#include "cocluster/detail/supervisor/heartbeat_monitor.hpp"
#include "cocluster/detail/supervisor/member_set.hpp"
#include "cocluster/detail/supervisor/pool_metrics.hpp"
#include "cocluster/detail/supervisor/pool_reaper.hpp"
#include "cocluster/detail/supervisor/respawner.hpp"
#include "cocluster/detail/supervisor/rolling_reload.hpp"
#include "cocluster/detail/supervisor/signal_watch.hpp"
#include "cocluster/detail/supervisor/systemd_notifier.hpp"
#include "cocluster/detail/supervisor/upgrade_runner.hpp"
#include "cocluster/error.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/supervision/crash_loop_guard.hpp"
#include "cocluster/supervision/stop_sequence.hpp"
#include "cocluster/supervisor/available_cpus.hpp"
#include "cocluster/supervisor/events.hpp"
#include "cocluster/supervisor/options.hpp"

namespace cocluster::detail {

/// The pool of one cluster's workers. All of it runs on the cluster's executor; its parts die
/// with it, and their waits then end doing nothing.
template <class Cluster>
class supervisor_pool : public std::enable_shared_from_this<supervisor_pool<Cluster>> {
public:
  using worker_type = typename Cluster::worker_type;
  using member = typename member_set<Cluster>::member;

  supervisor_pool(Cluster& cluster, supervisor_options options)
      : cluster_(cluster), executor_(cluster.get_executor()), options_(validated(std::move(options))),
        size_(options_.workers ? *options_.workers : available_cpus(options_.cpu_limits)),
        crash_guard_(options_.crash_loop), events_(executor_),
        notifier_(std::make_shared<systemd_notifier>(
            executor_, options_.systemd_notify && cluster.is_primary())),
        members_(cluster, options_,
                 {[this](member& m) { member_ready(m); },
                  [this](member m, const exit_status& status) { member_exited(m, status); }}),
        respawns_(executor_, options_.backoff),
        reload_(cluster, members_, options_.reload_batch,
                {[this](supervisor_event e) { publish(std::move(e)); }, [this] { return size_; },
                 [this] { return stop_.is_running(); },
                 [this](int slot, int old) { return start_member(slot, old); },
                 [this] { fill_empty_slots(); }}),
        heartbeats_(executor_, options_.heartbeat, members_,
                    [this](member& m) {
                      publish_member(supervisor_event_type::hang_detected, m, m.state.failure());
                    }),
        upgrade_(cluster, options_, notifier_,
                 {[this](supervisor_event e) { publish(std::move(e)); }, [this] { return size_; },
                  [this] { return stop_.is_running(); }, [this](pid_t) { begin_stop(); }}) {}

  supervisor_pool(const supervisor_pool&) = delete;
  supervisor_pool& operator=(const supervisor_pool&) = delete;

  // ---- the public operations (see `supervisor`) ----

  void run(outcome_callback done) {
    run_end_.wait(std::move(done));
    if (stop_.phase() != pool_phase::idle)
      return;
    if (!cluster_.is_primary()) {
      stop_.request();
      stop_.finished();
      run_end_.set(make_error_code(errc::wrong_role),
                   "supervisor: run is only available in the primary");
      return;
    }
    stop_.start();
    notifier_->start(size_);
    reaper_ = start_pool_reaper(cluster_, options_.reap_orphans, [this] { return upgrade_.pid(); });
    for (int slot = 0; slot < static_cast<int>(size_); ++slot)
      start_member(slot, 0);
    heartbeats_.start();
  }

  void wait_ready(outcome_callback done) { pool_ready_.wait(std::move(done)); }

  void stop(outcome_callback done) {
    stopped_.wait(std::move(done));
    begin_stop();
  }

  void reload(const settings& changes, outcome_callback done) {
    if (!stop_.is_running())
      return done(make_error_code(errc::supervisor_stopped),
                  "supervisor: reload: the pool is not running");
    reload_.request(changes, std::move(done));
  }

  void upgrade(outcome_callback done) {
    if (!stop_.is_running())
      return done(make_error_code(errc::supervisor_stopped),
                  "supervisor: upgrade: the pool is not running");
    upgrade_.start(std::move(done));
  }

  void scale(std::size_t size) {
    if (size == 0)
      throw std::invalid_argument("cocluster: supervisor: scale: the pool needs at least 1 worker");
    if (stop_.is_stopping())
      throw std::system_error(make_error_code(errc::supervisor_stopped),
                              "cocluster: supervisor: scale: the pool is stopping");
    const std::size_t before = size_;
    size_ = size;
    publish(supervisor_event::of_pool(supervisor_event_type::scaled, size_,
                                      "from " + std::to_string(before) + " workers"));
    if (!stop_.is_running())
      return;
    // Down: the newest slots go, gracefully; their pending respawns are dropped.
    for (auto& [id, m] : members_.all())
      if (m.state.slot() >= static_cast<int>(size_) && !m.state.is_retiring())
        members_.retire(m);
    respawns_.drop_from(static_cast<int>(size_));
    fill_empty_slots(); // up: every new slot gets a worker
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t ready_count() const { return members_.ready_count(); }
  std::vector<worker_type> workers() const { return members_.workers(); }
  bool is_stopping() const noexcept { return stop_.is_stopping(); }

  /// The cluster's metrics snapshot, with the pool's readiness times and slot restarts.
  void metrics(erased_handler<cluster_metrics> done) {
    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    cluster_.async_metrics([weak, done = std::move(done)](auto, cluster_metrics m) mutable {
      if (auto pool = weak.lock())
        add_pool_metrics(m, pool->members_, pool->respawns_);
      done.complete({}, std::move(m));
    });
  }

  event_stream<supervisor_event> subscribe() {
    return event_stream<supervisor_event>(events_.subscribe());
  }

  /// The supervisor object is going away: timers and waits end, workers are left to the cluster.
  void detach() {
    members_.forget_all();
    respawns_.clear();
    heartbeats_.stop();
    if (signals_)
      signals_->cancel();
    if (reaper_)
      reaper_->stop();
    const auto aborted = make_error_code(asio::error::operation_aborted);
    run_end_.set(aborted, "supervisor: destroyed");
    pool_ready_.set(aborted, "supervisor: destroyed");
    stopped_.set(aborted, "supervisor: destroyed");
    reload_.cut_short(aborted, "supervisor: destroyed");
    upgrade_.detach(); // (the new primary is killed)
    notifier_->close();
    events_.close(make_error_code(errc::stream_closed));
  }

  /// SIGTERM/SIGINT: stop (the second: kill); SIGHUP: reload; SIGTTIN/SIGTTOU: one worker
  /// more/less; SIGUSR2: hot upgrade (`signal_action_of`).
  void handle_signals() {
    if (!signals_)
      signals_ = std::make_unique<signal_watch>(executor_, [this](int signal) { on_signal(signal); });
  }

private:
  static supervisor_options validated(supervisor_options options) {
    options.validate();
    return options;
  }

  // ---- members ----

  // Forks a worker into `slot` (replacing worker `replaces`, for a reload); its id, 0 if none.
  int start_member(int slot, int replaces) {
    if (!stop_.is_running())
      return 0;
    fork_options fork;
    fork.overrides = reload_.release();
    fork.env = options_.env;
    fork.env["NODE_APP_INSTANCE"] = std::to_string(slot);
    fork.slot = slot;
    try {
      auto& m = members_.fork(fork, member_state(slot, reload_.generation(),
                                                 options_.listening_servers, replaces,
                                                 replacement_reason::reload));
      publish_member(supervisor_event_type::started, m,
                     replaces != 0 ? "replaces worker " + std::to_string(replaces) : "");
      return m.worker.id();
    } catch (const std::exception& e) {
      // Settings refused at fork (a reload validates them first): nothing was started.
      fail_run(make_error_code(errc::spawn_failed), std::string("supervisor: fork: ") + e.what());
      return 0;
    }
  }

  void member_ready(member& m) {
    publish_member(supervisor_event_type::ready, m, "");
    if (!pool_ready_.is_set() && members_.ready_count() >= size_) {
      publish(supervisor_event::of_pool(supervisor_event_type::pool_ready, size_));
      pool_ready_.set({}, "");
      upgrade_.report_ready(); // (a primary started by a hot upgrade)
    }
    if (m.state.reason() == replacement_reason::reload)
      reload_.advance();
  }

  // A slot left without a worker (its replacement failed after the old worker had gone, or
  // the pool grew) gets one now.
  void fill_empty_slots() {
    for (int slot = 0; slot < static_cast<int>(size_); ++slot)
      if (!members_.slot_is_served(slot) && !respawns_.is_pending(slot))
        start_member(slot, 0);
  }

  // ---- exits ----

  void member_exited(const member& m, const exit_status& status) {
    const int slot = m.state.slot();
    const auto now = member_state::clock::now();
    const auto kind = m.state.exit_meaning(stop_.is_stopping(),
                                           m.worker.exited_after_disconnect().value_or(false));
    if (kind == exit_kind::retired) {
      publish_member(supervisor_event_type::exited, m, status.to_string());
      if (slot >= static_cast<int>(size_) && !members_.slot_is_taken(slot))
        cluster_.release_slot(slot); // scaled down: the slot's sockets go
      if (stop_.member_gone(members_.all().size()))
        finish_stop();
      else
        reload_.advance();
      return;
    }
    if (kind == exit_kind::left_by_itself) {
      // It disconnected itself (recycling after its own limit, say): replaced at once, no
      // failure counted.
      publish_member(supervisor_event_type::exited, m,
                     status.to_string() + " after disconnecting itself");
      if (slot < static_cast<int>(size_) && !members_.slot_is_served(slot)) {
        respawns_.count_restart(slot);
        start_member(slot, 0);
      }
      return;
    }
    const std::string reason = m.state.exit_reason(status.to_string());
    publish_member(kind == exit_kind::crashed ? supervisor_event_type::crashed
                                              : supervisor_event_type::boot_failed,
                   m, reason);
    if (crash_guard_.failed(now)) {
      const std::string what =
          "supervisor: crash loop: " + std::to_string(crash_guard_.options().max_failures) +
          " failures within " + std::to_string(crash_guard_.options().window.count()) +
          " ms; the last: worker " + std::to_string(m.worker.id()) + " (pid " +
          std::to_string(m.worker.pid()) + ") " + reason;
      publish(supervisor_event::of_pool(supervisor_event_type::crash_loop, size_, what));
      fail_run(make_error_code(errc::crash_loop), what);
      return;
    }
    if (kind == exit_kind::replacement_failed && reload_.in_flight())
      return reload_.replacement_failed(m, reason);
    schedule_respawn(m, m.state.uptime(now));
  }

  void schedule_respawn(const member& m, std::chrono::milliseconds uptime) {
    const int slot = m.state.slot();
    if (slot >= static_cast<int>(size_) || members_.slot_is_served(slot) ||
        respawns_.is_pending(slot))
      return;
    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    const auto delay = respawns_.schedule(slot, uptime, [weak, slot] {
      auto pool = weak.lock();
      if (pool && slot < static_cast<int>(pool->size_) && !pool->members_.slot_is_served(slot)) {
        pool->respawns_.count_restart(slot);
        pool->start_member(slot, 0);
      }
    });
    publish(supervisor_event::respawn(m.worker.id(), m.worker.pid(), slot, delay, size_));
  }

  // ---- stop ----

  void begin_stop() {
    switch (stop_.request()) {
    case stop_action::nothing: return;
    case stop_action::finish: return finish_stop();
    case stop_action::kill: // the second request: no more waiting
      publish(supervisor_event::of_pool(supervisor_event_type::stopping, size_, "kill now"));
      for (auto& [id, m] : members_.all())
        m.worker.kill(SIGKILL);
      return;
    case stop_action::drain: break;
    }
    publish(supervisor_event::of_pool(supervisor_event_type::stopping, size_));
    upgrade_.abandon("cut short by a stop: the new primary was killed");
    respawns_.clear();
    heartbeats_.stop();
    reload_.cut_short(make_error_code(errc::supervisor_stopped),
                      "supervisor: reload: cut short by a stop");
    for (auto& [id, m] : members_.all())
      if (!m.state.is_retiring())
        members_.retire(m);
    if (members_.empty())
      finish_stop();
  }

  void finish_stop() {
    stop_.finished();
    if (signals_)
      signals_->cancel();
    if (reaper_)
      reaper_->stop();
    heartbeats_.stop();
    publish(supervisor_event::of_pool(supervisor_event_type::stopped, size_, stop_.failure_what()));
    pool_ready_.set(make_error_code(errc::supervisor_stopped),
                    "supervisor: stopped before the pool was ready");
    run_end_.set(stop_.failure(), stop_.failure_what()); // before the stop's waiters: run over
    stopped_.set({}, "");
    events_.close(make_error_code(errc::stream_closed));
  }

  // The run ends with an error: everything stops, and the run completes with it once the
  // workers are gone.
  void fail_run(std::error_code ec, const std::string& what) {
    stop_.fail(ec, what);
    begin_stop();
  }

  void on_signal(int signal) {
    switch (signal_action_of(signal, stop_.is_running(), size_)) {
    case signal_action::none: return;
    case signal_action::stop: return begin_stop();
    case signal_action::reload: // (each outcome is reported as events)
      return reload({}, [](std::error_code, const std::string&) {});
    case signal_action::scale_up: return scale(size_ + 1);
    case signal_action::scale_down: return scale(size_ - 1);
    case signal_action::upgrade: return upgrade([](std::error_code, const std::string&) {});
    }
  }

  // ---- events ----

  void publish(supervisor_event event) {
    notifier_->on_event(event.type, members_.ready_count(), size_); // (systemd, if it listens)
    events_.publish(std::move(event));
  }

  void publish_member(supervisor_event_type type, const member& m, std::string reason) {
    publish(supervisor_event::of_worker(type, m.worker.id(), m.worker.pid(), m.state.slot(), size_,
                                        std::move(reason)));
  }

  Cluster& cluster_;
  asio::any_io_executor executor_;
  supervisor_options options_;
  std::size_t size_ = 1;
  stop_sequence stop_;
  crash_loop_guard crash_guard_;
  event_hub<supervisor_event> events_;
  std::shared_ptr<systemd_notifier> notifier_;
  member_set<Cluster> members_;
  respawner respawns_;
  rolling_reload<Cluster> reload_;
  heartbeat_monitor<Cluster> heartbeats_;
  upgrade_runner<Cluster> upgrade_;
  std::unique_ptr<signal_watch> signals_;
  std::shared_ptr<orphan_reaper> reaper_; // (null unless it reaps orphans)
  latched_outcome run_end_;
  latched_outcome pool_ready_;
  latched_outcome stopped_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_POOL_HPP
