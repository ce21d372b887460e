// SPDX-License-Identifier: MIT
/// @file
/// The primary's bookkeeping of one accepting handle, without I/O: which workers take its
/// connections, which connections wait (in the primary, or for room in one worker's window),
/// which are handed over and wait for an answer, and who refused what. The accepting handle
/// (detail/net/accepting_handle.hpp) does the accepting and the sending around it.
#ifndef COCLUSTER_DETAIL_SCHEDULING_HANDOFF_TABLE_HPP
#define COCLUSTER_DETAIL_SCHEDULING_HANDOFF_TABLE_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "cocluster/scheduling/policy.hpp"

namespace cocluster::detail {

/// Decides where each connection of one shared port goes, and keeps it until a worker accepted
/// it. `Connection` is what travels (the accepted descriptor); the table only moves it.
///
/// A connection is handed to at most one worker at a time; one that worker refuses, or one it
/// had not accepted when it left, is offered again before any newer one; one that every worker
/// refused waits for `take_retry()` to say so, and is then offered to all again. A worker that
/// leaves hand-overs unanswered for the stall timeout is `stalled` in the loads its policy
/// sees; times are given by the caller (steady clock), so the table itself does no I/O.
template <scheduling_policy Policy, class Connection>
class handoff_table {
public:
  /// The clock of the times given to the table.
  using clock = std::chrono::steady_clock;

  /// A table whose workers count as stalled after `stall_timeout` without an answer.
  explicit handoff_table(clock::duration stall_timeout = std::chrono::milliseconds(50))
      : stall_timeout_(stall_timeout) {}

  /// A connection to send now: to `worker`, answered later with `answered(ticket, ...)`.
  struct handover {
    int worker;
    std::uint64_t ticket;
    Connection* connection;
  };

  /// The policy deciding (for tests and the policy's own state).
  Policy& policy() noexcept { return policy_; }

  /// Whether `worker` takes connections here (or still has some handed to it).
  bool has(int worker) const { return slots_.count(worker) != 0; }

  /// Workers that take new connections.
  std::size_t active_count() const {
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(),
                                                  [](const auto& e) { return !e.second.retired; }));
  }

  /// Connections accepted and not yet given to a worker (they wait in the primary).
  std::size_t queued() const noexcept { return queue_.size(); }

  /// Connections given to a worker that wait for room in its window.
  std::size_t waiting() const noexcept { return waiting_total_; }

  /// Connections handed over and not yet answered.
  std::size_t in_flight() const noexcept { return in_flight_.size(); }

  /// `worker` takes connections from now on, at most `window` of them unanswered at once.
  void add(int worker, std::size_t window) {
    slot s;
    s.id = worker;
    s.window = windows_lifted_ ? unlimited : window == 0 ? 1 : window;
    s.last_used = ++clock_;
    slots_[worker] = std::move(s);
    policy_.worker_added(worker);
  }

  /// `worker` takes no new connections; those assigned to it and not yet sent go back to the
  /// others first. Returns true when no worker is left here, nor any connection handed over.
  bool retire(int worker) {
    auto it = slots_.find(worker);
    if (it == slots_.end())
      return active_count() == 0 && slots_.empty();
    retire_slot(it->second);
    if (it->second.in_flight == 0)
      slots_.erase(it);
    return slots_.empty();
  }

  /// `worker` is gone: what it had not accepted (handed over or assigned) goes back first,
  /// oldest first. Returns true when no worker is left here.
  bool remove(int worker) {
    auto it = slots_.find(worker);
    if (it == slots_.end())
      return slots_.empty();
    retire_slot(it->second);
    std::vector<std::pair<std::uint64_t, item>> orphans;
    for (auto f = in_flight_.begin(); f != in_flight_.end();) {
      if (f->second.worker == worker) {
        orphans.emplace_back(f->first, std::move(f->second.entry));
        f = in_flight_.erase(f);
      } else {
        ++f;
      }
    }
    // in_flight_ is ordered by ticket, so the orphans are oldest first already; they go back
    // before the ones that waited for the worker's window (retire_slot put those back).
    std::deque<item> back;
    for (auto& orphan : orphans)
      back.push_back(std::move(orphan.second));
    slots_.erase(it);
    requeue_front(std::move(back));
    return slots_.empty();
  }

  /// No more connections will come (the handle stopped accepting: a hot upgrade handed its
  /// socket over): every worker takes any number unanswered from now on, so that `next()` gives
  /// out everything that waits, the connections waiting for a full window included.
  void lift_windows() {
    windows_lifted_ = true;
    for (auto& [id, s] : slots_)
      s.window = unlimited;
  }

  /// A connection accepted from `peer` (none for a Unix socket) waits for a worker.
  void push(Connection connection, std::optional<asio::ip::address> peer) {
    queue_.push_back(item{std::move(connection), std::move(peer), {}});
  }

  /// The next connection to send, if one can go now. Connections the policy assigns to a
  /// worker whose window is full wait for that worker (they are not offered to others).
  std::optional<handover> next(clock::time_point now) {
    if (waiting_total_ != 0)
      for (auto& [id, s] : slots_)
        if (!s.retired && s.in_flight < s.window && !s.waiting.empty()) {
          item i = std::move(s.waiting.front());
          s.waiting.pop_front();
          --waiting_total_;
          return send(s, std::move(i), now);
        }
    while (!queue_.empty()) {
      item& front = queue_.front();
      loads_.clear();
      bool anyone_left = false;
      for (const auto& [id, s] : slots_) {
        if (s.retired)
          continue;
        const bool refused_this = refused(front, id);
        anyone_left = anyone_left || !refused_this;
        worker_load load;
        load.id = id;
        load.in_flight = s.in_flight;
        load.queued = s.waiting.size();
        load.window = s.window;
        load.open_connections = s.open;
        load.idle_since = s.last_used;
        load.available = s.in_flight < s.window && !refused_this;
        load.stalled = s.in_flight != 0 && now - s.answered_at >= stall_timeout_;
        loads_.push_back(load);
      }
      if (loads_.empty())
        return std::nullopt;
      if (!anyone_left) {
        // Every worker refused it (all at max_connections): it waits a little, then is offered
        // to all again, as a full backlog would.
        front.refused_by.clear();
        retry_ = true;
        return std::nullopt;
      }
      const auto pick = policy_.pick(connection_request{front.peer}, loads_);
      if (!pick)
        return std::nullopt;
      auto target = slots_.find(*pick);
      if (target == slots_.end() || target->second.retired)
        return std::nullopt; // the policy named no usable worker: wait for a change
      if (refused(front, *pick)) {
        // A sticky choice that refused it: the least recently used available worker instead.
        const auto fallback = least_recently_used(loads_);
        if (!fallback)
          return std::nullopt;
        target = slots_.find(*fallback);
      }
      item i = std::move(queue_.front());
      queue_.pop_front();
      slot& s = target->second;
      s.last_used = ++clock_; // assigned now, whether sent now or after its wait
      if (s.in_flight < s.window)
        return send(s, std::move(i), now);
      s.waiting.push_back(std::move(i));
      ++waiting_total_;
    }
    return std::nullopt;
  }

  /// The handover `ticket` could not be sent (the worker's channel is closing): the connection
  /// goes back first, and its worker takes no more.
  void unsent(std::uint64_t ticket) {
    auto it = in_flight_.find(ticket);
    if (it == in_flight_.end())
      return;
    auto s = slots_.find(it->second.worker);
    queue_.push_front(std::move(it->second.entry));
    in_flight_.erase(it);
    if (s != slots_.end()) {
      --s->second.in_flight;
      retire_slot(s->second);
      requeue_waiting(s->second);
    }
  }

  /// The worker answered handover `ticket`: it accepted the connection, or refused it (it goes
  /// back first, to another worker). `counts` are the worker's own connection counts when it
  /// sent them. Returns the connection when accepted (the caller closes its copy), else none.
  std::optional<Connection> answered(
      std::uint64_t ticket, bool accepted, clock::time_point now,
      std::optional<std::pair<std::size_t, std::uint64_t>> counts = {}) {
    auto it = in_flight_.find(ticket);
    if (it == in_flight_.end())
      return std::nullopt;
    handed h = std::move(it->second);
    in_flight_.erase(it);
    auto s = slots_.find(h.worker);
    if (s != slots_.end()) {
      --s->second.in_flight;
      s->second.answered_at = now;
      if (counts)
        take_counts(s->second, counts->first, counts->second);
      else if (accepted)
        ++s->second.open; // a Node worker does not say when its connections end
      if (s->second.retired && s->second.in_flight == 0)
        slots_.erase(s);
    }
    if (accepted)
      return std::move(h.entry.connection);
    h.entry.refused_by.push_back(h.worker);
    queue_.push_front(std::move(h.entry));
    return std::nullopt;
  }

  /// A cocluster worker's counts: `open` connections now, `closed` ones in all. The policy is
  /// told once of each connection that ended since the last report, while the worker is its.
  void report_counts(int worker, std::size_t open, std::uint64_t closed) {
    auto s = slots_.find(worker);
    if (s != slots_.end())
      take_counts(s->second, open, closed);
  }

  /// How long after `now` a worker that has hand-overs unanswered becomes stalled, if one
  /// will: a caller whose `next()` found nothing to send asks again then.
  std::optional<clock::duration> until_stall(clock::time_point now) const {
    std::optional<clock::duration> soonest;
    for (const auto& [id, s] : slots_) {
      if (s.retired || s.in_flight == 0 || now - s.answered_at >= stall_timeout_)
        continue;
      const auto left = s.answered_at + stall_timeout_ - now;
      if (!soonest || left < *soonest)
        soonest = left;
    }
    return soonest;
  }

  /// True once after `next()` found that every worker refused the oldest connection: the
  /// caller offers it again a little later.
  bool take_retry() noexcept { return std::exchange(retry_, false); }

  /// Forgets everything (the handle closed); the connections are dropped.
  void clear() {
    queue_.clear();
    in_flight_.clear();
    slots_.clear();
    waiting_total_ = 0;
  }

private:
  static constexpr std::size_t unlimited = static_cast<std::size_t>(-1);

  struct item {
    Connection connection;
    std::optional<asio::ip::address> peer;
    std::vector<int> refused_by;
  };

  struct slot {
    int id = 0;
    std::size_t window = 1;
    std::size_t in_flight = 0;
    std::size_t open = 0;
    std::uint64_t closed = 0; // connections it reported ended, in all
    std::uint64_t last_used = 0;
    clock::time_point answered_at; // its last answer, or the hand-over that ended its idleness
    bool retired = false;
    std::deque<item> waiting; // assigned to this worker, waiting for room in its window
  };

  struct handed {
    int worker;
    item entry;
  };

  static bool refused(const item& i, int worker) {
    return std::find(i.refused_by.begin(), i.refused_by.end(), worker) != i.refused_by.end();
  }

  handover send(slot& s, item i, clock::time_point now) {
    const std::uint64_t ticket = ++last_ticket_;
    if (s.in_flight++ == 0)
      s.answered_at = now; // it owed nothing until now

    auto [it, inserted] = in_flight_.emplace(ticket, handed{s.id, std::move(i)});
    return handover{s.id, ticket, &it->second.entry.connection};
  }

  // The policy hears of a worker's leaving once; its waiting connections go back first.
  void retire_slot(slot& s) {
    if (s.retired)
      return;
    s.retired = true;
    policy_.worker_removed(s.id);
    requeue_waiting(s);
  }

  void requeue_waiting(slot& s) {
    waiting_total_ -= s.waiting.size();
    requeue_front(std::move(s.waiting));
    s.waiting.clear();
  }

  void requeue_front(std::deque<item> items) {
    for (auto r = items.rbegin(); r != items.rend(); ++r)
      queue_.push_front(std::move(*r));
  }

  void take_counts(slot& s, std::size_t open, std::uint64_t closed) {
    s.open = open;
    while (s.closed < closed) {
      ++s.closed;
      if (!s.retired)
        policy_.connection_closed(s.id);
    }
  }

  clock::duration stall_timeout_;
  Policy policy_;
  std::map<int, slot> slots_;
  std::deque<item> queue_;
  std::map<std::uint64_t, handed> in_flight_;
  std::vector<worker_load> loads_;
  std::size_t waiting_total_ = 0;
  std::uint64_t clock_ = 0;
  std::uint64_t last_ticket_ = 0;
  bool retry_ = false;
  bool windows_lifted_ = false;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SCHEDULING_HANDOFF_TABLE_HPP
