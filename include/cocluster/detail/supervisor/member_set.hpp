// SPDX-License-Identifier: MIT
/// @file
/// `member_set`: the workers of a supervisor's pool by id, and the watch on each: its fork into
/// a slot, its readiness (listening or its ready message), its boot timeout, its heartbeats once
/// online, its retirement (a graceful disconnect, then a kill) and its exit. What the pool makes
/// of a ready or exited member is the pool's: it hears of both through callbacks.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_MEMBER_SET_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_MEMBER_SET_HPP

#include <chrono>
#include <csignal>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/supervisor/pool_member.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/events.hpp"
#include "cocluster/exit_status.hpp"
#include "cocluster/options.hpp"
#include "cocluster/supervision/member_state.hpp"
#include "cocluster/supervision/reload_plan.hpp"
#include "cocluster/supervisor/options.hpp"
#include "cocluster/supervisor/ready.hpp"

namespace cocluster::detail {

/// The members of one pool. All of it runs on the cluster's executor; a watch that ends after
/// the set is gone does nothing.
template <class Cluster>
class member_set {
public:
  using worker_type = typename Cluster::worker_type;
  using value_type = typename Cluster::value_type;
  using member = pool_member<worker_type>;
  using clock = std::chrono::steady_clock;

  /// What the pool hears of its members.
  struct callbacks {
    std::function<void(member&)> ready;                     // it got ready
    std::function<void(member, const exit_status&)> exited; // it exited (and is gone)
  };

  member_set(Cluster& cluster, const supervisor_options& options, callbacks on)
      : cluster_(cluster), executor_(cluster.get_executor()), options_(options), on_(std::move(on)),
        ready_message_(Cluster::serialization_type::to_value(std::string(ready_message))) {}

  /// Forks a worker into `state.slot()` and watches it.
  /// @throws what `cluster::fork_with` throws (settings refused at fork)
  member& fork(const fork_options& fork, member_state state) {
    worker_type worker = cluster_.fork_with(fork);
    const int id = worker.id();
    auto& added = members_.emplace(id, member(worker, std::move(state))).first->second;
    added.boot_timer = std::make_shared<asio::steady_timer>(executor_, options_.boot_timeout);
    added.boot_timer->async_wait([this, alive = alive_, id](std::error_code ec) {
      if (*alive && !ec)
        boot_timed_out(id);
    });
    if (options_.readiness == readiness::ready_message) {
      worker.impl(worker_key())
          .set_message_peek(worker_key(), [this, alive = alive_, id](const value_type& message) {
            if (*alive && message == ready_message_)
              ready_message_came(id);
          });
    } else {
      added.listening_events = std::make_shared<event_stream<listen_address>>(
          worker.subscribe(event::listening));
      receive_listening(id);
    }
    worker.async_wait_online([this, alive = alive_, id](std::error_code ec) {
      if (*alive && !ec)
        came_online(id);
    });
    worker.async_wait_exit([this, alive = alive_, id](std::error_code ec, exit_status status) {
      if (*alive && !ec)
        member_exited(id, status);
    });
    return added;
  }

  /// Tells `m` to leave: a graceful disconnect (its servers close, its connections end within
  /// the drain timeout), then SIGKILL after the kill timeout.
  void retire(member& m) {
    m.state.retire();
    m.boot_timer->cancel();
    m.worker.disconnect(options_.drain_timeout);
    arm_kill(m, options_.kill_timeout);
  }

  /// Retires the members of slots `size` and above (the pool shrank: the newest slots go).
  void retire_slots_from(int size) {
    for (auto& [id, m] : members_)
      if (m.state.slot() >= size && !m.state.is_retiring())
        retire(m);
  }

  /// SIGKILL for `m` after `after`, unless it is gone first (the first such timer stays).
  void arm_kill(member& m, std::chrono::milliseconds after) {
    if (m.kill_timer)
      return;
    m.kill_timer = std::make_shared<asio::steady_timer>(executor_, after);
    m.kill_timer->async_wait([this, alive = alive_, id = m.worker.id()](std::error_code ec) {
      if (!*alive || ec)
        return;
      if (auto* found = find(id))
        found->worker.kill(SIGKILL);
    });
  }

  /// Ends every watch: the members are left to the cluster (the supervisor is going away).
  void forget_all() {
    for (auto& [id, m] : members_)
      m.forget_timers();
    on_ = {};
  }

  /// The member whose worker has id `id`, or null.
  member* find(int id) {
    auto it = members_.find(id);
    return it == members_.end() ? nullptr : &it->second;
  }

  /// Whether the pool has no member.
  bool empty() const noexcept { return members_.empty(); }

  /// The members by worker id, oldest first.
  std::map<int, member>& all() noexcept { return members_; }
  /// The members by worker id, oldest first.
  const std::map<int, member>& all() const noexcept { return members_; }

  /// The members that are ready and not retiring.
  std::size_t ready_count() const {
    std::size_t ready = 0;
    for (const auto& [id, m] : members_)
      ready += m.state.is_ready() && !m.state.is_retiring() ? 1u : 0u;
    return ready;
  }

  /// The workers that serve (not retiring), oldest first.
  std::vector<worker_type> workers() const {
    std::vector<worker_type> result;
    for (const auto& [id, m] : members_)
      if (!m.state.is_retiring())
        result.push_back(m.worker);
    return result;
  }

  /// Whether a worker is in `slot`, retiring or not.
  bool slot_is_taken(int slot) const {
    for (const auto& [id, m] : members_)
      if (m.state.slot() == slot)
        return true;
    return false;
  }

  /// Whether a worker that is not retiring serves `slot`.
  bool slot_is_served(int slot) const {
    for (const auto& [id, m] : members_)
      if (m.state.slot() == slot && !m.state.is_retiring())
        return true;
    return false;
  }

  /// The members as a reload plan sees them.
  std::vector<reload_member> reload_roster() const {
    std::vector<reload_member> roster;
    for (const auto& [id, m] : members_)
      roster.push_back({id, m.state.generation(), m.state.replaces(), m.state.is_retiring(),
                        m.state.is_ready()});
    return roster;
  }

private:
  void receive_listening(int id) {
    auto* m = find(id);
    if (!m || !m->listening_events)
      return;
    m->listening_events->async_receive([this, alive = alive_, id](std::error_code ec,
                                                                  listen_address) {
      if (!*alive || ec)
        return;
      auto* found = find(id);
      if (!found)
        return;
      if (found->state.listened(clock::now(), found->alive())) {
        found->listening_events.reset();
        made_ready(*found);
        return;
      }
      if (!found->state.is_ready())
        receive_listening(id);
    });
  }

  void ready_message_came(int id) {
    if (auto* m = find(id); m && m->state.mark_ready(clock::now(), m->alive()))
      made_ready(*m);
  }

  void made_ready(member& m) {
    m.ready_time = std::chrono::system_clock::now();
    m.boot_timer->cancel();
    m.worker.impl(worker_key()).set_message_peek(worker_key(), nullptr);
    if (on_.ready)
      on_.ready(m);
  }

  void boot_timed_out(int id) {
    if (auto* m = find(id); m && m->state.boot_timed_out(options_.boot_timeout, m->alive()))
      m->worker.kill(SIGKILL);
  }

  void came_online(int id) {
    auto* m = find(id);
    if (!m || options_.heartbeat.interval.count() == 0)
      return;
    // Only cocluster workers beat; a Node worker is not hang-checked.
    if (m->worker.impl(worker_key()).request_heartbeats(worker_key(), options_.heartbeat.interval))
      m->state.heartbeats_requested(clock::now());
  }

  void member_exited(int id, const exit_status& status) {
    auto it = members_.find(id);
    if (it == members_.end())
      return;
    member m = std::move(it->second);
    members_.erase(it);
    m.forget_timers();
    if (on_.exited)
      on_.exited(std::move(m), status);
  }

  Cluster& cluster_;
  asio::any_io_executor executor_;
  supervisor_options options_;
  callbacks on_;
  value_type ready_message_;
  std::map<int, member> members_; // by worker id: oldest first
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

public:
  ~member_set() { *alive_ = false; }
  member_set(const member_set&) = delete;
  member_set& operator=(const member_set&) = delete;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_MEMBER_SET_HPP
