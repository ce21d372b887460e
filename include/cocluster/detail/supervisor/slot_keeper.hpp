// SPDX-License-Identifier: MIT
/// @file
/// `slot_keeper`: keeps every slot of a pool served. It forks a slot's worker (with the release
/// of the moment), and on a member's exit carries out what the exit means (`exit_kind`, from the
/// pure `member_state`): a retirement is reported, a worker that left by itself is replaced at
/// once, a failure counts towards the crash-loop guard and is respawned after its slot's backoff,
/// and a failed replacement goes back to the reason it was forked for (a reload rolls back).
#ifndef COCLUSTER_DETAIL_SUPERVISOR_SLOT_KEEPER_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_SLOT_KEEPER_HPP

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/supervisor/member_set.hpp"
#include "cocluster/detail/supervisor/respawner.hpp"
#include "cocluster/detail/supervisor/rolling_reload.hpp"
#include "cocluster/error.hpp"
#include "cocluster/exit_status.hpp"
#include "cocluster/options.hpp"
#include "cocluster/supervision/crash_loop_guard.hpp"
#include "cocluster/supervision/member_state.hpp"
#include "cocluster/supervision/stop_sequence.hpp"
#include "cocluster/supervisor/events.hpp"
#include "cocluster/supervisor/options.hpp"

namespace cocluster::detail {

/// The slots of one pool.
template <class Cluster>
class slot_keeper {
public:
  using members_type = member_set<Cluster>;
  using member = typename members_type::member;

  /// What the keeper asks of its pool.
  struct callbacks {
    std::function<void(supervisor_event)> publish;                 // an event to report
    std::function<std::size_t()> pool_size;                        // the pool's size now
    std::function<void()> retired_gone;                            // a retired member left
    std::function<void(std::error_code, const std::string&)> fail; // the run fails
  };

  /// @param cluster the pool's cluster (forks, and the sockets of a slot given up)
  /// @param options the pool's options (environment, readiness, backoff, crash loop)
  /// @param members the pool's members
  /// @param stop the pool's phase
  /// @param reload the pool's release and its reloads
  /// @param on what the keeper asks of the pool
  slot_keeper(Cluster& cluster, const supervisor_options& options, members_type& members,
              const stop_sequence& stop, rolling_reload<Cluster>& reload, callbacks on)
      : cluster_(cluster), options_(options), members_(members), stop_(stop), reload_(reload),
        on_(std::move(on)), crash_guard_(options.crash_loop),
        respawns_(cluster.get_executor(), options.backoff) {}

  /// Forks a worker into `slot`, replacing worker `replaces` for a reload (0: none).
  /// @return its id, 0 when none was forked (the pool is not running, or the fork failed)
  int start(int slot, int replaces) {
    if (!stop_.is_running())
      return 0;
    fork_options fork;
    fork.overrides = reload_.release();
    fork.env = options_.env;
    fork.env["NODE_APP_INSTANCE"] = std::to_string(slot);
    fork.slot = slot;
    try {
      auto& m = members_.fork(fork,
                              member_state(slot, reload_.generation(), options_.listening_servers,
                                           replaces, replacement_reason::reload));
      publish(supervisor_event_type::started, m,
              replaces != 0 ? "replaces worker " + std::to_string(replaces) : "");
      return m.worker.id();
    } catch (const std::exception& e) {
      // Settings refused at fork (a reload validates them first): nothing was started.
      on_.fail(make_error_code(errc::spawn_failed), std::string("supervisor: fork: ") + e.what());
      return 0;
    }
  }

  /// A slot left without a worker (its replacement failed after the old worker had gone, or
  /// the pool grew) gets one now, unless its respawn is scheduled.
  void fill_empty_slots() {
    for (int slot = 0; slot < size(); ++slot)
      if (!members_.slot_is_served(slot) && !respawns_.is_pending(slot))
        start(slot, 0);
  }

  /// A member exited (it is gone from the pool).
  /// @param m the member
  /// @param status how it ended
  void exited(const member& m, const exit_status& status) {
    const int slot = m.state.slot();
    const auto now = member_state::clock::now();
    const auto kind = m.state.exit_meaning(stop_.is_stopping(),
                                           m.worker.exited_after_disconnect().value_or(false));
    if (kind == exit_kind::retired) {
      publish(supervisor_event_type::exited, m, status.to_string());
      if (slot >= size() && !members_.slot_is_taken(slot))
        cluster_.release_slot(slot); // scaled down: the slot's sockets go
      on_.retired_gone();
      return;
    }
    if (kind == exit_kind::left_by_itself) {
      // It disconnected itself (recycling after its own limit, say): replaced at once, no
      // failure counted.
      publish(supervisor_event_type::exited, m, status.to_string() + " after disconnecting itself");
      if (slot < size() && !members_.slot_is_served(slot)) {
        respawns_.count_restart(slot);
        start(slot, 0);
      }
      return;
    }
    const std::string reason = m.state.exit_reason(status.to_string());
    publish(kind == exit_kind::crashed ? supervisor_event_type::crashed
                                       : supervisor_event_type::boot_failed,
            m, reason);
    if (crash_guard_.failed(now)) {
      const std::string what = "supervisor: crash loop: " +
                               std::to_string(crash_guard_.options().max_failures) +
                               " failures within " +
                               std::to_string(crash_guard_.options().window.count()) +
                               " ms; the last: worker " + std::to_string(m.worker.id()) + " (pid " +
                               std::to_string(m.worker.pid()) + ") " + reason;
      on_.publish(supervisor_event::of_pool(supervisor_event_type::crash_loop, on_.pool_size(),
                                            what));
      on_.fail(make_error_code(errc::crash_loop), what);
      return;
    }
    if (kind == exit_kind::replacement_failed && reload_.in_flight())
      return reload_.replacement_failed(m, reason);
    respawn(m, m.state.uptime(now));
  }

  /// The pool's respawns (scale down drops some, a stop all).
  respawner& respawns() noexcept { return respawns_; }
  /// The pool's respawns, with each slot's restarts.
  const respawner& respawns() const noexcept { return respawns_; }

private:
  int size() const { return static_cast<int>(on_.pool_size()); }

  void respawn(const member& m, std::chrono::milliseconds uptime) {
    const int slot = m.state.slot();
    if (slot >= size() || members_.slot_is_served(slot) || respawns_.is_pending(slot))
      return;
    const auto delay = respawns_.schedule(slot, uptime, [this, slot] {
      if (slot < size() && !members_.slot_is_served(slot)) {
        respawns_.count_restart(slot);
        start(slot, 0);
      }
    });
    on_.publish(supervisor_event::respawn(m.worker.id(), m.worker.pid(), slot, delay,
                                          on_.pool_size()));
  }

  void publish(supervisor_event_type type, const member& m, std::string reason) {
    on_.publish(supervisor_event::of_worker(type, m.worker.id(), m.worker.pid(), m.state.slot(),
                                            on_.pool_size(), std::move(reason)));
  }

  Cluster& cluster_;
  const supervisor_options& options_;
  members_type& members_;
  const stop_sequence& stop_;
  rolling_reload<Cluster>& reload_;
  callbacks on_;
  crash_loop_guard crash_guard_;
  respawner respawns_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_SLOT_KEEPER_HPP
