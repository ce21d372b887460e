// SPDX-License-Identifier: MIT
/// @file
/// The supervisor's engine: the pool of workers of one cluster, their slots, and the flows that
/// start, respawn, retire, reload and stop them. `supervisor` is its public face.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_POOL_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_POOL_HPP

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/async/event_hub.hpp"
#include "cocluster/detail/process/orphan_reaper.hpp"
#include "cocluster/detail/supervisor/completion.hpp"
#include "cocluster/detail/supervisor/primary_upgrade.hpp"
#include "cocluster/detail/supervisor/systemd_notifier.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/error.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/events.hpp"
#include "cocluster/exit_status.hpp"
#include "cocluster/metrics.hpp"
#include "cocluster/options.hpp"
#include "cocluster/settings.hpp"
#include "cocluster/supervision/crash_loop_guard.hpp"
#include "cocluster/supervision/restart_backoff.hpp"
#include "cocluster/supervisor/events.hpp"
#include "cocluster/supervisor/options.hpp"
#include "cocluster/supervisor/ready.hpp"

namespace cocluster::detail {

/// The pool of one cluster's workers. Every member lives in a slot (0 .. size-1); a slot holds
/// one worker, and for the moment of a reload step also its replacement. All of it runs on the
/// cluster's executor; callbacks hold the pool weakly, so destroying it ends them.
template <class Cluster>
class supervisor_pool : public std::enable_shared_from_this<supervisor_pool<Cluster>> {
public:
  using worker_type = typename Cluster::worker_type;
  using value_type = typename Cluster::value_type;
  using clock = std::chrono::steady_clock;

  enum class phase { idle, running, stopping, stopped };

  supervisor_pool(Cluster& cluster, supervisor_options options)
      : cluster_(cluster), executor_(cluster.get_executor()), options_(std::move(options)),
        crash_guard_(options_.crash_loop), heartbeat_timer_(executor_), events_(executor_),
        ready_message_(Cluster::serialization_type::to_value(std::string(ready_message))),
        random_(std::random_device()()) {
    options_.validate();
    size_ = options_.workers ? *options_.workers : available_cpus(options_.cpu_limits);
    notifier_ = std::make_shared<systemd_notifier>(executor_,
                                                   options_.systemd_notify && cluster.is_primary());
    if (cluster.is_primary()) { // (the hot upgrade: see upgrade())
      upgrade_command_ = upgrade_command::resolve(options_.upgrade_command);
      predecessor_ = upgrade_ready_pipe::from_environment();
    }
  }

  supervisor_pool(const supervisor_pool&) = delete;
  supervisor_pool& operator=(const supervisor_pool&) = delete;

  // ---- the public operations (see `supervisor`) ----

  void run(outcome_callback done) {
    run_end_.wait(std::move(done));
    if (phase_ != phase::idle)
      return;
    if (!cluster_.is_primary()) {
      phase_ = phase::stopped;
      run_end_.set(make_error_code(errc::wrong_role), "supervisor: run is only available in "
                                                      "the primary");
      return;
    }
    phase_ = phase::running;
    notifier_->start(size_);
    start_reaper();
    for (int slot = 0; slot < static_cast<int>(size_); ++slot)
      start_member(slot, 0);
    arm_heartbeat_check();
  }

  void wait_ready(outcome_callback done) { pool_ready_.wait(std::move(done)); }

  void stop(outcome_callback done) {
    stopped_.wait(std::move(done));
    begin_stop();
  }

  void reload(const settings& changes, outcome_callback done) {
    if (phase_ != phase::running) {
      done(make_error_code(errc::supervisor_stopped),
           "supervisor: reload: the pool is not running");
      return;
    }
    if (reload_) {
      // Queued: one reload waits behind the running one, with every change asked for since;
      // its callers are answered when it has run.
      pending_changes_ = pending_changes_ ? pending_changes_->merged_with(changes) : changes;
      pending_waiters_.add(std::move(done));
      return;
    }
    outcome_waiters waiters;
    waiters.add(std::move(done));
    start_reload(changes, std::move(waiters));
  }

  void scale(std::size_t size) {
    if (size == 0)
      throw std::invalid_argument("cocluster: supervisor: scale: the pool needs at least 1 worker");
    if (phase_ == phase::stopping || phase_ == phase::stopped)
      throw std::system_error(make_error_code(errc::supervisor_stopped),
                              "cocluster: supervisor: scale: the pool is stopping");
    const std::size_t before = size_;
    size_ = size;
    publish({supervisor_event_type::scaled,
             0,
             0,
             -1,
             "from " + std::to_string(before) + " workers",
             {},
             size_});
    if (phase_ != phase::running)
      return;
    // Down: the newest slots go, gracefully; their pending respawns are dropped.
    for (auto& [id, m] : members_)
      if (m.slot >= static_cast<int>(size_) && !m.retiring)
        retire(m, "scaled down");
    for (auto it = respawns_.begin(); it != respawns_.end();)
      it = it->first >= static_cast<int>(size_) ? respawns_.erase(it) : std::next(it);
    fill_empty_slots(); // up: every new slot gets a worker
  }

  std::size_t size() const noexcept { return size_; }

  std::size_t ready_count() const {
    std::size_t ready = 0;
    for (const auto& [id, m] : members_)
      ready += m.ready_at && !m.retiring ? 1u : 0u;
    return ready;
  }

  std::vector<worker_type> workers() const {
    std::vector<worker_type> result;
    for (const auto& [id, m] : members_)
      if (!m.retiring)
        result.push_back(m.worker);
    return result;
  }

  phase current_phase() const noexcept { return phase_; }

  bool is_stopping() const noexcept {
    return phase_ == phase::stopping || phase_ == phase::stopped;
  }

  /// The cluster's metrics snapshot, with the pool's readiness times and slot restarts.
  void metrics(erased_handler<cluster_metrics> done) {
    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    cluster_.async_metrics([weak, done = std::move(done)](auto, cluster_metrics m) mutable {
      if (auto pool = weak.lock())
        pool->add_pool_metrics(m);
      done.complete({}, std::move(m));
    });
  }

  event_stream<supervisor_event> subscribe() {
    return event_stream<supervisor_event>(events_.subscribe());
  }

  /// The supervisor object is going away: timers and waits end, workers are left to the cluster.
  void detach() {
    for (auto& [id, m] : members_)
      forget_timers(m);
    respawns_.clear();
    heartbeat_timer_.cancel();
    if (signals_)
      signals_->cancel();
    if (reaper_)
      reaper_->stop();
    const auto aborted = make_error_code(asio::error::operation_aborted);
    run_end_.set(aborted, "supervisor: destroyed");
    pool_ready_.set(aborted, "supervisor: destroyed");
    stopped_.set(aborted, "supervisor: destroyed");
    if (reload_)
      reload_->waiters.complete(aborted, "supervisor: destroyed");
    pending_waiters_.complete(aborted, "supervisor: destroyed");
    upgrade_waiters_.complete(aborted, "supervisor: destroyed");
    if (auto upgrade = upgrade_) // (the new primary is killed)
      upgrade->abandon("supervisor: destroyed");
    notifier_->close();
    events_.close(make_error_code(errc::stream_closed));
  }

  /// The hot upgrade: a new primary (the upgrade command) gets the listening sockets; once its
  /// pool is ready this one stops its workers gracefully and its run ends with success. If it
  /// fails or is too slow it is killed and this one serves on (`errc::upgrade_failed`). Asked
  /// for while one runs, it joins it.
  void upgrade(outcome_callback done) {
    if (phase_ != phase::running) {
      done(make_error_code(errc::supervisor_stopped),
           "supervisor: upgrade: the pool is not running");
      return;
    }
    if (::getpid() == 1) {
      // The old primary's exit would end its PID namespace, the new primary with it.
      const std::string why = "the primary is PID 1 (a container's entry point): its exit would "
                              "end every process of the namespace, the new primary's included; "
                              "replace the container instead";
      publish({supervisor_event_type::upgrade_failed, 0, 0, -1, why, {}, size_});
      done(make_error_code(errc::upgrade_failed), "supervisor: upgrade: " + why);
      return;
    }
    upgrade_waiters_.add(std::move(done));
    if (upgrade_)
      return;
    auto* listeners = cluster_.listeners(worker_key());
    const auto sockets = listeners ? listeners->handover_sockets() : std::vector<handover_socket>();
    upgrade_ = std::make_shared<primary_upgrade>(executor_);
    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    const auto timeout = options_.upgrade_timeout.value_or(options_.boot_timeout +
                                                           std::chrono::seconds(30));
    const pid_t pid = upgrade_->start(upgrade_command_, sockets, timeout,
                                      [weak](pid_t successor, const std::string& failure) {
                                        if (auto pool = weak.lock())
                                          pool->upgrade_ended(successor, failure);
                                      });
    if (pid > 0)
      publish({supervisor_event_type::upgrade_started,
               0,
               pid,
               -1,
               "new primary " + std::to_string(pid) + " (" + upgrade_command_.path +
                   "), sockets passed: " + std::to_string(sockets.size()),
               {},
               size_});
  }

  /// SIGTERM/SIGINT: stop (the second: kill); SIGHUP: reload; SIGTTIN/SIGTTOU: one worker
  /// more/less; SIGUSR2: hot upgrade.
  void handle_signals() {
    if (signals_)
      return;
    signals_ = std::make_unique<asio::signal_set>(executor_);
    for (int signal : {SIGTERM, SIGINT, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR2})
      signals_->add(signal);
    wait_signal();
  }

private:
  struct member {
    worker_type worker;
    std::optional<std::chrono::system_clock::time_point> ready_time; // (for the metrics)
    int slot = 0;
    int generation = 0;
    clock::time_point started{};
    std::optional<clock::time_point> ready_at;
    bool retiring = false;
    int replaces = 0;    // the old worker's id, for a reload's replacement
    std::string failure; // why the supervisor killed it (boot timeout, hang)
    std::size_t listening = 0;
    std::optional<clock::time_point> heartbeats_since;
    std::shared_ptr<asio::steady_timer> boot_timer;
    std::shared_ptr<asio::steady_timer> kill_timer;
    std::shared_ptr<event_stream<listen_address>> listening_events;
  };

  struct reload_state {
    settings previous; // the release to roll back to
    int previous_generation = 0;
    int target_generation = 0;
    std::vector<int> batch; // replacements forked and not yet ready
    std::string failure;    // the first replacement failure
    bool rolling_back = false;
    outcome_waiters waiters;
  };

  // ---- members ----

  void start_member(int slot, int replaces) {
    if (phase_ != phase::running)
      return;
    fork_options fork;
    fork.overrides = release_;
    fork.env = options_.env;
    fork.env["NODE_APP_INSTANCE"] = std::to_string(slot);
    fork.slot = slot;
    worker_type worker;
    try {
      worker = cluster_.fork_with(fork);
    } catch (const std::exception& e) {
      // Settings refused at fork (a reload validates them first): nothing was started.
      fail_run(make_error_code(errc::spawn_failed), std::string("supervisor: fork: ") + e.what());
      return;
    }
    const int id = worker.id();
    member m;
    m.worker = worker;
    m.slot = slot;
    m.generation = generation_;
    m.started = clock::now();
    m.replaces = replaces;
    m.boot_timer = std::make_shared<asio::steady_timer>(executor_, options_.boot_timeout);
    auto& added = members_.emplace(id, std::move(m)).first->second;
    publish_member(supervisor_event_type::started, added,
                   replaces != 0 ? "replaces worker " + std::to_string(replaces) : "");

    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    added.boot_timer->async_wait([weak, id](std::error_code ec) {
      if (auto pool = weak.lock(); pool && !ec)
        pool->boot_timed_out(id);
    });
    if (options_.readiness == readiness::ready_message) {
      worker.impl(worker_key())
          .set_message_peek(worker_key(), [weak, id](const value_type& message) {
            if (auto pool = weak.lock(); pool && message == pool->ready_message_)
              pool->became_ready(id);
          });
    } else {
      added.listening_events = std::make_shared<event_stream<listen_address>>(
          worker.subscribe(event::listening));
      receive_listening(id);
    }
    worker.async_wait_online([weak, id](std::error_code ec) {
      if (auto pool = weak.lock(); pool && !ec)
        pool->came_online(id);
    });
    worker.async_wait_exit([weak, id](std::error_code ec, exit_status status) {
      if (auto pool = weak.lock(); pool && !ec)
        pool->member_exited(id, status);
    });
  }

  void receive_listening(int id) {
    auto it = members_.find(id);
    if (it == members_.end() || !it->second.listening_events)
      return;
    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    it->second.listening_events->async_receive([weak, id](std::error_code ec, listen_address) {
      auto pool = weak.lock();
      if (!pool || ec)
        return;
      auto found = pool->members_.find(id);
      if (found == pool->members_.end())
        return;
      if (++found->second.listening >= pool->options_.listening_servers) {
        found->second.listening_events.reset();
        pool->became_ready(id);
        return;
      }
      pool->receive_listening(id);
    });
  }

  void came_online(int id) {
    auto it = members_.find(id);
    if (it == members_.end() || options_.heartbeat.interval.count() == 0)
      return;
    // Only cocluster workers beat; a Node worker is not hang-checked.
    if (it->second.worker.impl(worker_key())
            .request_heartbeats(worker_key(), options_.heartbeat.interval))
      it->second.heartbeats_since = clock::now();
  }

  void became_ready(int id) {
    auto it = members_.find(id);
    if (it == members_.end() || it->second.ready_at || it->second.worker.is_dead())
      return;
    auto& m = it->second;
    m.ready_at = clock::now();
    m.ready_time = std::chrono::system_clock::now();
    m.boot_timer->cancel();
    m.worker.impl(worker_key()).set_message_peek(worker_key(), nullptr);
    publish_member(supervisor_event_type::ready, m, "");
    if (!pool_ready_.is_set() && ready_count() >= size_) {
      publish({supervisor_event_type::pool_ready, 0, 0, -1, "", {}, size_});
      pool_ready_.set({}, "");
      predecessor_.report_ready(); // (a primary started by a hot upgrade)
    }
    if (m.replaces != 0)
      advance_reload();
  }

  void boot_timed_out(int id) {
    auto it = members_.find(id);
    if (it == members_.end() || it->second.ready_at || it->second.worker.is_dead())
      return;
    it->second.failure = "not ready within the boot timeout of " +
                         std::to_string(options_.boot_timeout.count()) + " ms";
    it->second.worker.kill(SIGKILL);
  }

  // Disconnects gracefully; SIGKILL after the kill timeout.
  void retire(member& m, const std::string&) {
    m.retiring = true;
    m.boot_timer->cancel();
    m.worker.disconnect(options_.drain_timeout);
    arm_kill(m, options_.kill_timeout);
  }

  void arm_kill(member& m, std::chrono::milliseconds after) {
    if (m.kill_timer)
      return;
    m.kill_timer = std::make_shared<asio::steady_timer>(executor_, after);
    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    m.kill_timer->async_wait([weak, id = m.worker.id()](std::error_code ec) {
      auto pool = weak.lock();
      if (!pool || ec)
        return;
      if (auto it = pool->members_.find(id); it != pool->members_.end())
        it->second.worker.kill(SIGKILL);
    });
  }

  void forget_timers(member& m) {
    if (m.boot_timer)
      m.boot_timer->cancel();
    if (m.kill_timer)
      m.kill_timer->cancel();
    m.listening_events.reset();
    if (m.worker)
      m.worker.impl(worker_key()).set_message_peek(worker_key(), nullptr);
  }

  bool slot_is_taken(int slot) const {
    for (const auto& [id, m] : members_)
      if (m.slot == slot)
        return true;
    return false;
  }

  bool slot_is_served(int slot) const {
    for (const auto& [id, m] : members_)
      if (m.slot == slot && !m.retiring)
        return true;
    return false;
  }

  // ---- exits ----

  void member_exited(int id, const exit_status& status) {
    auto it = members_.find(id);
    if (it == members_.end())
      return;
    member m = std::move(it->second);
    members_.erase(it);
    forget_timers(m);
    const auto now = clock::now();

    if (phase_ == phase::stopping || phase_ == phase::stopped || m.retiring) {
      publish_member(supervisor_event_type::exited, m, status.to_string());
      if (m.slot >= static_cast<int>(size_) && !slot_is_taken(m.slot))
        cluster_.release_slot(m.slot); // scaled down: the slot's sockets go
      if (phase_ == phase::stopping && members_.empty())
        finish_stop();
      else if (reload_)
        advance_reload();
      return;
    }
    const bool was_ready = m.ready_at.has_value();
    const bool voluntary = m.failure.empty() && was_ready &&
                           m.worker.exited_after_disconnect().value_or(false);
    if (voluntary) {
      // It disconnected itself (recycling after its own limit, say): replaced at once, no
      // failure counted.
      publish_member(supervisor_event_type::exited, m,
                     status.to_string() + " after disconnecting itself");
      if (m.slot < static_cast<int>(size_) && !slot_is_served(m.slot)) {
        ++restarts_[m.slot];
        start_member(m.slot, 0);
      }
      return;
    }

    const std::string reason = m.failure.empty()
                                   ? (was_ready ? status.to_string()
                                                : status.to_string() + " before it was ready")
                                   : m.failure;
    publish_member(was_ready ? supervisor_event_type::crashed : supervisor_event_type::boot_failed,
                   m, reason);
    if (crash_guard_.failed(now)) {
      const std::string what = "supervisor: crash loop: " +
                               std::to_string(crash_guard_.options().max_failures) +
                               " failures within " +
                               std::to_string(crash_guard_.options().window.count()) +
                               " ms; the last: worker " + std::to_string(m.worker.id()) + " (pid " +
                               std::to_string(m.worker.pid()) + ") " + reason;
      publish({supervisor_event_type::crash_loop, 0, 0, -1, what, {}, size_});
      fail_run(make_error_code(errc::crash_loop), what);
      return;
    }
    if (m.replaces != 0 && !was_ready) {
      replacement_failed(m, reason);
      return;
    }
    schedule_respawn(m,
                     was_ready
                         ? std::chrono::duration_cast<std::chrono::milliseconds>(now - *m.ready_at)
                         : std::chrono::milliseconds(0));
  }

  void schedule_respawn(const member& m, std::chrono::milliseconds uptime) {
    const int slot = m.slot;
    if (slot >= static_cast<int>(size_) || slot_is_served(slot) || respawns_.count(slot))
      return;
    auto& backoff = backoffs_.try_emplace(slot, options_.backoff).first->second;
    const auto delay = backoff.failed(uptime,
                                      std::uniform_real_distribution<double>(0.0, 1.0)(random_));
    supervisor_event event{supervisor_event_type::respawn_scheduled,
                           m.worker.id(),
                           m.worker.pid(),
                           slot,
                           "",
                           delay,
                           size_};
    publish(std::move(event));
    auto timer = std::make_shared<asio::steady_timer>(executor_, delay);
    respawns_[slot] = timer;
    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    timer->async_wait([weak, slot, timer](std::error_code ec) {
      auto pool = weak.lock();
      if (!pool || ec)
        return;
      auto it = pool->respawns_.find(slot);
      if (it == pool->respawns_.end() || it->second != timer)
        return;
      pool->respawns_.erase(it);
      if (slot < static_cast<int>(pool->size_) && !pool->slot_is_served(slot)) {
        ++pool->restarts_[slot];
        pool->start_member(slot, 0);
      }
    });
  }

  // ---- stop ----

  void begin_stop() {
    if (phase_ == phase::idle) {
      phase_ = phase::stopping;
      finish_stop();
      return;
    }
    if (phase_ == phase::stopped)
      return;
    if (phase_ == phase::stopping) {
      // The second request: no more waiting.
      publish({supervisor_event_type::stopping, 0, 0, -1, "kill now", {}, size_});
      for (auto& [id, m] : members_)
        m.worker.kill(SIGKILL);
      return;
    }
    phase_ = phase::stopping;
    publish({supervisor_event_type::stopping, 0, 0, -1, "", {}, size_});
    if (auto upgrade = upgrade_) // (held: its end drops upgrade_)
      upgrade->abandon("cut short by a stop: the new primary was killed");
    respawns_.clear();
    heartbeat_timer_.cancel();
    if (reload_) {
      auto reload = std::move(reload_);
      reload_.reset();
      reload->waiters.complete(make_error_code(errc::supervisor_stopped),
                               "supervisor: reload: cut short by a stop");
    }
    pending_changes_.reset();
    pending_waiters_.complete(make_error_code(errc::supervisor_stopped),
                              "supervisor: reload: cut short by a stop");
    for (auto& [id, m] : members_)
      if (!m.retiring)
        retire(m, "stopping");
    if (members_.empty())
      finish_stop();
  }

  void finish_stop() {
    phase_ = phase::stopped;
    if (signals_)
      signals_->cancel();
    if (reaper_)
      reaper_->stop();
    heartbeat_timer_.cancel();
    publish({supervisor_event_type::stopped, 0, 0, -1, run_error_what_, {}, size_});
    pool_ready_.set(make_error_code(errc::supervisor_stopped),
                    "supervisor: stopped before the pool was ready");
    run_end_.set(run_error_, run_error_what_); // before the stop's waiters: the run is over
    stopped_.set({}, "");
    events_.close(make_error_code(errc::stream_closed));
  }

  // The run ends with an error: everything stops, and the run completes with it once the
  // workers are gone.
  void fail_run(std::error_code ec, const std::string& what) {
    if (!run_error_) {
      run_error_ = ec;
      run_error_what_ = what;
    }
    begin_stop();
  }

  // ---- hot upgrade ----

  // The new primary is ready (no failure): it serves the sockets and is systemd's main process
  // now; this primary accepts no more, stops its workers gracefully, and its run ends with
  // success. Else it was killed and this one serves on.
  void upgrade_ended(pid_t successor, const std::string& failure) {
    upgrade_.reset();
    if (!failure.empty()) {
      publish({supervisor_event_type::upgrade_failed,
               0,
               successor > 0 ? successor : 0,
               -1,
               failure,
               {},
               size_});
      // (cut short by a stop: the supervisor is stopping, not failing over)
      upgrade_waiters_.complete(make_error_code(phase_ == phase::running
                                                    ? errc::upgrade_failed
                                                    : errc::supervisor_stopped),
                                "supervisor: upgrade failed: " + failure);
      return;
    }
    publish({supervisor_event_type::upgraded,
             0,
             successor,
             -1,
             "new primary " + std::to_string(successor) + " is ready; primary " +
                 std::to_string(::getpid()) + " stops",
             {},
             size_});
    notifier_->hand_over(successor);
    if (auto* listeners = cluster_.listeners(worker_key()))
      listeners->hand_over();
    upgrade_waiters_.complete({}, "");
    begin_stop();
  }

  // ---- reload ----

  void start_reload(const settings& changes, outcome_waiters waiters) {
    auto reload = std::make_unique<reload_state>();
    reload->previous = release_;
    reload->previous_generation = generation_;
    const settings next = release_.merged_with(changes);
    try {
      changes.validate(); // a bad setting changes nothing
      cluster_.settings().merged_with(next).validate();
    } catch (const std::exception& e) {
      waiters.complete(std::make_error_code(std::errc::invalid_argument),
                       std::string("supervisor: reload: ") + e.what());
      start_pending_reload();
      return;
    }
    release_ = next;
    reload->target_generation = ++generation_counter_;
    generation_ = reload->target_generation;
    reload->waiters = std::move(waiters);
    reload_ = std::move(reload);
    publish({supervisor_event_type::reload_started, 0, 0, -1, "", {}, size_});
    advance_reload();
  }

  // One step of the rollout: when the batch in flight is ready, its old workers are retired;
  // then the next batch is forked, until every worker runs the target release.
  void advance_reload() {
    if (!reload_ || phase_ != phase::running)
      return;
    auto& r = *reload_;
    for (int id : r.batch) {
      auto it = members_.find(id);
      if (it != members_.end() && !it->second.ready_at)
        return; // still booting
    }
    for (int id : r.batch) {
      auto it = members_.find(id);
      if (it == members_.end())
        continue;
      auto& replacement = it->second;
      auto old = members_.find(replacement.replaces);
      if (old != members_.end() && !old->second.retiring) {
        retire(old->second, "replaced");
        publish_member(supervisor_event_type::reload_step, replacement,
                       "replaced worker " + std::to_string(replacement.replaces) + " (pid " +
                           std::to_string(old->second.worker.pid()) + ")");
      }
      replacement.replaces = 0;
    }
    r.batch.clear();

    std::vector<int> next;
    for (auto& [id, m] : members_)
      if (!m.retiring && m.replaces == 0 && m.generation != generation_ &&
          next.size() < options_.reload_batch)
        next.push_back(id);
    if (next.empty()) {
      finish_reload();
      return;
    }
    for (int old_id : next) {
      const int slot = members_.at(old_id).slot;
      start_member(slot, old_id);
      // start_member adds the newest member: the largest id.
      if (!members_.empty() && members_.rbegin()->second.replaces == old_id)
        r.batch.push_back(members_.rbegin()->first);
    }
  }

  void replacement_failed(const member& failed, const std::string& reason) {
    auto& r = *reload_;
    const std::string what = "worker " + std::to_string(failed.worker.id()) + " (pid " +
                             std::to_string(failed.worker.pid()) + ") " + reason;
    // The other replacements of the batch go too; their old workers serve on.
    for (int id : r.batch)
      if (auto it = members_.find(id); it != members_.end() && id != failed.worker.id()) {
        it->second.retiring = true;
        it->second.worker.kill(SIGKILL);
      }
    r.batch.clear();
    if (r.rolling_back) {
      r.failure += "; the rollback failed too: " + what;
      finish_reload();
      return;
    }
    r.failure = what;
    r.rolling_back = true;
    // Back to the old release: workers already replaced are replaced again, by it.
    release_ = r.previous;
    generation_ = r.previous_generation;
    fill_empty_slots();
    advance_reload();
  }

  // A slot left without a worker (its replacement failed after the old worker had gone) gets
  // one now.
  void fill_empty_slots() {
    for (int slot = 0; slot < static_cast<int>(size_); ++slot)
      if (!slot_is_served(slot) && !respawns_.count(slot))
        start_member(slot, 0);
  }

  void finish_reload() {
    auto r = std::move(reload_);
    reload_.reset();
    fill_empty_slots();
    if (r->failure.empty()) {
      publish({supervisor_event_type::reload_finished, 0, 0, -1, "", {}, size_});
      r->waiters.complete({}, "");
    } else {
      const std::string what = "supervisor: reload failed: " + r->failure;
      publish({supervisor_event_type::reload_failed, 0, 0, -1, r->failure, {}, size_});
      r->waiters.complete(make_error_code(errc::reload_failed), what);
    }
    start_pending_reload();
  }

  void start_pending_reload() {
    if (!pending_changes_ || phase_ != phase::running)
      return;
    auto changes = std::move(*pending_changes_);
    pending_changes_.reset();
    outcome_waiters waiters;
    waiters.take(pending_waiters_);
    start_reload(changes, std::move(waiters));
  }

  // ---- hang detection ----

  void arm_heartbeat_check() {
    if (options_.heartbeat.interval.count() == 0 || phase_ != phase::running)
      return;
    heartbeat_timer_.expires_after(options_.heartbeat.interval);
    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    heartbeat_timer_.async_wait([weak](std::error_code ec) {
      if (auto pool = weak.lock(); pool && !ec) {
        pool->check_heartbeats();
        pool->arm_heartbeat_check();
      }
    });
  }

  void check_heartbeats() {
    const auto now = clock::now();
    const auto previous = last_check_;
    last_check_ = now;
    // A check this late means the primary's own loop was held up: the beats it has not read
    // yet are no sign of a hung worker. The next check judges.
    if (previous && now - *previous > options_.heartbeat.interval + options_.heartbeat.timeout / 2)
      return;
    for (auto& [id, m] : members_) {
      if (!m.ready_at || !m.heartbeats_since || m.retiring || !m.failure.empty() ||
          m.worker.is_dead())
        continue;
      const auto last = std::max(
          *m.heartbeats_since,
          m.worker.impl(worker_key()).last_heartbeat().value_or(*m.heartbeats_since));
      const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last);
      if (silent <= options_.heartbeat.timeout)
        continue;
      m.failure = "hung: no heartbeat for " + std::to_string(silent.count()) + " ms";
      publish_member(supervisor_event_type::hang_detected, m, m.failure);
      if (options_.heartbeat.core_dump) {
        m.worker.kill(SIGABRT);
        arm_kill(m, options_.heartbeat.abort_grace);
      } else {
        m.worker.kill(SIGKILL);
      }
    }
  }

  // ---- signals ----

  void wait_signal() {
    std::weak_ptr<supervisor_pool> weak = this->weak_from_this();
    signals_->async_wait([weak](std::error_code ec, int signal) {
      auto pool = weak.lock();
      if (!pool || ec)
        return;
      pool->on_signal(signal);
      if (pool->phase_ != phase::stopped)
        pool->wait_signal();
    });
  }

  void on_signal(int signal) {
    if (signal == SIGTERM || signal == SIGINT) {
      begin_stop();
    } else if (signal == SIGHUP) {
      reload({}, [](std::error_code, const std::string&) {}); // reported as events
    } else if (phase_ == phase::running && signal == SIGTTIN) {
      scale(size_ + 1);
    } else if (phase_ == phase::running && signal == SIGTTOU && size_ > 1) {
      scale(size_ - 1);
    } else if (phase_ == phase::running && signal == SIGUSR2) {
      upgrade([](std::error_code, const std::string&) {}); // reported as events
    }
  }

  // ---- orphans (PID 1) ----

  // `supervisor_options::reap_orphans`: the reaper leaves the cluster's live workers (the
  // pool's and any forked by hand) to their watchers.
  void start_reaper() {
    if (!reaps_orphans(options_.reap_orphans, ::getpid(), is_child_subreaper()))
      return;
    // (and a hot upgrade's new primary, whose watcher reports its exit)
    reaper_ = std::make_shared<orphan_reaper>(executor_, [this] {
      std::vector<pid_t> pids;
      for (const auto& [id, worker] : cluster_.workers())
        if (worker.pid() > 0 && !worker.is_dead())
          pids.push_back(worker.pid());
      if (upgrade_ && upgrade_->pid() > 0)
        pids.push_back(upgrade_->pid());
      return pids;
    });
    reaper_->start();
  }

  // ---- metrics ----

  // The pool's workers get their readiness time (its `readiness`, not the first listen) and
  // their slot's restarts.
  void add_pool_metrics(cluster_metrics& snapshot) const {
    for (auto& worker : snapshot.workers) {
      auto it = members_.find(worker.id);
      if (it == members_.end() || !worker.slot)
        continue; // not the pool's (a fork made by hand), or gone from it
      worker.ready_time = it->second.ready_time;
      auto restarts = restarts_.find(*worker.slot);
      worker.restarts = restarts == restarts_.end() ? 0 : restarts->second;
    }
  }

  // ---- events ----

  void publish(supervisor_event event) {
    notifier_->on_event(event.type, ready_count(), size_); // (systemd, if it listens)
    events_.publish(std::move(event));
  }

  void publish_member(supervisor_event_type type, const member& m, std::string reason) {
    publish({type, m.worker.id(), m.worker.pid(), m.slot, std::move(reason), {}, size_});
  }

  Cluster& cluster_;
  asio::any_io_executor executor_;
  supervisor_options options_;
  std::size_t size_ = 1;
  phase phase_ = phase::idle;
  std::map<int, member> members_;                               // by worker id: oldest first
  std::map<int, restart_backoff> backoffs_;                     // by slot
  std::map<int, std::shared_ptr<asio::steady_timer>> respawns_; // by slot
  std::map<int, std::uint64_t> restarts_;                       // by slot: respawns, in all
  crash_loop_guard crash_guard_;
  asio::steady_timer heartbeat_timer_;
  std::optional<clock::time_point> last_check_;
  std::unique_ptr<asio::signal_set> signals_;
  event_hub<supervisor_event> events_;
  value_type ready_message_;
  std::mt19937 random_;

  settings release_;           // what forks get over the cluster's settings: the release
  int generation_ = 0;         // the release's number
  int generation_counter_ = 0; // the last release number given
  std::unique_ptr<reload_state> reload_;
  std::optional<settings> pending_changes_;
  outcome_waiters pending_waiters_;

  std::shared_ptr<systemd_notifier> notifier_;
  std::shared_ptr<orphan_reaper> reaper_; // (null unless it reaps orphans)

  upgrade_command upgrade_command_;          // resolved when the supervisor was made
  std::shared_ptr<primary_upgrade> upgrade_; // the one in flight
  outcome_waiters upgrade_waiters_;
  upgrade_ready_pipe predecessor_; // in a primary started by a hot upgrade, until ready

  latched_outcome run_end_;
  latched_outcome pool_ready_;
  latched_outcome stopped_;
  std::error_code run_error_;
  std::string run_error_what_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_POOL_HPP
