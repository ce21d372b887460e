// SPDX-License-Identifier: MIT
/// @file
/// The supervisor's messages to systemd (`sd_notify`, implemented here so that the library stays
/// header-only with no link dependency): readiness, reload, stop and status from the pool's
/// events, and the watchdog's pings from the primary's own event loop. Nothing is sent without
/// NOTIFY_SOCKET.
#ifndef COCLUSTER_DETAIL_SUPERVISOR_SYSTEMD_NOTIFIER_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_SYSTEMD_NOTIFIER_HPP

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "cocluster/config.hpp"
#include "cocluster/detail/systemd/notify.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/supervisor/events.hpp"

namespace cocluster::detail {

/// Sends a supervised primary's notifications to systemd. Made by the pool; inactive (every
/// call does nothing) without NOTIFY_SOCKET, when turned off, or in a worker.
class systemd_notifier : public std::enable_shared_from_this<systemd_notifier> {
public:
  /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (left in the environment: a primary
  /// that re-executes itself finds them again; workers inherit them, and systemd ignores what
  /// they would send under the default `NotifyAccess=main`).
  systemd_notifier(asio::any_io_executor executor, bool enabled) : watchdog_timer_(executor) {
    if (!enabled)
      return;
    const auto target = parse_notify_socket(std::getenv("NOTIFY_SOCKET"));
    if (!target)
      return;
    address_ = sockaddr_un{};
    address_.sun_family = AF_UNIX;
    // An abstract name starts with a zero byte and is as long as the length says.
    const std::size_t offset = target->abstract ? 1 : 0;
    std::memcpy(address_.sun_path + offset, target->name.data(), target->name.size());
    address_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset +
                                             target->name.size() + (target->abstract ? 0 : 1));
    socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    watchdog_ = watchdog_interval(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
                                  ::getpid());
  }

  systemd_notifier(const systemd_notifier&) = delete;
  systemd_notifier& operator=(const systemd_notifier&) = delete;

  /// Whether anything is sent.
  bool active() const noexcept { return static_cast<bool>(socket_); }

  /// The pool runs: the first status, and the watchdog's pings from now on.
  void start(std::size_t size) {
    if (!active())
      return;
    send(state_.next(pool_change::counts, 0, size, 0, ::getpid()));
    if (watchdog_)
      ping();
  }

  /// A supervisor event, with the pool's counts after it.
  void on_event(supervisor_event_type type, std::size_t ready, std::size_t size) {
    if (!active())
      return;
    pool_change change = pool_change::counts;
    switch (type) {
    case supervisor_event_type::pool_ready: change = pool_change::pool_ready; break;
    case supervisor_event_type::reload_started: change = pool_change::reload_started; break;
    case supervisor_event_type::reload_finished:
    case supervisor_event_type::reload_failed: change = pool_change::reload_ended; break;
    case supervisor_event_type::stopping: change = pool_change::stopping; break;
    default: break;
    }
    send(state_.next(change, ready, size, monotonic_usec(), ::getpid()));
    if (type == supervisor_event_type::stopped)
      close();
  }

  /// A hot upgrade succeeded: systemd's main process is `successor` from now on (MAINPID=, which
  /// systemd accepts from the main process under any NotifyAccess=), and this primary says
  /// nothing more: its stop is not the service's.
  void hand_over(pid_t successor) {
    if (active())
      send("MAINPID=" + std::to_string(successor) + "\nREADY=1\n");
    close();
  }

  /// No more messages: the watchdog stops, the socket closes.
  void close() {
    watchdog_.reset();
    watchdog_timer_.cancel();
    socket_.reset();
  }

private:
  static std::uint64_t monotonic_usec() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u +
           static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
  }

  // WATCHDOG=1 now and every interval after, from this loop: a loop that blocks sends none.
  void ping() {
    if (!watchdog_ || !active())
      return;
    send("WATCHDOG=1\n");
    watchdog_timer_.expires_after(*watchdog_);
    watchdog_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
      if (auto self = weak.lock(); self && !ec)
        self->ping();
    });
  }

  // One datagram; never blocks (a full queue loses it, as a watchdog ping may be lost).
  void send(const std::string& message) {
    if (message.empty() || !socket_)
      return;
    ::sendto(socket_.get(), message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
             reinterpret_cast<const sockaddr*>(&address_), address_length_);
  }

  unique_fd socket_;
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
  std::optional<std::chrono::microseconds> watchdog_;
  asio::steady_timer watchdog_timer_;
  notify_state state_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_SYSTEMD_NOTIFIER_HPP
