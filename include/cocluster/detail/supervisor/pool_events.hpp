// SPDX-License-Identifier: MIT
/// @file
/// `pool_events`: where a pool's events go: every subscriber's stream, and systemd's notifier
/// (which turns them into READY=1, RELOADING=1, STOPPING=1 and STATUS= when systemd listens).
#ifndef COCLUSTER_DETAIL_SUPERVISOR_POOL_EVENTS_HPP
#define COCLUSTER_DETAIL_SUPERVISOR_POOL_EVENTS_HPP

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/event_hub.hpp"
#include "cocluster/detail/supervisor/member_set.hpp"
#include "cocluster/detail/supervisor/systemd_notifier.hpp"
#include "cocluster/error.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/supervisor/events.hpp"

namespace cocluster::detail {

/// The events of one pool.
template <class Cluster>
class pool_events {
public:
  using member = typename member_set<Cluster>::member;

  /// @param executor where the streams deliver
  /// @param notifier systemd's notifier
  /// @param members the pool's members (for the ready count systemd is told)
  /// @param size the pool's size (it outlives these events)
  pool_events(asio::any_io_executor executor, std::shared_ptr<systemd_notifier> notifier,
              const member_set<Cluster>& members, const std::size_t& size)
      : hub_(std::move(executor)), notifier_(std::move(notifier)), members_(members), size_(size) {}

  /// Reports `event`.
  void publish(supervisor_event event) {
    notifier_->on_event(event.type, members_.ready_count(), size_); // (systemd, if it listens)
    hub_.publish(std::move(event));
  }

  /// Reports an event of member `m`.
  /// @param type what happened
  /// @param m the member
  /// @param reason why, in words
  void publish(supervisor_event_type type, const member& m, std::string reason) {
    publish(supervisor_event::of_worker(type, m.worker.id(), m.worker.pid(), m.state.slot(), size_,
                                        std::move(reason)));
  }

  /// A callback that reports an event (for the pool's parts).
  std::function<void(supervisor_event)> publisher() {
    return [this](supervisor_event event) { publish(std::move(event)); };
  }

  /// A new subscriber's stream.
  event_stream<supervisor_event> subscribe() {
    return event_stream<supervisor_event>(hub_.subscribe());
  }

  /// Every stream ends (`stream_closed`).
  void close() { hub_.close(make_error_code(errc::stream_closed)); }

private:
  event_hub<supervisor_event> hub_;
  std::shared_ptr<systemd_notifier> notifier_;
  const member_set<Cluster>& members_;
  const std::size_t& size_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SUPERVISOR_POOL_EVENTS_HPP
