// SPDX-License-Identifier: MIT
/// @file
/// This worker process seen from itself (Node's `cluster.worker`).
#ifndef COCLUSTER_DETAIL_WORKER_SELF_WORKER_HPP
#define COCLUSTER_DETAIL_WORKER_SELF_WORKER_HPP

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "cocluster/config.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/detail/worker/lifecycle.hpp"
#include "cocluster/detail/worker/worker_impl.hpp"
#include "cocluster/detail/worker/worker_observer.hpp"
#include "cocluster/error.hpp"
#include "cocluster/exit_status.hpp"
#include "cocluster/serialization/policy.hpp"
#include "cocluster/worker_state.hpp"

namespace cocluster::detail {

/// The worker process's object for itself: it starts online, leaves on its own `disconnect()`
/// or `kill()` (servers closed, `exitedAfterDisconnect` acknowledged by the primary) or on the
/// primary's `disconnect`, and has no exit to wait for.
template <serialization_policy Serialization>
class self_worker final : public worker_impl<Serialization> {
  using base = worker_impl<Serialization>;

public:
  /// Made by the worker role from `init`; starts online.
  self_worker(worker_key key, worker_init<Serialization>&& init)
      : base(key, std::move(init), worker_lifecycle::side::self),
        exit_on_unexpected_disconnect_(init.exit_on_unexpected_disconnect),
        heartbeat_timer_(this->executor_) {
    this->online_.set({});
  }

  /// True: this object stands for this process.
  bool is_self() const noexcept override { return true; }

private:
  // cluster.worker().disconnect(): close the servers, tell the primary, wait for its ack, close.
  void start_disconnect(std::optional<std::chrono::milliseconds> drain_timeout) override {
    if (!this->lifecycle_.begin_disconnect())
      return;
    close_servers_then([](self_worker& self) { self.leave_after_ack(); }, drain_timeout);
  }

  // cluster.worker().kill(): no graceful server close; tell the primary, close, leave (the role
  // exits).
  void do_kill(int) override {
    if (!this->lifecycle_.begin_kill())
      return;
    if (!this->lifecycle_.connected()) {
      leave(exit_timing::now);
      return;
    }
    leave_after_ack();
  }

  // A worker has no exit of its own to wait for: the first wait sets the event to wrong_role.
  void before_exit_wait() override {
    if (!this->exited_.is_set())
      this->exited_.set(make_error_code(errc::wrong_role), exit_status{});
  }

  // The primary's `disconnect`; other acts go to the observer.
  void on_cluster_message(nlohmann::json&& message, unique_fd fd) override {
    const auto act = protocol::act(message);
    if (act == protocol::act_disconnect) {
      std::optional<std::chrono::milliseconds> drain;
      if (auto ms = protocol::integer_field(message, protocol::field_drain_ms))
        drain = std::chrono::milliseconds(*ms);
      disconnect_requested_by_primary(drain);
    } else if (act == protocol::act_heartbeat) {
      if (auto ms = protocol::integer_field(message, protocol::field_interval_ms); ms && *ms > 0)
        start_heartbeats(std::chrono::milliseconds(*ms));
    } else if (this->observer_ && !act.empty()) {
      this->observer_->worker_internal(*this, std::move(message), std::move(fd));
    }
  }

  // The channel closed: the event, the error stream's end, and the leaving when this process
  // was leaving or the close was unexpected.
  void on_disconnected(const lifecycle_step&) override {
    heartbeat_timer_.cancel();
    this->disconnected_.set({});
    this->errors_.close(make_error_code(errc::stream_closed));
    // (a close nobody started left exitedAfterDisconnect false)
    const bool expected = this->lifecycle_.exited_after_disconnect().value_or(false);
    if (this->lifecycle_.how_leaving() == worker_lifecycle::leaving::destroying ||
        (!expected && exit_on_unexpected_disconnect_))
      leave(exit_timing::after_posted_handlers); // the user's disconnect handlers run first
  }

  // A cocluster primary's supervisor asked for heartbeats: one now, then one every `interval`
  // from this process's own event loop, so that a loop blocked by a handler stops them (a side
  // thread would go on beating for a hung worker). A later request changes the interval.
  void start_heartbeats(std::chrono::milliseconds interval) {
    heartbeat_interval_ = interval;
    heartbeat_timer_.cancel();
    beat();
  }

  void beat() {
    if (!this->is_connected())
      return;
    this->requests_.send(protocol::cluster_message(protocol::act_beat));
    heartbeat_timer_.expires_after(heartbeat_interval_);
    std::weak_ptr<base> weak = this->weak_from_this();
    heartbeat_timer_.async_wait([weak](std::error_code ec) {
      if (auto self = weak.lock(); self && !ec)
        static_cast<self_worker&>(*self).beat();
    });
  }

  // Tells the observer (the worker role, which exits) that this process leaves, at `when`.
  void leave(exit_timing when) {
    if (this->observer_)
      this->observer_->process_should_exit(when);
  }

  // The primary sent `disconnect`: close the servers, then the channel (no exitedAfterDisconnect
  // message: the primary already knows).
  void disconnect_requested_by_primary(std::optional<std::chrono::milliseconds> drain_timeout) {
    if (!this->lifecycle_.begin_disconnect())
      return;
    close_servers_then([](self_worker& self) { self.channel_->close_when_flushed(); },
                       drain_timeout);
  }

  // Tells the primary `exitedAfterDisconnect` and closes once it answered (at once when it
  // cannot be sent).
  void leave_after_ack() {
    std::weak_ptr<base> weak = this->weak_from_this();
    const bool sent = this->requests_.send_request(
        protocol::cluster_message(protocol::act_exited_after_disconnect),
        [weak](nlohmann::json&&, unique_fd) {
          if (auto self = weak.lock())
            static_cast<self_worker&>(*self).channel_->close_when_flushed();
        });
    if (!sent)
      this->channel_->close();
  }

  // Asks the observer to close the servers, then runs `then(*this)` if this object still lives.
  template <class Then>
  void close_servers_then(Then then, std::optional<std::chrono::milliseconds> drain_timeout) {
    std::weak_ptr<base> weak = this->weak_from_this();
    auto done = [weak, then] {
      if (auto self = weak.lock())
        then(static_cast<self_worker&>(*self));
    };
    if (this->observer_)
      this->observer_->close_servers(done, drain_timeout);
    else
      done();
  }

  bool exit_on_unexpected_disconnect_;
  asio::steady_timer heartbeat_timer_;
  std::chrono::milliseconds heartbeat_interval_{1000};
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_WORKER_SELF_WORKER_HPP
