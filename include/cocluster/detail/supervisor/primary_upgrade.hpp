// SPDX-License-Identifier: MIT
/// @file
/// The hot upgrade of a primary, its I/O: in the old primary, the new primary started with the
/// listening sockets and a ready pipe, and waited for (ready, exited, or too slow: killed); in
/// the new primary, the pipe on which it says that its pool is ready. The decisions (variables,
/// descriptors, the program's path) are in detail/systemd/handover.hpp.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_PRIMARY_UPGRADE_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_PRIMARY_UPGRADE_HPP

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/process/child_watcher.hpp"
#include "cocluster/detail/process/environment.hpp"
#include "cocluster/detail/process/spawn.hpp"
#include "cocluster/detail/systemd/handover.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/exit_status.hpp"

namespace cocluster::detail {

/// The program and arguments of an upgrade: `command` (argv[0] first; empty: this process's
/// command line), with argv[0] resolved now (see `supervisor_options::upgrade_command`). The
/// path is empty when argv[0] cannot be resolved: the upgrade then fails with a message.
struct upgrade_command {
  /// The executable to run.
  std::string path;
  /// argv, argv[0] included.
  std::vector<std::string> argv;

  /// Resolves `command` (empty: `/proc/self/cmdline`) against the working directory and PATH
  /// of this moment.
  static upgrade_command resolve(std::vector<std::string> command) {
    upgrade_command result;
    result.argv = command.empty() ? self_command_line() : std::move(command);
    if (result.argv.empty())
      return result;
    std::string cwd(4096, '\0');
    if (::getcwd(cwd.data(), cwd.size()) == nullptr)
      cwd.clear();
    cwd.resize(cwd.find('\0') == std::string::npos ? cwd.size() : cwd.find('\0'));
    const std::string& name = result.argv.front();
    const char* search = std::getenv("PATH");
    if (auto path = upgrade_program(name, cwd))
      result.path = *path;
    else if (!name.empty())
      result.path = find_executable(name, search ? search : "").value_or("");
    return result;
  }
};

/// One hot upgrade in flight, in the old primary. `start` runs the new primary; `on_end` is
/// called once: with no failure when the new primary said it is ready, else with why (it could
/// not be started, exited, closed its pipe and exited, or was not ready within the timeout; it
/// was killed then, and is reaped here).
class primary_upgrade : public std::enable_shared_from_this<primary_upgrade> {
public:
  /// The end: the new primary's pid, and the failure in words (empty: it is ready).
  using end_callback = std::function<void(pid_t, const std::string&)>;

  explicit primary_upgrade(asio::any_io_executor executor)
      : executor_(executor), ready_pipe_(executor), timer_(executor) {}

  primary_upgrade(const primary_upgrade&) = delete;
  primary_upgrade& operator=(const primary_upgrade&) = delete;

  /// Starts the new primary: `command` with `sockets` as its descriptors from 3, this process's
  /// environment with the hand-over variables, and the ready pipe. Returns its pid (-1 when the
  /// start failed: `on_end` comes from the executor with why).
  pid_t start(const upgrade_command& command, const std::vector<handover_socket>& sockets,
              std::chrono::milliseconds timeout, end_callback on_end) {
    on_end_ = std::move(on_end);
    if (command.path.empty()) {
      fail_later("cannot find the program to run (" +
                 (command.argv.empty() ? std::string("no command") : command.argv.front()) + ")");
      return -1;
    }
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
      fail_later(std::string("pipe: ") + std::error_code(errno, std::system_category()).message());
      return -1;
    }
    unique_fd read_end(ends[0]), write_end(ends[1]);

    std::vector<int> fds;
    std::vector<std::string> names;
    for (const auto& s : sockets) {
      fds.push_back(s.fd);
      names.push_back(s.name);
    }
    int ready_target = -1;
    spawn_request request;
    request.path = command.path;
    request.argv = command.argv;
    request.fds = handover_descriptors(fds, write_end.get(), ready_target);
    std::vector<std::string> current;
    for (const auto& [name, value] : current_environment())
      current.push_back(name + "=" + value);
    request.env = handover_environment(current, names, ready_target, ::getpid());
    request.parent_death_signal = 0; // it outlives this primary
    auto started = spawn(request);
    write_end.reset(); // the new primary's only: its exit closes the pipe
    if (started.error) {
      if (started.pid > 0) {
        int status = 0;
        while (::waitpid(started.pid, &status, 0) < 0 && errno == EINTR) {
        }
      }
      fail_later(std::string(to_string(started.failed_step)) + " " + command.path + ": " +
                 started.error.message());
      return -1;
    }
    pid_ = started.pid;
    ready_pipe_.assign(read_end.release());
    watcher_ = std::make_shared<child_watcher>(executor_, started.pid, std::move(started.pidfd));
    std::weak_ptr<primary_upgrade> weak = weak_from_this();
    watcher_->start([weak](wait_status status) {
      if (auto self = weak.lock()) {
        exit_status exit;
        exit.code = status.code;
        exit.signal = status.signal;
        self->exited_ = true;
        self->finish("the new primary (pid " + std::to_string(self->pid_) + ") exited before it " +
                     "was ready: " + exit.to_string());
      }
    });
    timer_.expires_after(timeout);
    timer_.async_wait([weak, timeout](std::error_code ec) {
      if (auto self = weak.lock(); self && !ec)
        self->finish("the new primary (pid " + std::to_string(self->pid_) +
                     ") was not ready within the upgrade timeout of " +
                     std::to_string(timeout.count()) + " ms");
    });
    read_ready();
    return pid_;
  }

  /// The new primary's pid (-1 before it started).
  pid_t pid() const noexcept { return pid_; }

  /// Gives up (this primary stops, or the supervisor goes away): the new primary is killed.
  void abandon(const std::string& why) { finish(why); }

private:
  void fail_later(std::string what) {
    asio::post(executor_,
               [self = shared_from_this(), what = std::move(what)] { self->finish(what); });
  }

  // Reads the pipe until the message; an end of file leaves it to the exit or the timer.
  void read_ready() {
    ready_pipe_.async_read_some(asio::buffer(buffer_), [weak = weak_from_this()](std::error_code ec,
                                                                                 std::size_t n) {
      auto self = weak.lock();
      if (!self || self->ended_)
        return;
      if (ec)
        return; // closed: the exit or the timer ends it
      self->received_.append(self->buffer_.data(), n);
      if (self->received_.find(handover_ready_message) != std::string::npos) {
        self->finish("");
        return;
      }
      if (self->received_.size() > 4096)
        self->received_.erase(0, self->received_.size() - 64);
      self->read_ready();
    });
  }

  // The end, once. A failed new primary is killed, and reaped by the watcher's wait, which
  // outlives this object; a ready one is left alone: it outlives this primary, which no longer
  // waits for it.
  void finish(const std::string& failure) {
    if (ended_)
      return;
    ended_ = true;
    timer_.cancel();
    error_code ignored;
    ready_pipe_.close(ignored);
    if (watcher_) {
      if (failure.empty()) {
        watcher_->cancel();
      } else if (!exited_) {
        watcher_->send_signal(SIGKILL);
      }
    }
    if (auto done = std::move(on_end_)) {
      on_end_ = nullptr;
      done(pid_, failure);
    }
  }

  asio::any_io_executor executor_;
  asio::posix::stream_descriptor ready_pipe_;
  asio::steady_timer timer_;
  std::shared_ptr<child_watcher> watcher_;
  std::array<char, 64> buffer_{};
  std::string received_;
  end_callback on_end_;
  pid_t pid_ = -1;
  bool ended_ = false;
  bool exited_ = false;
};

/// In a primary started by a hot upgrade: the pipe on which it tells its predecessor that its
/// pool is ready. Taken from the environment (the variables are unset) when the supervisor is
/// made; nothing in any other process.
class upgrade_ready_pipe {
public:
  /// Reads COCLUSTER_UPGRADE_READY_FD and COCLUSTER_LISTEN_PARENT (for our parent only) and
  /// unsets both; the descriptor becomes close-on-exec (no worker inherits it).
  static upgrade_ready_pipe from_environment() {
    upgrade_ready_pipe result;
    const auto fd = parse_handover_ready(std::getenv(handover_ready_variable),
                                         std::getenv(handover_parent_variable),
                                         static_cast<long long>(::getppid()));
    ::unsetenv(handover_ready_variable);
    ::unsetenv(handover_parent_variable);
    if (!fd)
      return result;
    const int flags = ::fcntl(*fd, F_GETFD);
    if (flags < 0)
      return result; // not open
    ::fcntl(*fd, F_SETFD, flags | FD_CLOEXEC);
    result.fd_.reset(*fd);
    return result;
  }

  /// Whether this primary was started by an upgrade and has not reported yet.
  bool pending() const noexcept { return static_cast<bool>(fd_); }

  /// The pool is ready: the predecessor hears it, and the pipe closes.
  void report_ready() {
    if (!fd_)
      return;
    const auto message = handover_ready_message;
    ssize_t n;
    do
      n = ::write(fd_.get(), message.data(), message.size());
    while (n < 0 && errno == EINTR);
    fd_.reset();
  }

private:
  unique_fd fd_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_PRIMARY_UPGRADE_HPP
