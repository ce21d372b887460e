// SPDX-License-Identifier: MIT
/// @file
/// systemd's notification protocol (`sd_notify`), the decisions: where NOTIFY_SOCKET points,
/// whether and how often the watchdog wants a ping, and which message a change of the pool
/// sends. Pure functions, no I/O: the supervisor's notifier sends what they say.
#ifndef COCLUSTER_DETAIL_SYSTEMD_NOTIFY_HPP
#define COCLUSTER_DETAIL_SYSTEMD_NOTIFY_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cocluster/detail/systemd/activation.hpp"

namespace cocluster::detail {

/// Where notifications go: a Unix datagram socket's path, or a name in the abstract namespace.
struct notify_target {
  /// The path, or the abstract name without its leading '@'.
  std::string name;
  /// In the abstract namespace (NOTIFY_SOCKET began with '@').
  bool abstract = false;
};

/// Reads NOTIFY_SOCKET (null: unset): an absolute path, or `@name` for the abstract namespace.
/// Nothing for anything else (a relative path, an empty value, systemd 254's `vsock:`), or for a
/// name longer than a Unix socket address holds (`sun_path`, 108 bytes on Linux, the path with
/// its terminating zero and the abstract name after its leading zero).
inline std::optional<notify_target> parse_notify_socket(const char* value) {
  constexpr std::size_t sun_path_size = 108;
  if (!value)
    return std::nullopt;
  const std::string_view text(value);
  if (text.size() < 2 || (text[0] != '/' && text[0] != '@'))
    return std::nullopt;
  notify_target target;
  target.abstract = text[0] == '@';
  target.name = std::string(target.abstract ? text.substr(1) : text);
  if (target.name.size() + 1 > sun_path_size)
    return std::nullopt;
  return target;
}

/// How often to send `WATCHDOG=1`: half of WATCHDOG_USEC (as `sd_watchdog_enabled` advises),
/// when it is set, positive and, if WATCHDOG_PID is set, that pid is `our_pid`; else nothing.
inline std::optional<std::chrono::microseconds> watchdog_interval(const char* usec, const char* pid,
                                                                  long long our_pid) {
  if (!usec)
    return std::nullopt;
  const auto timeout = parse_decimal(usec);
  if (!timeout || *timeout <= 0)
    return std::nullopt;
  if (pid) {
    const auto for_pid = parse_decimal(pid);
    if (!for_pid || *for_pid != our_pid)
      return std::nullopt;
  }
  return std::chrono::microseconds(*timeout / 2 > 0 ? *timeout / 2 : 1);
}

/// What happened to the pool, for the notifications.
enum class pool_change {
  counts,         ///< a worker started, got ready, left, or the size changed
  pool_ready,     ///< every slot has a ready worker, the first time
  reload_started, ///< a rolling reload began
  reload_ended,   ///< it finished, or failed and was rolled back
  stopping,       ///< a graceful stop began
};

/// The notifications of one supervised primary, as changes of its pool come: each call returns
/// the datagram to send, or an empty string when there is nothing new to say.
///
/// - `READY=1` (with `MAINPID=`, so that a service whose main process was not the one systemd
///   started still names the primary; the hot upgrade of the primary will send its successor's)
///   once every worker is ready;
/// - `RELOADING=1` with `MONOTONIC_USEC=` when a reload begins, `READY=1` when it ends (only
///   once the pool was ready: a reload before that must not tell systemd the start is done);
/// - `STOPPING=1` when a stop begins (once; nothing but counts after it);
/// - `STATUS=<ready>/<size> workers ready`, with the phase, whenever that text changes.
class notify_state {
public:
  /// The datagram for `change`, with the pool's counts after it. `monotonic_usec` is
  /// CLOCK_MONOTONIC in microseconds (for RELOADING=1); `pid` the primary's.
  std::string next(pool_change change, std::size_t ready, std::size_t size,
                   std::uint64_t monotonic_usec, long long pid) {
    std::string message;
    if (stopping_) {
      // After STOPPING=1 only the counts change.
    } else if (change == pool_change::pool_ready && !ready_sent_) {
      ready_sent_ = true;
      message = "READY=1\nMAINPID=" + std::to_string(pid) + "\n";
    } else if (change == pool_change::reload_started && !reloading_) {
      reloading_ = true;
      message = "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec) + "\n";
    } else if (change == pool_change::reload_ended && reloading_) {
      reloading_ = false;
      if (ready_sent_)
        message = "READY=1\n";
    } else if (change == pool_change::stopping) {
      stopping_ = true;
      reloading_ = false;
      message = "STOPPING=1\n";
    }
    std::string status = status_text(ready, size);
    if (status != last_status_ || !message.empty()) {
      message += "STATUS=" + status + "\n";
      last_status_ = std::move(status);
    }
    return message;
  }

  /// The STATUS text for these counts in the current phase: "3/4 workers ready" while running,
  /// with ", starting", ", reloading" or ", stopping" otherwise.
  std::string status_text(std::size_t ready, std::size_t size) const {
    std::string text = std::to_string(ready) + "/" + std::to_string(size) + " workers ready";
    if (stopping_)
      text += ", stopping";
    else if (reloading_)
      text += ", reloading";
    else if (!ready_sent_)
      text += ", starting";
    return text;
  }

private:
  bool ready_sent_ = false;
  bool reloading_ = false;
  bool stopping_ = false;
  std::string last_status_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SYSTEMD_NOTIFY_HPP
