// SPDX-License-Identifier: MIT
/// @file
/// `heartbeat_monitor`: the pool's hang check. Every heartbeat interval it asks the pure
/// `heartbeat_verdict` about each member that beats; a hung one is killed (SIGABRT first, for a
/// core dump, when asked for), and the pool hears of it to report it.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_HEARTBEAT_MONITOR_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_HEARTBEAT_MONITOR_HPP

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/supervisor/member_set.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/supervision/heartbeat_verdict.hpp"
#include "cocluster/supervisor/options.hpp"

namespace cocluster::detail {

/// The hang check of one pool's members.
template <class Cluster>
class heartbeat_monitor {
public:
  using members_type = member_set<Cluster>;
  using member = typename members_type::member;

  /// @param executor where the timer runs
  /// @param options the interval (0: no check), the timeout, the core dump and its grace
  /// @param members the members to check (they outlive the monitor)
  /// @param hung runs for each member found hung, before it is killed
  heartbeat_monitor(asio::any_io_executor executor, heartbeat_options options,
                    members_type& members, std::function<void(member&)> hung)
      : timer_(executor), options_(options), verdict_(options.interval, options.timeout),
        members_(members), hung_(std::move(hung)) {}

  /// Checks every interval from now on, until `stop` (nothing when the interval is 0).
  void start() {
    if (options_.interval.count() == 0 || stopped_)
      return;
    timer_.expires_after(options_.interval);
    timer_.async_wait([this, alive = alive_](std::error_code ec) {
      if (ec || !*alive)
        return;
      check();
      start();
    });
  }

  /// No more checks.
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

  ~heartbeat_monitor() { *alive_ = false; }

  heartbeat_monitor(const heartbeat_monitor&) = delete;
  heartbeat_monitor& operator=(const heartbeat_monitor&) = delete;

private:
  void check() {
    const auto now = std::chrono::steady_clock::now();
    if (!verdict_.begin_check(now))
      return;
    for (auto& [id, m] : members_.all()) {
      if (!m.state.is_hang_checked(m.alive()))
        continue;
      const auto silent = verdict_.hung_for(now, *m.state.heartbeats_since(),
                                            m.worker.impl(worker_key()).last_heartbeat());
      if (!silent)
        continue;
      m.state.fail("hung: no heartbeat for " + std::to_string(silent->count()) + " ms");
      hung_(m);
      if (options_.core_dump) {
        m.worker.kill(SIGABRT);
        members_.arm_kill(m, options_.abort_grace);
      } else {
        m.worker.kill(SIGKILL);
      }
    }
  }

  asio::steady_timer timer_;
  heartbeat_options options_;
  heartbeat_verdict verdict_;
  members_type& members_;
  std::function<void(member&)> hung_;
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_HEARTBEAT_MONITOR_HPP
