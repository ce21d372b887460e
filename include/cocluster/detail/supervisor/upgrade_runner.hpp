// SPDX-License-Identifier: MIT
/// @file
/// `upgrade_runner`: a pool's side of the hot upgrade. It starts the new primary with the
/// listening sockets (`primary_upgrade`), joins the requests that come while one runs, reports
/// the steps as events, and on the new primary's readiness hands the sockets over and tells the
/// pool to stop; if the new primary fails, it is killed and the pool serves on. In a primary
/// that a hot upgrade started, it also tells the old primary when this pool is ready.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_UPGRADE_RUNNER_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_UPGRADE_RUNNER_HPP

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/supervisor/completion.hpp"
#include "cocluster/detail/supervisor/primary_upgrade.hpp"
#include "cocluster/detail/supervisor/systemd_notifier.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/error.hpp"
#include "cocluster/supervisor/events.hpp"
#include "cocluster/supervisor/options.hpp"

namespace cocluster::detail {

/// The hot upgrade of one pool's primary.
template <class Cluster>
class upgrade_runner {
public:
  /// What the runner asks of its pool.
  struct callbacks {
    std::function<void(supervisor_event)> publish; // an event to report
    std::function<std::size_t()> pool_size;        // the pool's size now
    std::function<bool()> running;                 // whether the pool runs (a failure's code)
    std::function<void(pid_t)> upgraded;           // the new primary took over: stop
  };

  /// @param cluster the pool's cluster (its listeners are handed over)
  /// @param options the upgrade command and timeout (and the boot timeout the default adds to)
  /// @param notifier systemd's notifier, told of the new main process
  /// @param on what the runner asks of the pool
  upgrade_runner(Cluster& cluster, const supervisor_options& options,
                 std::shared_ptr<systemd_notifier> notifier, callbacks on)
      : cluster_(cluster), executor_(cluster.get_executor()), notifier_(std::move(notifier)),
        on_(std::move(on)), timeout_(options.upgrade_timeout.value_or(options.boot_timeout +
                                                                      std::chrono::seconds(30))) {
    if (cluster.is_primary()) {
      command_ = upgrade_command::resolve(options.upgrade_command);
      predecessor_ = upgrade_ready_pipe::from_environment();
    }
  }

  /// Starts an upgrade, or joins the one in flight; `done` hears how it ended.
  /// @param done the outcome: success once the new primary is ready, else `upgrade_failed`
  void start(outcome_callback done) {
    if (::getpid() == 1) {
      // The old primary's exit would end its PID namespace, the new primary with it.
      const std::string why = "the primary is PID 1 (a container's entry point): its exit would "
                              "end every process of the namespace, the new primary's included; "
                              "replace the container instead";
      on_.publish(supervisor_event::of_upgrade(supervisor_event_type::upgrade_failed, 0,
                                               on_.pool_size(), why));
      done(make_error_code(errc::upgrade_failed), "supervisor: upgrade: " + why);
      return;
    }
    waiters_.add(std::move(done));
    if (upgrade_)
      return;
    auto* listeners = cluster_.listeners(worker_key());
    const auto sockets = listeners ? listeners->handover_sockets() : std::vector<handover_socket>();
    upgrade_ = std::make_shared<primary_upgrade>(executor_);
    const pid_t pid = upgrade_->start(command_, sockets, timeout_,
                                      [this, alive = alive_](pid_t successor,
                                                             const std::string& failure) {
                                        if (*alive)
                                          ended(successor, failure);
                                      });
    if (pid > 0)
      on_.publish(
          supervisor_event::of_upgrade(supervisor_event_type::upgrade_started, pid, on_.pool_size(),
                                       "new primary " + std::to_string(pid) + " (" + command_.path +
                                           "), sockets passed: " + std::to_string(sockets.size())));
  }

  /// The new primary in flight is killed (`why` is its failure); its waiters hear of it.
  void abandon(const std::string& why) {
    if (auto upgrade = upgrade_) // (held: its end drops upgrade_)
      upgrade->abandon(why);
  }

  /// The supervisor is going away: the waiters get `operation_aborted` before the new primary in
  /// flight is killed.
  void detach() {
    waiters_.complete(make_error_code(asio::error::operation_aborted), "supervisor: destroyed");
    abandon("supervisor: destroyed");
    *alive_ = false;
  }

  /// The new primary's pid while one is in flight (0 when none is).
  pid_t pid() const noexcept { return upgrade_ && upgrade_->pid() > 0 ? upgrade_->pid() : 0; }

  /// This pool is ready: a primary started by a hot upgrade tells the old one (once).
  void report_ready() { predecessor_.report_ready(); }

  ~upgrade_runner() { *alive_ = false; }

  upgrade_runner(const upgrade_runner&) = delete;
  upgrade_runner& operator=(const upgrade_runner&) = delete;

private:
  // The new primary is ready (no failure): it serves the sockets and is systemd's main process
  // now; the pool accepts no more and stops. Else it was killed and the pool serves on.
  void ended(pid_t successor, const std::string& failure) {
    upgrade_.reset();
    if (!failure.empty()) {
      on_.publish(supervisor_event::of_upgrade(supervisor_event_type::upgrade_failed,
                                               successor > 0 ? successor : 0, on_.pool_size(),
                                               failure));
      // (cut short by a stop: the supervisor is stopping, not failing over)
      waiters_.complete(make_error_code(on_.running() ? errc::upgrade_failed
                                                      : errc::supervisor_stopped),
                        "supervisor: upgrade failed: " + failure);
      return;
    }
    on_.publish(supervisor_event::of_upgrade(
        supervisor_event_type::upgraded, successor, on_.pool_size(),
        "new primary " + std::to_string(successor) + " is ready; primary " +
            std::to_string(::getpid()) + " stops"));
    notifier_->hand_over(successor);
    if (auto* listeners = cluster_.listeners(worker_key()))
      listeners->hand_over();
    waiters_.complete({}, "");
    on_.upgraded(successor);
  }

  Cluster& cluster_;
  asio::any_io_executor executor_;
  std::shared_ptr<systemd_notifier> notifier_;
  callbacks on_;
  std::chrono::milliseconds timeout_;
  upgrade_command command_;                  // resolved when the supervisor was made
  std::shared_ptr<primary_upgrade> upgrade_; // the one in flight
  outcome_waiters waiters_;
  upgrade_ready_pipe predecessor_; // in a primary started by a hot upgrade, until ready
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_UPGRADE_RUNNER_HPP
