// SPDX-License-Identifier: MIT
/// @file
/// The supervisor's engine, `supervisor`'s inside: the pool of one cluster's workers, a worker a
/// slot. It wires its parts together (docs/architecture.md, "The supervisor's parts") and runs
/// the stop (`stop_sequence`).
#ifndef COCLUSTER_DETAIL_SUPERVISOR_POOL_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_POOL_HPP

#include <sys/types.h>

#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/supervisor/completion.hpp"
#include "cocluster/detail/supervisor/heartbeat_monitor.hpp"
#include "cocluster/detail/supervisor/member_set.hpp"
#include "cocluster/detail/supervisor/pool_events.hpp"
#include "cocluster/detail/supervisor/pool_metrics.hpp"
#include "cocluster/detail/supervisor/pool_reaper.hpp"
#include "cocluster/detail/supervisor/rolling_reload.hpp"
#include "cocluster/detail/supervisor/signal_watch.hpp"
#include "cocluster/detail/supervisor/slot_keeper.hpp"
#include "cocluster/detail/supervisor/systemd_notifier.hpp"
#include "cocluster/detail/supervisor/upgrade_runner.hpp"
#include "cocluster/error.hpp"
#include "cocluster/event_stream.hpp"
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
      : cluster_(cluster), executor_(cluster.get_executor()),
        options_(validated(std::move(options))),
        size_(options_.workers ? *options_.workers : available_cpus(options_.cpu_limits)),
        notifier_(std::make_shared<systemd_notifier>(executor_, options_.systemd_notify &&
                                                                    cluster.is_primary())),
        events_(executor_, notifier_, members_, size_),
        members_(cluster, options_,
                 {[this](member& m) { member_ready(m); },
                  [this](member m, const exit_status& status) { slots_.exited(m, status); }}),
        reload_(cluster, members_, options_.reload_batch,
                {events_.publisher(), [this] { return size_; },
                 [this] { return stop_.is_running(); },
                 [this](int slot, int old) { return slots_.start(slot, old); },
                 [this] { slots_.fill_empty_slots(); }}),
        slots_(cluster, options_, members_, stop_, reload_,
               {events_.publisher(), [this] { return size_; }, [this] { retired_gone(); },
                [this](std::error_code ec, const std::string& what) { fail_run(ec, what); }}),
        heartbeats_(executor_, options_.heartbeat, members_,
                    [this](member& m) {
                      events_.publish(supervisor_event_type::hang_detected, m, m.state.failure());
                    }),
        upgrade_(cluster, options_, notifier_,
                 {events_.publisher(), [this] { return size_; },
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
      slots_.start(slot, 0);
    heartbeats_.start();
  }

  void wait_ready(outcome_callback done) { pool_ready_.wait(std::move(done)); }

  void stop(outcome_callback done) {
    stopped_.wait(std::move(done));
    begin_stop();
  }

  void reload(const settings& changes, outcome_callback done) {
    if (refused(done, "reload"))
      return;
    reload_.request(changes, std::move(done));
  }

  void upgrade(outcome_callback done) {
    if (!refused(done, "upgrade"))
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
    events_.publish(supervisor_event::of_pool(supervisor_event_type::scaled, size_,
                                              "from " + std::to_string(before) + " workers"));
    if (!stop_.is_running())
      return;
    // Down: the newest slots go, gracefully; their pending respawns are dropped.
    members_.retire_slots_from(static_cast<int>(size_));
    slots_.respawns().drop_from(static_cast<int>(size_));
    slots_.fill_empty_slots(); // up: every new slot gets a worker
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
        add_pool_metrics(m, pool->members_, pool->slots_.respawns());
      done.complete({}, std::move(m));
    });
  }

  event_stream<supervisor_event> subscribe() { return events_.subscribe(); }

  /// The supervisor object is going away: timers and waits end, workers are left to the cluster.
  void detach() {
    members_.forget_all();
    slots_.respawns().clear();
    end_watches();
    const auto aborted = make_error_code(asio::error::operation_aborted);
    run_end_.set(aborted, "supervisor: destroyed");
    pool_ready_.set(aborted, "supervisor: destroyed");
    stopped_.set(aborted, "supervisor: destroyed");
    reload_.cut_short(aborted, "supervisor: destroyed");
    upgrade_.detach(); // (the new primary is killed)
    notifier_->close();
    events_.close();
  }

  /// SIGTERM/SIGINT: stop (the second: kill); SIGHUP: reload; SIGTTIN/SIGTTOU: one worker
  /// more/less; SIGUSR2: hot upgrade (`signal_action_of`).
  void handle_signals() {
    if (!signals_)
      signals_ = std::make_unique<signal_watch>(executor_, [this](int signal) {
        switch (signal_action_of(signal, stop_.is_running(), size_)) {
        case signal_action::none: return;
        case signal_action::stop: return begin_stop();
        case signal_action::reload: return reload({}, ignored); // (reported as events)
        case signal_action::scale_up: return scale(size_ + 1);
        case signal_action::scale_down: return scale(size_ - 1);
        case signal_action::upgrade: return upgrade(ignored);
        }
      });
  }

private:
  static void ignored(std::error_code, const std::string&) {}

  bool refused(const outcome_callback& done, const std::string& operation) {
    if (!stop_.is_running())
      done(make_error_code(errc::supervisor_stopped),
           "supervisor: " + operation + ": the pool is not running");
    return !stop_.is_running();
  }

  static supervisor_options validated(supervisor_options options) {
    options.validate();
    return options;
  }

  // ---- members ----

  void member_ready(member& m) {
    events_.publish(supervisor_event_type::ready, m, "");
    if (!pool_ready_.is_set() && members_.ready_count() >= size_) {
      events_.publish(supervisor_event::of_pool(supervisor_event_type::pool_ready, size_));
      pool_ready_.set({}, "");
      upgrade_.report_ready(); // (a primary started by a hot upgrade)
    }
    if (m.state.reason() == replacement_reason::reload)
      reload_.advance();
  }

  // A retired member left: the stop may be over, or the reload's next step due.
  void retired_gone() {
    if (stop_.member_gone(members_.all().size()))
      finish_stop();
    else
      reload_.advance();
  }

  // ---- stop ----

  void begin_stop() {
    switch (stop_.request()) {
    case stop_action::nothing: return;
    case stop_action::finish: return finish_stop();
    case stop_action::kill: // the second request: no more waiting
      events_.publish(supervisor_event::of_pool(supervisor_event_type::stopping, size_,
                                                "kill now"));
      for (auto& [id, m] : members_.all())
        m.worker.kill(SIGKILL);
      return;
    case stop_action::drain: break;
    }
    events_.publish(supervisor_event::of_pool(supervisor_event_type::stopping, size_));
    upgrade_.abandon("cut short by a stop: the new primary was killed");
    slots_.respawns().clear();
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
    end_watches();
    events_.publish(supervisor_event::of_pool(supervisor_event_type::stopped, size_,
                                              stop_.failure_what()));
    pool_ready_.set(make_error_code(errc::supervisor_stopped),
                    "supervisor: stopped before the pool was ready");
    run_end_.set(stop_.failure(), stop_.failure_what()); // before the stop's waiters: run over
    stopped_.set({}, "");
    events_.close();
  }

  // No more signals, orphans or hang checks.
  void end_watches() {
    heartbeats_.stop();
    if (signals_)
      signals_->cancel();
    if (reaper_)
      reaper_->stop();
  }

  // The run ends with an error: everything stops, and the run completes with it once the
  // workers are gone.
  void fail_run(std::error_code ec, const std::string& what) {
    stop_.fail(ec, what);
    begin_stop();
  }

  Cluster& cluster_;
  asio::any_io_executor executor_;
  supervisor_options options_;
  std::size_t size_ = 1;
  stop_sequence stop_;
  std::shared_ptr<systemd_notifier> notifier_;
  pool_events<Cluster> events_;
  member_set<Cluster> members_;
  rolling_reload<Cluster> reload_;
  slot_keeper<Cluster> slots_;
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
