/// @file
/// One worker's lifecycle, seen from the primary or from the worker itself. Users hold it through
/// the `basic_worker` handle.
#ifndef COCLUSTER_DETAIL_WORKER_WORKER_IMPL_HPP
#define COCLUSTER_DETAIL_WORKER_WORKER_IMPL_HPP

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/event_hub.hpp"
#include "cocluster/detail/async/oneshot_event.hpp"
#include "cocluster/detail/ipc/channel.hpp"
#include "cocluster/detail/process/child_watcher.hpp"
#include "cocluster/detail/process/signal_names.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/unique_fd.hpp"
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
  /// True for the worker object that represents this process (`cluster.worker()`).
  bool self = false;
  std::shared_ptr<channel<S>> ipc;
  std::shared_ptr<child_watcher> watcher;
  sequence* seq = nullptr;
  worker_observer<worker_impl<S>>* observer = nullptr;
  /// Set when the process could not be started.
  worker_error spawn_failure;
  /// Pipes of `stdio_entry::pipe` entries: (descriptor in the worker, primary's end).
  std::map<int, unique_fd> stdio_pipes;
  bool exit_on_unexpected_disconnect = true;
};

/// One worker's state and behaviour; `basic_worker` is the handle users hold. In the primary it
/// stands for a worker process (Node's `cluster.workers[id]`); in a worker process, for the
/// worker itself (Node's `cluster.worker`).
///
/// Lifecycle events that happen once — online, listening, disconnect, exit — are
/// level-triggered: awaiting one that already happened completes at once with the same result.
/// Repeated events (messages, errors) are subscriptions that drop nothing.
///
/// Owned by the cluster's registry until the worker has both disconnected and exited, and by
/// every handle and pending wait.
///
/// @par Thread Safety
/// Use from the thread that runs the cluster's `io_context`.
template <serialization_policy Serialization>
class worker_impl : public std::enable_shared_from_this<worker_impl<Serialization>> {
public:
  /// The message type (the serialization policy's value type).
  using value_type = typename Serialization::value_type;
  /// The serialization policy.
  using serialization_type = Serialization;

  /// Made by the cluster.
  worker_impl(detail::worker_key, detail::worker_init<Serialization>&& init)
      : executor_(init.executor), id_(init.id), pid_(init.pid), self_(init.self),
        channel_(std::move(init.ipc)), watcher_(std::move(init.watcher)), seq_(init.seq),
        observer_(init.observer), spawn_failure_(std::move(init.spawn_failure)),
        exit_on_unexpected_disconnect_(init.exit_on_unexpected_disconnect),
        online_(executor_), listening_(executor_), disconnected_(executor_), exited_(executor_),
        messages_(executor_), errors_(executor_), listening_events_(executor_) {
    for (auto& [index, fd] : init.stdio_pipes)
      stdio_pipes_.emplace(index, asio::posix::stream_descriptor(executor_, fd.release()));
    if (self_) {
      state_ = worker_state::online;
      online_.set({});
    }
  }

  worker_impl(const worker_impl&) = delete;
  worker_impl& operator=(const worker_impl&) = delete;

  ~worker_impl() { detach(); }

  // ---- identity and state ----

  /// Unique id, from 1, never reused (Node's `worker.id`).
  int id() const noexcept { return id_; }

  /// The process id (in a worker process: its own).
  pid_t pid() const noexcept { return pid_; }

  /// Node's `worker.state`.
  worker_state state() const noexcept { return state_; }

  /// Node's `exitedAfterDisconnect`: empty until the worker disconnected or exited, then true
  /// if it left through `disconnect()`/`kill()` on itself or `disconnect()` from the primary.
  std::optional<bool> exited_after_disconnect() const noexcept { return exited_after_disconnect_; }

  /// True while the IPC channel can carry messages (Node's `isConnected()`): false from the
  /// start of an orderly close or a failed write, even before the disconnect event.
  bool is_connected() const noexcept { return connected_ && channel_->is_open(); }

  /// True once the disconnect event happened (the registry's rule uses this).
  bool has_disconnected() const noexcept { return !connected_; }

  /// True once the process has ended (Node's `isDead()`); false in the worker process itself.
  bool is_dead() const noexcept { return state_ == worker_state::dead; }

  /// True for the object that represents this very process.
  bool is_self() const noexcept { return self_; }

  /// How the process ended, once it has.
  const std::optional<exit_status>& status() const noexcept { return exit_status_; }

  /// The primary's end of a `stdio_entry::pipe` descriptor of the worker (`silent` gives 0, 1
  /// and 2), or null.
  asio::posix::stream_descriptor* stdio_pipe(int index) {
    auto it = stdio_pipes_.find(index);
    return it == stdio_pipes_.end() ? nullptr : &it->second;
  }

  // ---- messages ----

  /// Queues a message to the worker (or, in a worker process, to the primary). Returns false
  /// when more than the high-water mark is queued: wait with `async_drain` before sending more.
  /// @throws std::system_error `errc::channel_closed` when not connected,
  /// `errc::write_queue_full`, `errc::unencodable_value`.
  bool send(const value_type& message) { return channel_->send(message); }

  /// Queues a user type, converted by the serialization policy (`to_json` for json).
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, value_type>)
  bool send(const T& message) {
    return send(Serialization::to_value(message));
  }

  /// Sends a message and completes once its bytes were written to the socket, so a process
  /// that exits afterwards loses nothing (Node bug #36268).
  ///
  /// @par Completion Signature
  /// `void(std::error_code)`: `errc::channel_closed`, `errc::write_queue_full`,
  /// `errc::unencodable_value`, or a socket error.
  template <class Token = asio::use_awaitable_t<>>
  auto async_send(value_type message, Token&& token = {}) {
    return asio::async_initiate<Token, void(std::error_code)>(
        [self = this->shared_from_this()](auto handler, value_type m) {
          try {
            self->channel_->send(m);
          } catch (const std::system_error& e) {
            detail::erased_handler<>(std::move(handler), self->executor_).complete(e.code());
            return;
          }
          self->channel_->async_flush(std::move(handler));
        },
        token, std::move(message));
  }

  /// Waits until no more than the high-water mark is queued.
  /// @par Completion Signature
  /// `void(std::error_code)`.
  template <class Token = asio::use_awaitable_t<>>
  auto async_drain(Token&& token = {}) {
    return channel_->async_drain(std::forward<Token>(token));
  }

  /// Bytes queued to the peer and not yet written.
  std::size_t queued_bytes() const noexcept { return channel_->queued_bytes(); }

  /// Subscribes to the worker's messages (Node's worker `message`). Messages that arrived while
  /// nothing subscribed to them here or on the cluster are delivered to the first subscription.
  /// The stream ends (`errc::channel_closed`) once the channel has closed and every message
  /// that arrived before has been received.
  event_stream<value_type> subscribe(event::message_t) {
    auto backlog = std::move(unclaimed_);
    unclaimed_.clear();
    return event_stream<value_type>(messages_.subscribe(std::move(backlog)));
  }

  /// Subscribes to the worker's errors (Node's worker `error`). Ends once the worker has both
  /// disconnected and exited.
  event_stream<worker_error> subscribe(event::error_t) {
    return event_stream<worker_error>(errors_.subscribe());
  }

  /// Subscribes to the worker's `listening` events (one per listening server). Ends at
  /// disconnect.
  event_stream<listen_address> subscribe(event::listening_t) {
    return event_stream<listen_address>(listening_events_.subscribe());
  }

  // ---- lifecycle actions ----

  /// Graceful shutdown (Node's `worker.disconnect()`). From the primary: the worker closes its
  /// servers, waits for their connections to end, then closes the channel; it exits once it has
  /// nothing left to do. In a worker process: the same, telling the primary first so that
  /// `exited_after_disconnect()` is true there. Calling it again does nothing.
  worker_impl& disconnect(std::optional<std::chrono::milliseconds> drain_timeout = std::nullopt) {
    if (self_)
      disconnect_self(drain_timeout);
    else
      disconnect_from_primary(drain_timeout);
    return *this;
  }

  /// True when the peer is a cocluster process (it said so in `online`): it can take several
  /// connections in flight.
  bool is_cocluster_peer() const noexcept { return cocluster_peer_; }

  /// From the primary: sends `signal` to the worker process (Node's `worker.kill()`); nothing
  /// once it is dead. In a worker process: leaves at once, telling the primary first (the
  /// primary sees `exited_after_disconnect() == true`), then exits with code 0.
  /// @throws std::invalid_argument for a number that is not a signal.
  void kill(int signal = SIGTERM) {
    if (!detail::is_valid_signal(signal))
      throw std::invalid_argument("cocluster: worker.kill: " + std::to_string(signal) +
                                  " is not a signal");
    if (self_)
      return kill_self();
    if (watcher_ && !is_dead())
      watcher_->send_signal(signal);
  }

  /// `kill` with a signal name: "SIGKILL" or "KILL".
  /// @throws std::invalid_argument for an unknown name.
  void kill(std::string_view signal_name) {
    auto number = detail::signal_number(signal_name);
    if (!number)
      throw std::invalid_argument("cocluster: worker.kill: unknown signal '" +
                                  std::string(signal_name) + "'");
    kill(*number);
  }

  // ---- lifecycle events ----

  /// Waits until the worker is online (Node's `online`).
  /// @par Completion Signature
  /// `void(std::error_code)`: `errc::worker_exited` if it exited first.
  /// @par Per-Operation Cancellation
  /// All types; completes with `asio::error::operation_aborted`.
  template <class Token = asio::use_awaitable_t<>>
  auto async_wait_online(Token&& token = {}) {
    return online_.async_wait(std::forward<Token>(token), this->shared_from_this());
  }


  /// Waits until one of the worker's servers listens; yields its address (Node's `listening`).
  /// @par Completion Signature
  /// `void(std::error_code, listen_address)`: `errc::worker_exited` if it exited first.
  template <class Token = asio::use_awaitable_t<>>
  auto async_wait_listening(Token&& token = {}) {
    return listening_.async_wait(std::forward<Token>(token), this->shared_from_this());
  }


  /// Waits until the IPC channel has closed (Node's `disconnect`).
  /// @par Completion Signature
  /// `void(std::error_code)`.
  /// @par Per-Operation Cancellation
  /// All types; completes with `asio::error::operation_aborted`.
  template <class Token = asio::use_awaitable_t<>>
  auto async_wait_disconnect(Token&& token = {}) {
    return disconnected_.async_wait(std::forward<Token>(token), this->shared_from_this());
  }


  /// Waits until the process has ended; yields how (Node's `exit`). In a worker process about
  /// itself it completes with `errc::wrong_role`.
  /// @par Completion Signature
  /// `void(std::error_code, exit_status)`.
  /// @par Per-Operation Cancellation
  /// All types; completes with `asio::error::operation_aborted`.
  template <class Token = asio::use_awaitable_t<>>
  auto async_wait_exit(Token&& token = {}) {
    if (self_ && !exited_.is_set())
      exited_.set(make_error_code(errc::wrong_role), exit_status{});
    return exited_.async_wait(std::forward<Token>(token), this->shared_from_this());
  }


  // ---- used by the cluster ----

  /// Starts reading the channel and watching the process.
  void start(detail::worker_key) {
    connected_ = channel_->is_open();
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
    });
    if (watcher_)
      watcher_->start([weak](detail::wait_status status) {
        if (auto self = weak.lock())
          self->on_process_exit(status);
      });
    if (spawn_failure_.code)
      asio::post(executor_, [self = this->shared_from_this()] {
        self->report_error(self->spawn_failure_);
      });
  }

  /// Sends an internal message with the next `seq`. Returns false when not connected (Node's
  /// `sendHelper`), true otherwise.
  bool send_internal(detail::worker_key, detail::protocol::message message) {
    return send_internal(std::move(message));
  }

  /// Sends an internal request; `on_reply` runs with the peer's reply (the message whose `ack`
  /// is this one's `seq`). Returns false, and forgets `on_reply`, when not connected.
  bool send_request(detail::worker_key, detail::protocol::message message,
                    std::function<void(nlohmann::json&&, detail::unique_fd)> on_reply) {
    return send_request(std::move(message), std::move(on_reply));
  }

  /// Sends an internal message with a descriptor in a `NODE_HANDLE` envelope; `on_reply` as in
  /// `send_request` (may be empty). `fd` must stay open until the reply or the disconnect.
  bool send_request_with_fd(detail::worker_key, detail::protocol::message message, int fd,
                            std::function<void(nlohmann::json&&, detail::unique_fd)> on_reply,
                            std::string_view handle_type = detail::protocol::handle_net_native) {
    if (!channel_->is_open())
      return false;
    const std::int64_t seq = seq_->take();
    message["seq"] = seq;
    try {
      channel_->send_internal_with_fd(handle_type, message, fd);
    } catch (const std::system_error& e) {
      report_error({e.code(), std::string("sending an internal message: ") + e.what()});
      return false;
    }
    if (on_reply)
      pending_requests_.emplace(seq, std::move(on_reply));
    return true;
  }

  /// The process ended, or (when `clone` itself failed) never started.
  void process_exited(detail::worker_key, detail::wait_status status) { on_process_exit(status); }

  /// The worker's server started listening (reported by the net layer).
  void mark_listening(detail::worker_key, const listen_address& address) {
    if (state_ != worker_state::dead && state_ != worker_state::disconnected)
      state_ = worker_state::listening;
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

  /// Cuts every link to the cluster (it is going away): callbacks stop, the channel closes,
  /// waits and subscriptions end.
  void detach(detail::worker_key) { detach(); }

  /// The channel (for the net layer's descriptor window).
  detail::channel<Serialization>& ipc(detail::worker_key) { return *channel_; }

private:
  // ---- incoming ----

  void on_user_message(value_type&& message) {
    const bool here = messages_.has_subscribers();
    const bool cluster_wide = observer_ != nullptr && !self_ && observer_->wants_messages();
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

  void on_internal_message(nlohmann::json&& message, detail::unique_fd fd) {
    namespace protocol = detail::protocol;
    if (protocol::cmd(message) != protocol::cmd_cluster) {
      if (observer_)
        observer_->worker_internal(*this, std::move(message), std::move(fd));
      return;
    }
    // Node's internal(): a message whose `ack` names one of our requests is that request's reply.
    if (auto ack = protocol::integer_field(message, "ack")) {
      auto it = pending_requests_.find(*ack);
      if (it != pending_requests_.end()) {
        auto on_reply = std::move(it->second);
        pending_requests_.erase(it);
        on_reply(std::move(message), std::move(fd));
        return;
      }
    }
    const auto act = protocol::act(message);
    if (self_) {
      if (act == protocol::act_disconnect) {
        std::optional<std::chrono::milliseconds> drain;
        if (auto ms = protocol::integer_field(message, protocol::field_drain_ms))
          drain = std::chrono::milliseconds(*ms);
        disconnect_requested_by_primary(drain);
      }
      else if (observer_ && !act.empty())
        observer_->worker_internal(*this, std::move(message), std::move(fd));
      return;
    }
    if (act == protocol::act_online) {
      cocluster_peer_ = message.contains(protocol::field_peer);
      if (state_ == worker_state::none)
        state_ = worker_state::online;
      online_.set({});
      if (observer_)
        observer_->worker_online(*this);
    } else if (act == protocol::act_exited_after_disconnect) {
      exited_after_disconnect_ = true;
      if (auto seq = protocol::integer_field(message, "seq"))
        send_internal(protocol::reply_to(*seq));
    } else if (!act.empty() && observer_) {
      observer_->worker_internal(*this, std::move(message), std::move(fd));
    }
    // Anything else (an unknown act, an unmatched ack) is ignored, as Node does.
  }

  void report_error(const worker_error& error) {
    errors_.publish(error);
    if (observer_)
      observer_->worker_error(*this, error);
  }

  void on_channel_closed() {
    if (!connected_)
      return;
    connected_ = false;
    pending_requests_.clear();
    messages_.close(make_error_code(errc::channel_closed));
    listening_events_.close(make_error_code(errc::channel_closed));
    if (!exited_after_disconnect_)
      exited_after_disconnect_ = false;
    if (self_)
      return on_self_channel_closed();
    if (state_ != worker_state::dead)
      state_ = worker_state::disconnected;
    disconnected_.set({});
    if (observer_)
      observer_->worker_disconnected(*this);
    if (is_dead())
      errors_.close(make_error_code(errc::stream_closed));
  }

  void on_process_exit(detail::wait_status wait) {
    exit_status status{wait.code, wait.signal, spawn_failure_.code};
    exit_status_ = status;
    if (!exited_after_disconnect_)
      exited_after_disconnect_ = false;
    state_ = worker_state::dead;
    online_.set(make_error_code(errc::worker_exited));
    listening_.set(make_error_code(errc::worker_exited), listen_address{});
    exited_.set({}, status);
    if (observer_)
      observer_->worker_exited(*this, status);
    if (!connected_)
      errors_.close(make_error_code(errc::stream_closed));
  }

  // ---- primary side ----

  void disconnect_from_primary(std::optional<std::chrono::milliseconds> drain_timeout) {
    if (!connected_ || disconnect_requested_)
      return;
    disconnect_requested_ = true;
    exited_after_disconnect_ = true;
    auto message = detail::protocol::cluster_message(detail::protocol::act_disconnect);
    if (drain_timeout)
      message[detail::protocol::field_drain_ms] = drain_timeout->count();
    send_internal(std::move(message));
    if (observer_)
      observer_->worker_disconnect_requested(*this);
  }

  // ---- worker side ----

  // The primary sent `disconnect`: close the servers, then the channel (no exitedAfterDisconnect
  // message: the primary already knows).
  void disconnect_requested_by_primary(std::optional<std::chrono::milliseconds> drain_timeout) {
    if (leaving_ != leaving::no)
      return;
    leaving_ = leaving::disconnecting;
    exited_after_disconnect_ = true;
    close_servers_then([](worker_impl& self) { self.channel_->close_when_flushed(); },
                       drain_timeout);
  }

  // cluster.worker().disconnect(): close the servers, tell the primary, wait for its ack, close.
  void disconnect_self(std::optional<std::chrono::milliseconds> drain_timeout) {
    if (leaving_ != leaving::no || !connected_)
      return;
    leaving_ = leaving::disconnecting;
    exited_after_disconnect_ = true;
    close_servers_then([](worker_impl& self) { self.leave_after_ack(); }, drain_timeout);
  }

  // cluster.worker().kill(): no graceful server close; tell the primary, close, exit(0).
  void kill_self() {
    if (leaving_ == leaving::destroying)
      return;
    exited_after_disconnect_ = true;
    if (!connected_)
      std::exit(0);
    leaving_ = leaving::destroying;
    leave_after_ack();
  }

  void leave_after_ack() {
    std::weak_ptr<worker_impl> weak = this->weak_from_this();
    const bool sent = send_request(
        detail::protocol::cluster_message(detail::protocol::act_exited_after_disconnect),
        [weak](nlohmann::json&&, detail::unique_fd) {
          if (auto self = weak.lock())
            self->channel_->close_when_flushed();
        });
    if (!sent)
      channel_->close();
  }

  template <class Then>
  void close_servers_then(Then then, std::optional<std::chrono::milliseconds> drain_timeout) {
    std::weak_ptr<worker_impl> weak = this->weak_from_this();
    auto done = [weak, then] {
      if (auto self = weak.lock())
        then(*self);
    };
    if (observer_)
      observer_->close_servers(done, drain_timeout);
    else
      done();
  }

  void on_self_channel_closed() {
    disconnected_.set({});
    errors_.close(make_error_code(errc::stream_closed));
    const bool expected = exited_after_disconnect_.value_or(false);
    if (leaving_ == leaving::destroying || (!expected && exit_on_unexpected_disconnect_)) {
      // After the handlers already posted (the user's disconnect handlers run first, as in
      // Node, and may exit with a code of their own).
      asio::post(executor_, [] { std::exit(0); });
    }
  }

  // ---- sending ----

  bool send_internal(detail::protocol::message message) {
    if (!channel_->is_open())
      return false;
    message["seq"] = seq_->take();
    try {
      channel_->send_internal(message);
    } catch (const std::system_error& e) {
      report_error({e.code(), std::string("sending an internal message: ") + e.what()});
      return false;
    }
    return true;
  }

  bool send_request(detail::protocol::message message,
                    std::function<void(nlohmann::json&&, detail::unique_fd)> on_reply) {
    if (!channel_->is_open())
      return false;
    const std::int64_t seq = seq_->next;
    if (!send_internal(std::move(message)))
      return false;
    pending_requests_.emplace(seq, std::move(on_reply));
    return true;
  }

  void detach() {
    observer_ = nullptr;
    if (channel_)
      channel_->detach();
    if (watcher_)
      watcher_->cancel();
    connected_ = false;
  }

  enum class leaving { no, disconnecting, destroying };

  asio::any_io_executor executor_;
  int id_;
  pid_t pid_;
  bool self_;
  std::shared_ptr<detail::channel<Serialization>> channel_;
  std::shared_ptr<detail::child_watcher> watcher_;
  detail::sequence* seq_;
  detail::worker_observer<worker_impl>* observer_;
  worker_error spawn_failure_;
  bool exit_on_unexpected_disconnect_;

  worker_state state_ = worker_state::none;
  std::optional<bool> exited_after_disconnect_;
  std::optional<exit_status> exit_status_;
  bool connected_ = false;
  bool disconnect_requested_ = false;
  bool cocluster_peer_ = false;
  leaving leaving_ = leaving::no;
  std::unordered_map<std::int64_t, std::function<void(nlohmann::json&&, detail::unique_fd)>>
      pending_requests_;
  std::map<int, asio::posix::stream_descriptor> stdio_pipes_;

  detail::oneshot_event<> online_;
  detail::oneshot_event<listen_address> listening_;
  detail::oneshot_event<> disconnected_;
  detail::oneshot_event<exit_status> exited_;
  detail::event_hub<value_type> messages_;
  detail::event_hub<worker_error> errors_;
  detail::event_hub<listen_address> listening_events_;
  std::deque<value_type> unclaimed_;
};

} // namespace detail
} // namespace cocluster

#endif // COCLUSTER_DETAIL_WORKER_WORKER_IMPL_HPP
