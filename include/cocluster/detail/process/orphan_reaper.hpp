// SPDX-License-Identifier: MIT
/// @file
/// Reaps the children of this process that are not its workers: orphans re-parented to a
/// primary that runs as PID 1 or as a child subreaper, which would stay zombies otherwise.
#ifndef COCLUSTER_DETAIL_PROCESS_ORPHAN_REAPER_HPP
#define COCLUSTER_DETAIL_PROCESS_ORPHAN_REAPER_HPP

#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/process/reap_decision.hpp"

namespace cocluster::detail {

/// True when this process is a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`).
inline bool is_child_subreaper() {
  int flag = 0;
  return ::prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) == 0 && flag != 0;
}

/// Reaps exited children that are not workers. On SIGCHLD, and every `backstop` in case signals
/// were merged or missed, it peeks at an exited child with `waitid(P_ALL, WEXITED | WNOHANG |
/// WNOWAIT)` (which leaves it waitable) and reaps it with `waitpid(pid)` only when it is not a
/// live worker (`reap_action_for`), then looks again until no exited child is left. A worker's
/// status stays for its `child_watcher`: when the first exited child is a worker, the reaper
/// stops there and looks again `retry` later, after the watcher has reaped it.
///
/// Use it from one thread, the one that forks the workers, so that a worker is in the list
/// before the reaper can see it exit. Children forked by other code of the process and waited
/// for by pid (`std::system`, `pclose`) would lose their status to it.
class orphan_reaper : public std::enable_shared_from_this<orphan_reaper> {
public:
  /// The pids of the workers whose exit their watchers have not seen yet.
  using worker_pids = std::function<std::vector<pid_t>()>;

  orphan_reaper(asio::any_io_executor executor, worker_pids workers,
                std::chrono::milliseconds backstop = std::chrono::seconds(1),
                std::chrono::milliseconds retry = std::chrono::milliseconds(50))
      : signals_(executor), timer_(executor), workers_(std::move(workers)), backstop_(backstop),
        retry_(retry) {}

  orphan_reaper(const orphan_reaper&) = delete;
  orphan_reaper& operator=(const orphan_reaper&) = delete;

  /// Starts watching SIGCHLD and reaps what is already there.
  void start() {
    running_ = true;
    error_code ec;
    signals_.add(SIGCHLD, ec);
    if (!ec) {
      // Asio's handler is installed without SA_RESTART (flags arrived in Asio 1.24 only):
      // add it, so that the signal does not make other threads' system calls fail with EINTR,
      // and SA_NOCLDSTOP, since only exits matter.
      struct sigaction action;
      if (::sigaction(SIGCHLD, nullptr, &action) == 0 && action.sa_handler != SIG_DFL &&
          action.sa_handler != SIG_IGN) {
        action.sa_flags |= SA_RESTART | SA_NOCLDSTOP;
        ::sigaction(SIGCHLD, &action, nullptr);
      }
    }
    wait_signal(); // (without the signal, the backstop still reaps)
    sweep();
  }

  /// Stops: nothing is reaped any more, and nothing stays pending on the executor.
  void stop() {
    running_ = false;
    error_code ignored;
    signals_.cancel(ignored);
    signals_.clear(ignored);
    timer_.cancel();
  }

  /// How many orphans it reaped.
  std::size_t reaped() const noexcept { return reaped_; }

private:
  void wait_signal() {
    signals_.async_wait([weak = weak_from_this()](error_code ec, int) {
      auto self = weak.lock();
      if (!self || ec || !self->running_)
        return;
      self->sweep();
      self->wait_signal();
    });
  }

  void look_again(std::chrono::milliseconds after) {
    timer_.expires_after(after); // (a look already planned is replaced)
    timer_.async_wait([weak = weak_from_this()](error_code ec) {
      auto self = weak.lock();
      if (!self || ec || !self->running_)
        return;
      self->sweep();
    });
  }

  // Reaps exited children that are not workers until none is left, or until a worker's exit
  // comes first.
  void sweep() {
    bool worker_first = false;
    for (;;) {
      siginfo_t info;
      std::memset(&info, 0, sizeof info);
      int rc;
      do
        rc = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
      while (rc < 0 && errno == EINTR);
      if (rc < 0 || info.si_pid == 0)
        break; // no child at all (ECHILD), or none exited
      const pid_t child = info.si_pid;
      if (reap_action_for(child, workers_()) == reap_action::leave_to_watcher) {
        worker_first = true;
        break;
      }
      int status = 0;
      pid_t reaped;
      do
        reaped = ::waitpid(child, &status, WNOHANG);
      while (reaped < 0 && errno == EINTR);
      if (reaped != child)
        break; // (cannot happen from one thread; never spin)
      ++reaped_;
    }
    look_again(worker_first ? retry_ : backstop_);
  }

  asio::signal_set signals_;
  asio::steady_timer timer_;
  worker_pids workers_;
  std::chrono::milliseconds backstop_;
  std::chrono::milliseconds retry_;
  bool running_ = false;
  std::size_t reaped_ = 0;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_PROCESS_ORPHAN_REAPER_HPP
