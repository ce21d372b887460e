// SPDX-License-Identifier: MIT
/// @file
/// `respawner`: the respawns a pool has scheduled, one timer a slot, each slot's backoff
/// (`restart_backoff`, the pure part) and its count of restarts (for the metrics).
#ifndef COCLUSTER_DETAIL_SUPERVISOR_RESPAWNER_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_RESPAWNER_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/supervision/restart_backoff.hpp"

namespace cocluster::detail {

/// A pool's scheduled respawns, by slot.
class respawner {
public:
  /// @param executor where the timers run
  /// @param backoff the options of every slot's backoff
  respawner(asio::any_io_executor executor, backoff_options backoff)
      : executor_(std::move(executor)), backoff_(backoff), random_(std::random_device()()) {}

  /// Schedules `slot`'s respawn after its backoff's delay for a worker that was up `uptime`;
  /// `due` runs then, unless the respawn was cancelled first.
  /// @return the delay
  std::chrono::milliseconds schedule(int slot, std::chrono::milliseconds uptime,
                                     std::function<void()> due) {
    auto& backoff = backoffs_.try_emplace(slot, backoff_).first->second;
    const auto delay = backoff.failed(uptime,
                                      std::uniform_real_distribution<double>(0.0, 1.0)(random_));
    auto timer = std::make_shared<asio::steady_timer>(executor_, delay);
    pending_[slot] = timer;
    timer->async_wait([this, alive = alive_, slot, timer,
                       due = std::move(due)](std::error_code ec) {
      if (ec || !*alive)
        return;
      auto it = pending_.find(slot);
      if (it == pending_.end() || it->second != timer)
        return;
      pending_.erase(it);
      due();
    });
    return delay;
  }

  /// Whether `slot` waits for a respawn.
  bool is_pending(int slot) const { return pending_.count(slot) != 0; }

  /// Drops the respawns of slots `size` and above (the pool shrank).
  void drop_from(int size) {
    for (auto it = pending_.begin(); it != pending_.end();)
      it = it->first >= size ? erase(it) : std::next(it);
  }

  /// Drops every respawn.
  void clear() {
    for (auto it = pending_.begin(); it != pending_.end();)
      it = erase(it);
  }

  /// Counts a restart of `slot` (a respawn, or a replacement of a worker that left by itself).
  void count_restart(int slot) { ++restarts_[slot]; }

  /// The restarts of `slot` so far.
  std::uint64_t restarts(int slot) const {
    auto it = restarts_.find(slot);
    return it == restarts_.end() ? 0 : it->second;
  }

  ~respawner() {
    *alive_ = false;
    clear();
  }

  respawner(const respawner&) = delete;
  respawner& operator=(const respawner&) = delete;

private:
  using timers = std::map<int, std::shared_ptr<asio::steady_timer>>;

  timers::iterator erase(timers::iterator it) {
    it->second->cancel();
    return pending_.erase(it);
  }

  asio::any_io_executor executor_;
  backoff_options backoff_;
  std::mt19937 random_;
  std::map<int, restart_backoff> backoffs_; // by slot
  timers pending_;                          // by slot
  std::map<int, std::uint64_t> restarts_;   // by slot: respawns, in all
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_RESPAWNER_HPP
