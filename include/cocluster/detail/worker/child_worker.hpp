// SPDX-License-Identifier: MIT
/// @file
/// A worker process seen from the primary (Node's `cluster.workers[id]`).
#ifndef COCLUSTER_DETAIL_WORKER_CHILD_WORKER_HPP
#define COCLUSTER_DETAIL_WORKER_CHILD_WORKER_HPP

#include <chrono>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/detail/worker/lifecycle.hpp"
#include "cocluster/detail/worker/worker_impl.hpp"
#include "cocluster/error.hpp"
#include "cocluster/serialization/policy.hpp"
#include "cocluster/worker_state.hpp"

namespace cocluster::detail {

/// The primary's object for one child process: it answers the child's `online` and
/// `exitedAfterDisconnect`, asks the child to disconnect, signals it, and goes `disconnected`
/// when the channel closes.
template <serialization_policy Serialization>
class child_worker final : public worker_impl<Serialization> {
  using base = worker_impl<Serialization>;

public:
  /// Made by the primary role from `init`.
  child_worker(worker_key key, worker_init<Serialization>&& init)
      : base(key, std::move(init), worker_lifecycle::side::primary) {}

  /// False: this object stands for another process.
  bool is_self() const noexcept override { return false; }

private:
  // Sends `disconnect` (with the drain timeout), once, while connected.
  void start_disconnect(std::optional<std::chrono::milliseconds> drain_timeout) override {
    if (!this->lifecycle_.begin_disconnect())
      return;
    auto message = protocol::cluster_message(protocol::act_disconnect);
    if (drain_timeout)
      message[protocol::field_drain_ms] = drain_timeout->count();
    this->requests_.send(std::move(message));
    if (this->observer_)
      this->observer_->worker_disconnect_requested(*this);
  }

  // Signals the process through the watcher, unless it is dead already.
  void do_kill(int signal) override {
    if (this->watcher_ && !this->is_dead())
      this->watcher_->send_signal(signal);
  }

  // The child's `online` and `exitedAfterDisconnect`; other acts go to the observer.
  void on_cluster_message(nlohmann::json&& message, unique_fd fd) override {
    const auto act = protocol::act(message);
    if (act == protocol::act_online) {
      this->cocluster_peer_ = message.contains(protocol::field_peer);
      if (!this->counters_.online_at)
        this->counters_.online_at = std::chrono::system_clock::now();
      this->lifecycle_.online();
      this->online_.set({});
      if (this->observer_)
        this->observer_->worker_online(*this);
    } else if (act == protocol::act_beat) {
      this->last_heartbeat_ = std::chrono::steady_clock::now();
    } else if (act == protocol::act_exited_after_disconnect) {
      this->lifecycle_.peer_leaving();
      if (auto seq = protocol::integer_field(message, "seq"))
        this->requests_.send(protocol::reply_to(*seq));
    } else if (!act.empty() && this->observer_) {
      this->observer_->worker_internal(*this, std::move(message), std::move(fd));
    }
    // Anything else (an unknown act, an unmatched ack) is ignored, as Node does.
  }

  // The channel closed (the state is `disconnected` unless dead): the event, the observer; the
  // error stream ends when the process has exited too.
  void on_disconnected(const lifecycle_step& step) override {
    this->disconnected_.set({});
    if (this->observer_)
      this->observer_->worker_disconnected(*this);
    if (step.gone)
      this->errors_.close(make_error_code(errc::stream_closed));
  }
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_WORKER_CHILD_WORKER_HPP
