// SPDX-License-Identifier: MIT
/// @file
/// Starts a worker process without copying the primary's page tables.
///
/// `fork()` copies the parent's page tables, so its cost grows with the parent's memory (10.8 ms
/// at 256 MiB RSS, against 1.2 ms for `posix_spawn`). `posix_spawn` cannot drop privileges or set
/// a parent-death signal, so this does what glibc's `posix_spawn` does — `clone(CLONE_VM |
/// CLONE_VFORK)` on a small stack of its own — with the steps cocluster needs. `CLONE_PIDFD`
/// gives a process descriptor with no pid-reuse race.
///
/// The child shares the parent's memory until `execve`, so it runs only raw system calls on data
/// prepared beforehand (no allocation, no locks, no sanitizer instrumentation), with every signal
/// blocked until its handlers are reset. A failure is written to shared memory: the parent reads
/// it once the child has called `execve` or exited.
#ifndef COCLUSTER_DETAIL_PROCESS_SPAWN_HPP
#define COCLUSTER_DETAIL_PROCESS_SPAWN_HPP

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/detail/unique_fd.hpp"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#if defined(__clang__)
#define COCLUSTER_NO_SANITIZE \
  __attribute__((no_sanitize("address", "undefined", "memory", "thread")))
#elif defined(__GNUC__)
#define COCLUSTER_NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize_undefined))
#else
#define COCLUSTER_NO_SANITIZE
#endif

namespace cocluster::detail {

/// What to start.
struct spawn_request {
  /// Path of the executable (already resolved: no PATH search happens in the child).
  std::string path;
  /// argv, argv[0] included.
  std::vector<std::string> argv;
  /// The whole environment, as "NAME=value".
  std::vector<std::string> env;
  /// Working directory of the child, if not the primary's.
  std::optional<std::string> cwd;
  /// Descriptors of the child: (descriptor in the child, descriptor in the primary). Every other
  /// descriptor is closed in the child.
  std::vector<std::pair<int, int>> fds;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  /// Signal the child gets when the primary dies (0: none).
  int parent_death_signal = SIGKILL;
};

/// The step of the child's setup that failed.
enum class spawn_step { none, clone, parent_died, setgid, setuid, chdir, fds, exec };

inline const char* to_string(spawn_step step) {
  switch (step) {
  case spawn_step::none: return "spawn";
  case spawn_step::clone: return "clone";
  case spawn_step::parent_died: return "prctl(PR_SET_PDEATHSIG)";
  case spawn_step::setgid: return "setgid";
  case spawn_step::setuid: return "setuid";
  case spawn_step::chdir: return "chdir";
  case spawn_step::fds: return "dup2";
  case spawn_step::exec: return "execve";
  }
  return "spawn";
}

/// What happened. When `error` is set and `pid` > 0, the child exited with 127 and is still to
/// be reaped.
struct spawn_result {
  pid_t pid = -1;
  unique_fd pidfd;
  std::error_code error;
  spawn_step failed_step = spawn_step::none;
};

namespace spawn_child {

// Everything the child needs, in memory it shares with the parent.
struct plan {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* cwd;
  int* targets;
  int* sources;
  int fd_count;
  int first_free_fd; // one above every target
  bool set_uid;
  bool set_gid;
  uid_t uid;
  gid_t gid;
  int parent_death_signal;
  pid_t parent;
  // Written by the child.
  int error;
  spawn_step step;
};

[[noreturn]] COCLUSTER_NO_SANITIZE inline void fail(plan* p, spawn_step step) {
  p->error = errno;
  p->step = step;
  ::syscall(SYS_exit, 127);
  __builtin_unreachable();
}

COCLUSTER_NO_SANITIZE inline int main(void* argument) {
  plan* p = static_cast<plan*>(argument);

  // Default handlers for every signal (a kernel sigaction of all zeros is SIG_DFL), as Node
  // does; the primary's handlers must never run in this shared address space.
  unsigned long default_action[4] = {0, 0, 0, 0};
  for (long sig = 1; sig < 65; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP)
      ::syscall(SYS_rt_sigaction, sig, default_action, nullptr, 8L);

  if (p->parent_death_signal != 0) {
    ::syscall(SYS_prctl, PR_SET_PDEATHSIG, static_cast<long>(p->parent_death_signal), 0L, 0L, 0L);
    if (::syscall(SYS_getppid) != p->parent) {
      errno = ESRCH;
      fail(p, spawn_step::parent_died);
    }
  }

  if (p->set_uid || p->set_gid)
    ::syscall(SYS_setgroups, 0L, nullptr); // only root may; otherwise harmless EPERM
  if (p->set_gid && ::syscall(SYS_setgid, static_cast<long>(p->gid)) != 0)
    fail(p, spawn_step::setgid);
  if (p->set_uid && ::syscall(SYS_setuid, static_cast<long>(p->uid)) != 0)
    fail(p, spawn_step::setuid);

  if (p->cwd != nullptr && ::syscall(SYS_chdir, p->cwd) != 0)
    fail(p, spawn_step::chdir);

  // Move every source that could be overwritten out of the way, then place them.
  for (int i = 0; i < p->fd_count; ++i) {
    if (p->sources[i] != p->targets[i] && p->sources[i] < p->first_free_fd) {
      const long moved = ::syscall(SYS_fcntl, p->sources[i], F_DUPFD_CLOEXEC, p->first_free_fd);
      if (moved < 0)
        fail(p, spawn_step::fds);
      p->sources[i] = static_cast<int>(moved);
    }
  }
  for (int i = 0; i < p->fd_count; ++i) {
    if (p->sources[i] == p->targets[i]) {
      if (::syscall(SYS_fcntl, p->targets[i], F_SETFD, 0L) != 0)
        fail(p, spawn_step::fds);
    } else if (::syscall(SYS_dup3, p->sources[i], p->targets[i], 0L) < 0) {
      fail(p, spawn_step::fds);
    }
  }

  // No other descriptor of the primary reaches the child, close-on-exec or not.
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, static_cast<unsigned>(p->first_free_fd), ~0U, 0U) != 0)
#endif
  {
    unsigned long limit[2] = {1024, 1024};
    ::syscall(SYS_getrlimit, RLIMIT_NOFILE, limit);
    const unsigned long last = limit[0] < (1UL << 20) ? limit[0] : (1UL << 20);
    for (unsigned long fd = static_cast<unsigned long>(p->first_free_fd); fd < last; ++fd)
      ::syscall(SYS_close, fd);
  }

  unsigned long empty_mask = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, nullptr, 8L);
  ::syscall(SYS_execve, p->path, p->argv, p->envp);
  fail(p, spawn_step::exec);
}

} // namespace spawn_child

/// Starts the process described by `request`.
inline spawn_result spawn(const spawn_request& request) {
  std::vector<char*> argv;
  for (const auto& arg : request.argv)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& entry : request.env)
    envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  std::vector<int> targets, sources;
  int first_free = 3;
  for (const auto& [target, source] : request.fds) {
    targets.push_back(target);
    sources.push_back(source);
    first_free = std::max(first_free, target + 1);
  }

  spawn_child::plan plan{};
  plan.path = request.path.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.cwd = request.cwd ? request.cwd->c_str() : nullptr;
  plan.targets = targets.data();
  plan.sources = sources.data();
  plan.fd_count = static_cast<int>(targets.size());
  plan.first_free_fd = first_free;
  plan.set_uid = request.uid.has_value();
  plan.set_gid = request.gid.has_value();
  plan.uid = request.uid.value_or(0);
  plan.gid = request.gid.value_or(0);
  plan.parent_death_signal = request.parent_death_signal;
  plan.parent = ::getpid();
  plan.error = 0;
  plan.step = spawn_step::none;

  spawn_result result;
  constexpr std::size_t stack_size = 64 * 1024;
  void* stack = ::mmap(nullptr, stack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    result.error.assign(errno, std::system_category());
    result.failed_step = spawn_step::clone;
    return result;
  }
  void* stack_top = static_cast<char*>(stack) + stack_size;

  sigset_t all, previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  int pidfd = -1;
  pid_t pid = ::clone(spawn_child::main, stack_top, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                      &plan, &pidfd);
  int clone_errno = errno;
  if (pid < 0 && clone_errno == EINVAL) { // a kernel before 5.2: no CLONE_PIDFD
    pid = ::clone(spawn_child::main, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
    clone_errno = errno;
    pidfd = -1;
    if (pid > 0)
      pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); // -1 before 5.3
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::munmap(stack, stack_size);

  if (pid < 0) {
    result.error.assign(clone_errno, std::system_category());
    result.failed_step = spawn_step::clone;
    return result;
  }
  result.pid = pid;
  result.pidfd.reset(pidfd);
  if (plan.step != spawn_step::none) {
    result.error.assign(plan.error, std::system_category());
    result.failed_step = plan.step;
  }
  return result;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_PROCESS_SPAWN_HPP
