// SPDX-License-Identifier: MIT
/// @file
/// Waits for one child process to exit, reaps it, and sends it signals.
#ifndef COCLUSTER_DETAIL_PROCESS_CHILD_WATCHER_HPP
#define COCLUSTER_DETAIL_PROCESS_CHILD_WATCHER_HPP

#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>

#include "cocluster/config.hpp"
#include "cocluster/detail/unique_fd.hpp"

namespace cocluster::detail {

/// The raw result of `waitpid`: an exit code or a signal.
struct wait_status {
  std::optional<int> code;
  std::optional<int> signal;
};

/// Watches one child. With a pidfd (Linux 5.3+) it waits on the descriptor's readability; without
/// one it polls `waitpid(WNOHANG)`, so no process-wide SIGCHLD handler is ever installed.
class child_watcher : public std::enable_shared_from_this<child_watcher> {
public:
  child_watcher(asio::any_io_executor executor, pid_t pid, unique_fd pidfd)
      : executor_(executor), pid_(pid), pidfd_(executor), poll_timer_(executor) {
    if (pidfd)
      pidfd_.assign(pidfd.release());
  }

  child_watcher(const child_watcher&) = delete;
  child_watcher& operator=(const child_watcher&) = delete;

  /// Calls `on_exit` once, from the executor, when the child has exited and been reaped.
  void start(std::function<void(wait_status)> on_exit) {
    on_exit_ = std::move(on_exit);
    wait();
  }

  /// Stops watching (the owner is going away); the child is not reaped by this object then.
  void cancel() {
    on_exit_ = nullptr;
    error_code ignored;
    pidfd_.cancel(ignored);
    poll_timer_.cancel();
  }

  /// Sends `signal` unless the child was already reaped (so a recycled pid is never hit).
  /// Returns the error of `kill`, if any.
  std::error_code send_signal(int signal) {
    if (reaped_)
      return make_error_code(std::errc::no_such_process);
    long rc;
    if (pidfd_.is_open())
      rc = ::syscall(SYS_pidfd_send_signal, pidfd_.native_handle(), signal, nullptr, 0U);
    else
      rc = ::kill(pid_, signal);
    if (rc != 0)
      return {errno, std::system_category()};
    return {};
  }

  /// The child's pid.
  pid_t pid() const noexcept { return pid_; }

  /// True once the child was reaped.
  bool reaped() const noexcept { return reaped_; }

  /// Reaps the child now if it already exited (used when a spawn failed: the child is known to
  /// have exited). Returns true if it was reaped.
  bool try_reap() { return reap(); }

private:
  void wait() {
    if (pidfd_.is_open()) {
      pidfd_.async_wait(asio::posix::descriptor_base::wait_read,
                        [self = shared_from_this()](error_code ec) {
                          if (ec == asio::error::operation_aborted || !self->on_exit_)
                            return;
                          if (!self->reap())
                            self->wait();
                        });
    } else {
      poll_timer_.expires_after(std::chrono::milliseconds(20));
      poll_timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (ec == asio::error::operation_aborted || !self->on_exit_)
          return;
        if (!self->reap())
          self->wait();
      });
    }
  }

  bool reap() {
    if (reaped_)
      return true;
    int status = 0;
    pid_t r;
    do
      r = ::waitpid(pid_, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
      return false;
    reaped_ = true;
    wait_status result;
    if (r < 0) {
      // Someone else reaped it (a waitpid(-1) elsewhere in the process): the status is lost.
      result.code = -1;
    } else if (WIFEXITED(status)) {
      result.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result.signal = WTERMSIG(status);
    }
    error_code ignored;
    pidfd_.close(ignored);
    if (on_exit_) {
      auto on_exit = std::move(on_exit_);
      on_exit_ = nullptr;
      on_exit(result);
    }
    return true;
  }

  asio::any_io_executor executor_;
  pid_t pid_;
  asio::posix::stream_descriptor pidfd_;
  asio::steady_timer poll_timer_;
  std::function<void(wait_status)> on_exit_;
  bool reaped_ = false;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_PROCESS_CHILD_WATCHER_HPP
