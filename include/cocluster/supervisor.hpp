// SPDX-License-Identifier: MIT
/// @file
/// `supervisor`: keeps a pool of N workers alive, reloads them without dropping a request,
/// stops them gracefully and replaces hung ones (what PM2, gunicorn, puma and nginx do for their
/// workers, on top of Node's `cluster` API).
#ifndef COCLUSTER_SUPERVISOR_HPP
#define COCLUSTER_SUPERVISOR_HPP

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/supervisor/completion.hpp"
#include "cocluster/detail/supervisor/pool.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/metrics.hpp"
#include "cocluster/settings.hpp"
#include "cocluster/supervision/cpu_limit.hpp"
#include "cocluster/supervision/crash_loop_guard.hpp"
#include "cocluster/supervision/health.hpp"
#include "cocluster/supervision/restart_backoff.hpp"
#include "cocluster/supervisor/admin_answer.hpp"
#include "cocluster/supervisor/available_cpus.hpp"
#include "cocluster/supervisor/events.hpp"
#include "cocluster/supervisor/options.hpp"
#include "cocluster/supervisor/ready.hpp"

namespace cocluster {

/// A primary's pool of workers for one `cluster`, kept at `size()` ready workers.
///
/// - **Run**: `async_run` forks the pool and completes when the supervisor has stopped — with
///   success after `async_stop`, with `errc::crash_loop` when workers kept failing (turn it into
///   a non-zero exit so that systemd or Kubernetes apply their own restart limits).
/// - **Readiness**: a worker is ready when it listens (`readiness::listening`), or when it says
///   so (`readiness::ready_message`, `report_ready`). One not ready within `boot_timeout` is
///   killed and counts as a failed start.
/// - **Respawn**: a worker that exits without being asked to is replaced after a delay that
///   grows with each consecutive failure of its slot (`backoff_options`), until the crash-loop
///   guard stops the pool. A worker that disconnected itself is replaced at once.
/// - **Reload**: `async_reload` replaces the workers a batch at a time, each old one retired
///   only once its replacement is ready; a failed replacement rolls the pool back to the old
///   release and the reload completes with `errc::reload_failed`. A reload asked for while one
///   runs is queued (one at most: later requests join it, with their changes merged) and runs
///   after it.
/// - **Stop**: `async_stop` disconnects every worker with `drain_timeout`, kills what is left
///   after `kill_timeout`; a second stop kills at once.
/// - **Hang detection**: cocluster workers beat from their event loop; one silent for
///   `heartbeat.timeout` is killed and replaced. Node workers are not checked.
/// - **Signals** (`handle_signals`): SIGTERM/SIGINT stop (the second kills), SIGHUP reloads,
///   SIGTTIN/SIGTTOU add or remove a worker, SIGUSR2 upgrades the primary itself.
/// - **Hot upgrade**: `async_upgrade` starts a new primary (a new release of the program) with
///   the listening sockets; once its pool is ready this one stops gracefully and its run ends.
/// - **PID 1**: a primary that is a container's entry point or a child subreaper reaps the
///   orphans re-parented to it while the pool runs (`supervisor_options::reap_orphans`), and
///   leaves its workers' statuses to the cluster. A PID 1 has no default signal actions: call
///   `handle_signals` or SIGTERM does nothing.
///
/// The cluster must outlive the supervisor, and the supervisor's operations are for the
/// primary. The raw cluster API stays usable beside it (its events report supervised workers as
/// any others), but forks made by hand are not part of the pool.
///
/// @par Example
/// Two workers that report ready, reloaded once, then stopped (`examples/supervised_ready.cpp`):
/// @code
/// cocluster::supervisor_options options;
/// options.workers = 2;
/// options.readiness = cocluster::readiness::ready_message;
/// cocluster::supervisor supervisor(cluster, options);
/// asio::co_spawn(io, supervisor.async_run(), report); // ends after the stop
/// // in a coroutine:
/// co_await supervisor.async_wait_ready();
/// co_await supervisor.async_reload(); // the same program started afresh
/// co_await supervisor.async_stop();
/// @endcode
///
/// @par Thread Safety
/// Use from the thread that runs the cluster's `io_context`.
///
/// @tparam Cluster the `cocluster::cluster<Scheduling, Serialization>` supervised.
template <class Cluster>
class supervisor {
public:
  /// The cluster type.
  using cluster_type = Cluster;
  /// A worker handle.
  using worker_type = typename Cluster::worker_type;
  /// The executor everything runs on.
  using executor_type = asio::any_io_executor;

  /// Makes the supervisor; nothing starts before `async_run`.
  /// @throws std::invalid_argument for options out of range.
  /// @param cluster the primary's cluster; it must outlive the supervisor.
  /// @param options the pool's size, readiness, timeouts and the rest (`supervisor_options`),
  ///   validated here.
  explicit supervisor(Cluster& cluster, supervisor_options options = {})
      : executor_(cluster.get_executor()),
        pool_(std::make_shared<detail::supervisor_pool<Cluster>>(cluster, std::move(options))) {}

  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  /// Ends every wait (`asio::error::operation_aborted`) and subscription; the workers stay with
  /// the cluster (which ends them when it is destroyed).
  ~supervisor() { pool_->detach(); }

  /// The executor.
  /// @return the cluster's executor.
  executor_type get_executor() const noexcept { return executor_; }

  /// Starts the pool (once) and waits until the supervisor has stopped.
  /// @par Completion Signature
  /// `void(std::error_code)`: success after a stop; `errc::crash_loop`; `errc::spawn_failed`
  /// when a fork was refused; `errc::wrong_role` in a worker (with `asio::use_awaitable`, a
  /// `std::system_error` of that code is thrown, as for every `async_*`). The events say what
  /// happened: the `crash_loop` event's reason names the last failure.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_run(Token&& token = {}) {
    return detail::async_once<>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<> report, const std::shared_ptr<pool_type>& pool) {
          pool->run(detail::outcome_of(std::move(report)));
        },
        pool_);
  }

  /// Waits until every slot has had a ready worker (level-triggered: once it happened, at
  /// once).
  /// @par Completion Signature
  /// `void(std::error_code)`: `errc::supervisor_stopped` if the run ended first.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_wait_ready(Token&& token = {}) {
    return detail::async_once<>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<> report, const std::shared_ptr<pool_type>& pool) {
          pool->wait_ready(detail::outcome_of(std::move(report)));
        },
        pool_);
  }

  /// Stops gracefully: every worker is disconnected with `drain_timeout` and killed if still
  /// alive after `kill_timeout`; completes once all have exited. Called while a stop runs, it
  /// kills the workers at once (and waits for the same end).
  /// @par Completion Signature
  /// `void(std::error_code)`.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_stop(Token&& token = {}) {
    return detail::async_once<>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<> report, const std::shared_ptr<pool_type>& pool) {
          pool->stop(detail::outcome_of(std::move(report)));
        },
        pool_);
  }

  /// Rolling reload with the settings changed by `changes` (a new `exec`, `args`, `env`: a new
  /// release; empty: the same program started afresh). Completes once every worker runs it.
  /// @par Completion Signature
  /// `void(std::error_code)`: `errc::reload_failed` (the pool was rolled back; the
  /// `reload_failed` event names the worker and its failure), `std::errc::invalid_argument` for a bad setting (nothing
  /// changed), `errc::supervisor_stopped` when the pool is not running or a stop cut it short.
  /// @param changes the settings of the new release, merged over the cluster's
  ///   (`settings::merged_with`); validated before anything is replaced.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_reload(settings changes = {}, Token&& token = {}) {
    return detail::async_once<>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<> report, const std::shared_ptr<pool_type>& pool,
           const settings& c) { pool->reload(c, detail::outcome_of(std::move(report))); },
        pool_, std::move(changes));
  }

  /// Hot upgrade of the primary itself (nginx's SIGUSR2): runs `supervisor_options::
  /// upgrade_command` (default: this program's command line, by its path, so a binary replaced
  /// there is the new release) with the primary's listening sockets passed as descriptors, and
  /// waits until the new primary's pool is ready. Then this primary tells systemd the new
  /// MAINPID=, stops accepting, stops its workers gracefully, and its `async_run` completes
  /// with success: the program exits and the new primary serves on. README, "Hot upgrade".
  /// @par Completion Signature
  /// `void(std::error_code)`: success once the new primary is ready (this one is stopping);
  /// `errc::upgrade_failed` when it could not start, exited, or was not ready within
  /// `upgrade_timeout` (it was killed; this primary serves on); `errc::supervisor_stopped`
  /// when the pool is not running or a stop cut the upgrade short.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_upgrade(Token&& token = {}) {
    return detail::async_once<>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<> report, const std::shared_ptr<pool_type>& pool) {
          pool->upgrade(detail::outcome_of(std::move(report)));
        },
        pool_);
  }

  /// Sets the pool size: new slots get a worker at once; the newest slots beyond it are
  /// retired gracefully.
  /// @throws std::invalid_argument for 0; std::system_error `errc::supervisor_stopped` once
  /// stopping.
  /// @param workers the new pool size, at least 1.
  void scale(std::size_t workers) { pool_->scale(workers); }

  /// The pool size it keeps.
  /// @return the size from the options (or `available_cpus`), as changed by `scale` and signals.
  std::size_t size() const noexcept { return pool_->size(); }

  /// Workers ready now (replacements not yet ready and retiring workers not counted).
  /// @return the members counted ready by the supervisor's `readiness` and not retiring.
  std::size_t ready_count() const { return pool_->ready_count(); }

  /// True once a stop has begun (`async_stop`, a signal, a crash loop), and after it: the
  /// moment a readiness probe should start failing.
  /// @return whether a stop has begun.
  bool is_stopping() const noexcept { return pool_->is_stopping(); }

  /// The pool's workers (booting or ready; not those retiring), oldest first.
  /// @return copies of their handles.
  std::vector<worker_type> workers() const { return pool_->workers(); }

  /// The cluster's metrics snapshot (`cluster::async_metrics`), in which the pool's workers
  /// carry the supervisor's view: `ready_time` is when the supervisor counted the worker ready
  /// (its `readiness`; none while it boots), and `restarts` counts the workers restarted in its
  /// slot.
  /// @par Completion Signature
  /// `void(std::error_code, cluster_metrics)`: always success.
  /// @throws std::system_error `errc::wrong_role` in a worker.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <
      asio::completion_token_for<void(error_code, cluster_metrics)> Token = asio::use_awaitable_t<>>
  auto async_metrics(Token&& token = {}) {
    return detail::async_once<cluster_metrics>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<cluster_metrics> report, const std::shared_ptr<pool_type>& pool,
           const executor_type& executor) {
          pool->metrics(detail::erased_handler<cluster_metrics>(std::move(report), executor));
        },
        pool_, executor_);
  }

  /// Subscribes to the supervisor's events. The stream ends (`errc::stream_closed`) after
  /// `stopped`.
  /// @return a new subscription, which gets every event from now on.
  event_stream<supervisor_event> subscribe() { return pool_->subscribe(); }

  /// Handles SIGTERM and SIGINT (graceful stop; a second one kills), SIGHUP (rolling reload),
  /// SIGTTIN/SIGTTOU (one worker more/less) and SIGUSR2 (hot upgrade, `async_upgrade`) until
  /// the supervisor stops. Failures are reported as events.
  void handle_signals() { pool_->handle_signals(); }

private:
  using pool_type = detail::supervisor_pool<Cluster>;

  executor_type executor_;
  std::shared_ptr<pool_type> pool_;
};

} // namespace cocluster

#endif // COCLUSTER_SUPERVISOR_HPP
