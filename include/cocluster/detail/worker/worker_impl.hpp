// SPDX-License-Identifier: MIT
/// @file
/// One worker's lifecycle, seen from the primary or from the worker itself. Users hold it through
/// the `basic_worker` handle.
#ifndef COCLUSTER_DETAIL_WORKER_WORKER_IMPL_HPP
#define COCLUSTER_DETAIL_WORKER_WORKER_IMPL_HPP

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/event_hub.hpp"
#include "cocluster/detail/async/oneshot_event.hpp"
#include "cocluster/detail/ipc/channel.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/ipc/requests.hpp"
#include "cocluster/detail/ipc/routing.hpp"
#include "cocluster/detail/process/child_watcher.hpp"
#include "cocluster/detail/process/signal_names.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/detail/worker/lifecycle.hpp"
#include "cocluster/detail/worker/worker_counters.hpp"
#include "cocluster/detail/worker/worker_observer.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/error.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/events.hpp"
#include "cocluster/exit_status.hpp"
#include "cocluster/serialization/policy.hpp"
#include "cocluster/worker_state.hpp"

namespace cocluster {

namespace detail {

template <serialization_policy Serialization>
class worker_impl;

/// Everything a worker object is made from; only the cluster makes workers.
template <serialization_policy S>
struct worker_init {
  asio::any_io_executor executor;
  int id = 0;
  pid_t pid = -1;
  std::shared_ptr<channel<S>> ipc;
  std::shared_ptr<child_watcher> watcher;
  sequence* seq = nullptr;
  worker_observer<worker_impl<S>>* observer = nullptr;
  /// Set when the process could not be started.
  worker_error spawn_failure;
  /// Pipes of `stdio_entry::pipe` entries: (descriptor in the worker, primary's end).
  std::map<int, unique_fd> stdio_pipes;
  bool exit_on_unexpected_disconnect = true;
  /// The pool slot the worker was forked into (`fork_options::slot`), if any.
  std::optional<int> slot;
};

/// The state and behaviour behind a `basic_worker` handle (which documents what users see) that
/// are the same on both sides: identity, state, the one-shot events and the subscriptions, user
/// messages, error reports, and the internal requests. The channel's callbacks and Node's
/// internal `cluster` messages drive it. What differs by side is in the two kinds made from it:
/// `child_worker` (a worker process seen from the primary) and `self_worker` (this worker
/// process seen from itself), which implement the lifecycle hooks below. Owned by the cluster's
/// registry until the worker has both disconnected and exited, and by every handle and pending
/// wait.
template <serialization_policy Serialization>
class worker_impl : public std::enable_shared_from_this<worker_impl<Serialization>> {
public:
  /// The policy's value type.
  using value_type = typename Serialization::value_type;
  /// The policy.
  using serialization_type = Serialization;

  /// Made by the cluster, as one of the two kinds (`whose`), from `init`.
  worker_impl(detail::worker_key, detail::worker_init<Serialization>&& init,
              detail::worker_lifecycle::side whose)
      : executor_(init.executor), id_(init.id), pid_(init.pid), channel_(std::move(init.ipc)),
        watcher_(std::move(init.watcher)), observer_(init.observer),
        spawn_failure_(std::move(init.spawn_failure)), slot_(init.slot),
        requests_(*channel_, *init.seq,
                  [this](std::error_code ec, const std::string& what) {
                    report_error({ec, what});
                  }),
        lifecycle_(whose), online_(executor_), listening_(executor_), disconnected_(executor_),
        exited_(executor_), messages_(executor_), handle_messages_(executor_), errors_(executor_),
        listening_events_(executor_), routed_messages_(executor_) {
    for (auto& [index, fd] : init.stdio_pipes)
      stdio_pipes_.emplace(index, asio::posix::stream_descriptor(executor_, fd.release()));
  }

  worker_impl(const worker_impl&) = delete;
  worker_impl& operator=(const worker_impl&) = delete;

  virtual ~worker_impl() { detach(); }

  // ---- identity and state ----

  /// The id the cluster gave.
  int id() const noexcept { return id_; }

  /// The pid the cluster gave.
  pid_t pid() const noexcept { return pid_; }

  /// The current state.
  worker_state state() const noexcept { return lifecycle_.state(); }

  /// The pool slot it was forked into, if any (workers of one slot share reuse_port sockets).
  std::optional<int> slot() const noexcept { return slot_; }

  /// Set to true on the disconnect and kill paths (either side's), to false by the channel's
  /// close or the process's exit when still empty.
  std::optional<bool> exited_after_disconnect() const noexcept {
    return lifecycle_.exited_after_disconnect();
  }

  /// Not yet disconnected, and the channel still open.
  bool is_connected() const noexcept { return lifecycle_.connected() && channel_->is_open(); }

  /// The state is `dead`.
  bool is_dead() const noexcept { return lifecycle_.state() == worker_state::dead; }

  /// Disconnected and exited both: Node's removeWorker drops it from the registry.
  bool is_gone() const noexcept { return lifecycle_.gone(); }

  /// True for the object that represents this process (`cluster.worker()`): a `self_worker`.
  virtual bool is_self() const noexcept = 0;

  /// Set when the exit is seen.
  const std::optional<exit_status>& status() const noexcept { return exit_status_; }

  /// The pipe kept from `worker_init::stdio_pipes` for `index`, or null.
  asio::posix::stream_descriptor* stdio_pipe(int index) {
    auto it = stdio_pipes_.find(index);
    return it == stdio_pipes_.end() ? nullptr : &it->second;
  }

  // ---- messages ----

  /// Hands the message to the channel's write queue (it throws what the channel throws).
  bool send(const value_type& message) { return channel_->send(message); }

  /// Hands the message and its handle to the channel (it throws what the channel throws).
  bool send(const value_type& message, handle h) {
    return channel_->send_with_handle(message, std::move(h));
  }

  /// `send` of the policy's conversion of `message`.
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, value_type>)
  bool send(const T& message) {
    return send(Serialization::to_value(message));
  }

  /// Queues the message (with its handle, if not empty), then waits for the channel's flush; a
  /// refused send completes the handler at once with its error code.
  template <class Token = asio::use_awaitable_t<>>
  auto async_send(value_type message, Token&& token = {}) {
    return async_send(std::move(message), handle(), std::forward<Token>(token));
  }

  /// `async_send` with a handle (empty: none).
  template <class Token = asio::use_awaitable_t<>>
  auto async_send(value_type message, handle h, Token&& token = {}) {
    return asio::async_initiate<Token, void(error_code)>(
        [self = this->shared_from_this()](auto handler, value_type m, handle with) {
          try {
            if (with)
              self->channel_->send_with_handle(m, std::move(with));
            else
              self->channel_->send(m);
          } catch (const std::system_error& e) {
            detail::erased_handler<>(std::move(handler), self->executor_).complete(e.code());
            return;
          }
          self->channel_->async_flush(std::move(handler));
        },
        token, std::move(message), std::move(h));
  }

  /// The channel's drain wait.
  template <class Token = asio::use_awaitable_t<>>
  auto async_drain(Token&& token = {}) {
    return channel_->async_drain(std::forward<Token>(token));
  }

  /// The channel's queued bytes.
  std::size_t queued_bytes() const noexcept { return channel_->queued_bytes(); }

  /// A subscription to the message hub; it takes the unclaimed backlog with it.
  event_stream<value_type> subscribe(event::message_t) {
    auto backlog = std::move(unclaimed_);
    unclaimed_.clear();
    return event_stream<value_type>(messages_.subscribe(std::move(backlog)));
  }

  /// A subscription to the hub of messages with handles; it takes their unclaimed backlog.
  event_stream<handle_message<value_type>> subscribe(event::handle_message_t) {
    auto backlog = std::move(unclaimed_handles_);
    unclaimed_handles_.clear();
    return event_stream<handle_message<value_type>>(handle_messages_.subscribe(std::move(backlog)));
  }

  /// A subscription to the messages other workers routed to this one; it takes their
  /// unclaimed backlog.
  event_stream<routed_message<value_type>> subscribe(event::routed_message_t) {
    auto backlog = std::move(unclaimed_routed_);
    unclaimed_routed_.clear();
    return event_stream<routed_message<value_type>>(routed_messages_.subscribe(std::move(backlog)));
  }

  /// A subscription to the error hub (closed once disconnected and exited).
  event_stream<worker_error> subscribe(event::error_t) {
    return event_stream<worker_error>(errors_.subscribe());
  }

  /// A subscription to the listening hub (closed with the channel).
  event_stream<listen_address> subscribe(event::listening_t) {
    return event_stream<listen_address>(listening_events_.subscribe());
  }

  // ---- lifecycle actions ----

  /// In the primary, sends `disconnect` (with the drain timeout); in the worker, closes the
  /// servers and leaves after the primary's ack. Once only.
  worker_impl& disconnect(std::optional<std::chrono::milliseconds> drain_timeout = std::nullopt) {
    start_disconnect(drain_timeout);
    return *this;
  }

  /// True when the peer is a cocluster process (it said so in `online`): it can take several
  /// connections in flight.
  bool is_cocluster_peer() const noexcept { return cocluster_peer_; }

  /// When the worker last reported a heartbeat (`request_heartbeats`), if it has.
  std::optional<std::chrono::steady_clock::time_point> last_heartbeat() const noexcept {
    return last_heartbeat_;
  }

  /// Checks the signal, then signals the process through the watcher (primary) or leaves
  /// (worker).
  void kill(int signal = SIGTERM) {
    if (!detail::is_valid_signal(signal))
      throw std::invalid_argument("cocluster: worker.kill: " + std::to_string(signal) +
                                  " is not a signal");
    do_kill(signal);
  }

  /// `kill` of the signal's number.
  void kill(std::string_view signal_name) {
    auto number = detail::signal_number(signal_name);
    if (!number)
      throw std::invalid_argument("cocluster: worker.kill: unknown signal '" +
                                  std::string(signal_name) + "'");
    kill(*number);
  }

  // ---- lifecycle events ----

  /// Waits on the `online_` event (set by the peer's `online`, at construction for this
  /// process's own object, or with an error at exit).
  template <class Token = asio::use_awaitable_t<>>
  auto async_wait_online(Token&& token = {}) {
    return online_.async_wait(std::forward<Token>(token), this->shared_from_this());
  }

  /// Waits on the `listening_` event (set by `mark_listening`, or with an error at exit).
  template <class Token = asio::use_awaitable_t<>>
  auto async_wait_listening(Token&& token = {}) {
    return listening_.async_wait(std::forward<Token>(token), this->shared_from_this());
  }

  /// Waits on the `disconnected_` event (set when the channel closes).
  template <class Token = asio::use_awaitable_t<>>
  auto async_wait_disconnect(Token&& token = {}) {
    return disconnected_.async_wait(std::forward<Token>(token), this->shared_from_this());
  }

  /// Waits on the `exited_` event (set at exit; the worker's own object sets it to
  /// `errc::wrong_role` on the first wait).
  template <class Token = asio::use_awaitable_t<>>
  auto async_wait_exit(Token&& token = {}) {
    before_exit_wait();
    return exited_.async_wait(std::forward<Token>(token), this->shared_from_this());
  }

  // ---- used by the cluster ----

  /// Starts reading the channel and watching the process.
  void start(detail::worker_key) {
    lifecycle_.start(channel_->is_open());
    std::weak_ptr<worker_impl> weak = this->weak_from_this();
    channel_->start({
        [weak](value_type&& message) {
          if (auto self = weak.lock())
            self->on_user_message(std::move(message));
        },
        [weak](nlohmann::json&& message, detail::unique_fd fd) {
          if (auto self = weak.lock())
            self->on_internal_message(std::move(message), std::move(fd));
        },
        [weak](std::error_code ec, const std::string& what) {
          if (auto self = weak.lock())
            self->report_error({ec, what});
        },
        [weak](std::error_code) {
          if (auto self = weak.lock())
            self->on_channel_closed();
        },
        [weak](value_type&& message, handle&& h) {
          if (auto self = weak.lock())
            self->on_handle_message(std::move(message), std::move(h));
        },
        [weak](nlohmann::json&& head, value_type&& payload) {
          if (auto self = weak.lock())
            self->on_internal_payload(std::move(head), std::move(payload));
        },
    });
    if (watcher_)
      watcher_->start([weak](detail::wait_status status) {
        if (auto self = weak.lock())
          self->on_process_exit(status);
      });
    if (spawn_failure_.code)
      asio::post(executor_,
                 [self = this->shared_from_this()] { self->report_error(self->spawn_failure_); });
  }

  /// Sends an internal message with the next `seq`. Returns false when not connected (Node's
  /// `sendHelper`), true otherwise.
  bool send_internal(detail::worker_key, detail::protocol::message message) {
    return requests_.send(std::move(message));
  }

  /// Sends an internal request; `on_reply` runs with the peer's reply (the message whose `ack`
  /// is this one's `seq`). Returns false, and forgets `on_reply`, when not connected.
  bool send_request(detail::worker_key, detail::protocol::message message,
                    std::function<void(nlohmann::json&&, detail::unique_fd)> on_reply) {
    return requests_.send_request(std::move(message), std::move(on_reply));
  }

  /// Sends an internal message with a descriptor in a `NODE_HANDLE` envelope; `on_reply` as in
  /// `send_request` (may be empty). `fd` must stay open until the reply or the disconnect.
  bool send_request_with_fd(detail::worker_key, detail::protocol::message message, int fd,
                            std::function<void(nlohmann::json&&, detail::unique_fd)> on_reply,
                            std::string_view handle_type = detail::protocol::handle_net_native) {
    return requests_.send_request_with_fd(std::move(message), fd, std::move(on_reply), handle_type);
  }

  /// Sends a routing request (`routing::route_request`) with the user value `payload`, stamped
  /// with the next `seq`; `on_reply` (may be empty) runs with the primary's answer.
  /// @throws std::system_error as `send`.
  bool send_route(detail::worker_key, detail::protocol::message head, const value_type& payload,
                  std::function<void(nlohmann::json&&, detail::unique_fd)> on_reply) {
    return requests_.send_with_payload(std::move(head), payload, std::move(on_reply));
  }

  /// Queues a frame body encoded beforehand (a broadcast's, encoded once for every worker);
  /// `user_message` when it is a user message rather than a routed envelope.
  /// @throws std::system_error as `send`.
  bool send_encoded(detail::worker_key, std::string_view body, bool user_message) {
    return channel_->send_encoded(body, user_message);
  }

  /// Reports an error about this worker (its error stream, and the cluster's).
  void report(detail::worker_key, const worker_error& error) { report_error(error); }

  /// Asks a cocluster worker to report a heartbeat from its event loop every `interval`. Returns
  /// false, sending nothing, for a peer that is not cocluster (a Node worker would not answer,
  /// and a Node primary never asks) or when not connected.
  bool request_heartbeats(detail::worker_key, std::chrono::milliseconds interval) {
    if (!cocluster_peer_ || !is_connected())
      return false;
    return requests_.send(detail::protocol::heartbeat_request(interval.count()));
  }

  /// Lets `peek` see every user message from the peer before it is delivered (it cannot take
  /// one): the supervisor's readiness message. One peek at a time; an empty function removes it.
  void set_message_peek(detail::worker_key, std::function<void(const value_type&)> peek) {
    peek_ = std::move(peek);
  }

  /// The process ended, or (when `clone` itself failed) never started.
  void process_exited(detail::worker_key, detail::wait_status status) { on_process_exit(status); }

  /// The worker's server started listening (reported by the net layer).
  void mark_listening(detail::worker_key, const listen_address& address) {
    lifecycle_.listening();
    if (!counters_.listening_at)
      counters_.listening_at = std::chrono::system_clock::now();
    listening_.set({}, address);
    listening_events_.publish(address);
  }

  /// Delivers a message that waited for the first cluster-wide subscription.
  template <class Consume>
  void hand_over_unclaimed(detail::worker_key, Consume&& consume) {
    while (!unclaimed_.empty()) {
      consume(std::move(unclaimed_.front()));
      unclaimed_.pop_front();
    }
  }

  /// Delivers the messages with handles that waited for the first cluster-wide subscription.
  template <class Consume>
  void hand_over_unclaimed_handles(detail::worker_key, Consume&& consume) {
    while (!unclaimed_handles_.empty()) {
      consume(std::move(unclaimed_handles_.front()));
      unclaimed_handles_.pop_front();
    }
  }

  /// Cuts every link to the cluster (it is going away): callbacks stop, the channel closes,
  /// waits and subscriptions end.
  void detach(detail::worker_key) { detach(); }

  /// The channel (for the net layer's descriptor window).
  detail::channel<Serialization>& ipc(detail::worker_key) { return *channel_; }

  /// The times and hand-over counts kept for the metrics (the net layer counts hand-overs).
  detail::worker_counters& counters(detail::worker_key) noexcept { return counters_; }

  /// The same, to read.
  const detail::worker_counters& counters() const noexcept { return counters_; }

  /// The channel's traffic so far.
  const detail::channel_counters& traffic() const noexcept { return channel_->counters(); }

protected:
  // ---- what each kind does ----

  // disconnect(): the side's own way of leaving, once.
  virtual void start_disconnect(std::optional<std::chrono::milliseconds> drain_timeout) = 0;
  // kill(signal), with the signal checked.
  virtual void do_kill(int signal) = 0;
  // Runs before every exit wait.
  virtual void before_exit_wait() {}
  // A NODE_CLUSTER message that is no reply to one of our requests.
  virtual void on_cluster_message(nlohmann::json&& message, detail::unique_fd fd) = 0;
  // The channel closed: the common part is done (subscriptions closed, flag settled).
  virtual void on_disconnected(const detail::lifecycle_step& step) = 0;

  // ---- incoming ----

  void on_user_message(value_type&& message) {
    if (peek_)
      peek_(message);
    const bool here = messages_.has_subscribers();
    // (the worker role never wants them: a worker process has no cluster-wide stream)
    const bool cluster_wide = observer_ != nullptr && observer_->wants_messages();
    if (here && cluster_wide) {
      messages_.publish(message);
      observer_->worker_message(*this, std::move(message));
    } else if (here) {
      messages_.publish(std::move(message));
    } else if (cluster_wide) {
      observer_->worker_message(*this, std::move(message));
    } else {
      unclaimed_.push_back(std::move(message)); // Node's kPendingMessages
    }
  }

  // Like on_user_message, but a backlog of handles is bounded: each holds a descriptor.
  void on_handle_message(value_type&& message, handle&& h) {
    const bool here = handle_messages_.has_subscribers();
    const bool cluster_wide = observer_ != nullptr && observer_->wants_handle_messages();
    if (here && cluster_wide) {
      // Both get the message and a copy of the handle: the first `take_*` has the descriptor.
      handle_messages_.publish(handle_message<value_type>{message, h});
      observer_->worker_handle_message(*this, std::move(message), std::move(h));
    } else if (here) {
      handle_messages_.publish(handle_message<value_type>{std::move(message), std::move(h)});
    } else if (cluster_wide) {
      observer_->worker_handle_message(*this, std::move(message), std::move(h));
    } else if (unclaimed_handles_.size() < max_unclaimed_handles) {
      unclaimed_handles_.push_back({std::move(message), std::move(h)});
    } else {
      report_error({make_error_code(errc::too_many_handles),
                    "a message with a handle arrived while " +
                        std::to_string(max_unclaimed_handles) +
                        " others waited for a subscription to event::handle_message; its "
                        "handle was closed"});
    }
  }

  void on_internal_message(nlohmann::json&& message, detail::unique_fd fd) {
    namespace protocol = detail::protocol;
    if (protocol::cmd(message) != protocol::cmd_cluster) {
      if (observer_)
        observer_->worker_internal(*this, std::move(message), std::move(fd));
      return;
    }
    // Node's internal(): a message whose `ack` names one of our requests is that request's reply.
    if (requests_.deliver_reply(message, fd))
      return;
    if (protocol::act(message) == detail::routing::act_route_failed) // no one waits: an error
      return report_error({detail::routing::error_of(message),
                           detail::routing::describe_failure(message)});
    on_cluster_message(std::move(message), std::move(fd));
  }

  // An internal message that carried a user value: a routing request (to the primary's
  // router) or a routed message (to this worker's stream); anything else loses the value.
  void on_internal_payload(nlohmann::json&& head, value_type&& payload) {
    namespace routing = detail::routing;
    const auto act = detail::protocol::act(head);
    if (act == routing::act_route) {
      if (observer_)
        observer_->worker_route(*this, std::move(head), std::move(payload));
    } else if (act == routing::act_routed && is_self()) {
      const auto from = detail::protocol::integer_field(head, routing::field_from).value_or(0);
      routed_message<value_type> received{static_cast<int>(from), std::move(payload)};
      if (routed_messages_.has_subscribers())
        routed_messages_.publish(std::move(received));
      else
        unclaimed_routed_.push_back(std::move(received));
    } else {
      on_internal_message(std::move(head), detail::unique_fd());
    }
  }

  void report_error(const worker_error& error) {
    errors_.publish(error);
    if (observer_)
      observer_->worker_error(*this, error);
  }

  void on_channel_closed() {
    const auto step = lifecycle_.disconnect();
    if (!step.happened)
      return;
    requests_.forget_all();
    messages_.close(make_error_code(errc::channel_closed));
    handle_messages_.close(make_error_code(errc::channel_closed));
    routed_messages_.close(make_error_code(errc::channel_closed));
    listening_events_.close(make_error_code(errc::channel_closed));
    on_disconnected(step);
  }

  void on_process_exit(detail::wait_status wait) {
    const auto step = lifecycle_.exit();
    if (!step.happened)
      return;
    exit_status status{wait.code, wait.signal, spawn_failure_.code};
    exit_status_ = status;
    online_.set(make_error_code(errc::worker_exited));
    listening_.set(make_error_code(errc::worker_exited), listen_address{});
    exited_.set({}, status);
    if (observer_)
      observer_->worker_exited(*this, status);
    if (step.gone)
      errors_.close(make_error_code(errc::stream_closed));
  }

private:
  void detach() {
    observer_ = nullptr;
    if (channel_)
      channel_->detach();
    if (watcher_)
      watcher_->cancel();
    lifecycle_.detach();
  }

protected:
  // The state both kinds read and change.
  asio::any_io_executor executor_;
  int id_;
  pid_t pid_;
  std::shared_ptr<detail::channel<Serialization>> channel_;
  std::shared_ptr<detail::child_watcher> watcher_;
  detail::worker_observer<worker_impl>* observer_;
  worker_error spawn_failure_;
  std::optional<int> slot_;
  detail::internal_requests<Serialization> requests_;

  // The state, the connection, the exit and the leaving: changed only by its transitions.
  detail::worker_lifecycle lifecycle_;
  std::optional<exit_status> exit_status_;
  bool cocluster_peer_ = false;
  std::optional<std::chrono::steady_clock::time_point> last_heartbeat_;
  std::function<void(const value_type&)> peek_;
  std::map<int, asio::posix::stream_descriptor> stdio_pipes_;
  detail::worker_counters counters_;

  detail::oneshot_event<> online_;
  detail::oneshot_event<listen_address> listening_;
  detail::oneshot_event<> disconnected_;
  detail::oneshot_event<exit_status> exited_;
  detail::event_hub<value_type> messages_;
  detail::event_hub<handle_message<value_type>> handle_messages_;
  detail::event_hub<worker_error> errors_;
  detail::event_hub<listen_address> listening_events_;
  std::deque<value_type> unclaimed_;
  std::deque<handle_message<value_type>> unclaimed_handles_;
  detail::event_hub<routed_message<value_type>> routed_messages_;
  std::deque<routed_message<value_type>> unclaimed_routed_;
  // Messages with handles kept for a first subscription, at most.
  static constexpr std::size_t max_unclaimed_handles = 64;
};

} // namespace detail
} // namespace cocluster

#endif // COCLUSTER_DETAIL_WORKER_WORKER_IMPL_HPP
