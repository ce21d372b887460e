// SPDX-License-Identifier: MIT
/// @file
/// `basic_worker`: a handle on one worker, in the primary or in the worker process itself.
#ifndef COCLUSTER_WORKER_HPP
#define COCLUSTER_WORKER_HPP

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/worker/worker_impl.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/events.hpp"
#include "cocluster/exit_status.hpp"
#include "cocluster/serialization/policy.hpp"
#include "cocluster/worker_state.hpp"

namespace cocluster {

/// A handle on one worker. In the primary it stands for a worker process (Node's
/// `cluster.workers[id]`); in a worker process, for the worker itself (Node's `cluster.worker`).
///
/// Handles are cheap to copy; copies refer to the same worker and compare equal. A handle keeps
/// the worker's state valid for as long as it is held, also after the worker has left
/// `cluster.workers()`, so there is no dangling reference to get wrong: keep one in a coroutine
/// across any number of `co_await`s.
///
/// One-shot lifecycle events — online, listening, disconnect, exit — are level-triggered:
/// awaiting one that already happened completes at once with the same result. Repeated events
/// (messages, errors, listening servers) are subscriptions that drop nothing.
///
/// @par Example
/// Ask a worker to leave, and kill it if it has not exited within 2 s
/// (`examples/disconnect_timeout.cpp`):
/// @code
/// auto worker = cluster.fork();
/// co_await worker.online();
/// worker.send("shutdown"); // let the application wind down its work
/// worker.disconnect();
/// asio::steady_timer timeout(co_await asio::this_coro::executor, 2s);
/// auto first = co_await (worker.exited() || timeout.async_wait(asio::use_awaitable));
/// if (first.index() == 1)
///   worker.kill();
/// @endcode
///
/// @par Thread Safety
/// Use from the thread that runs the cluster's `io_context`.
///
/// @tparam Serialization the cluster's serialization policy (`json` or `advanced`), which fixes
/// the message type `value_type`.
template <serialization_policy Serialization>
class basic_worker {
  using impl_type = detail::worker_impl<Serialization>;

public:
  /// The message type (the serialization policy's value type).
  using value_type = typename Serialization::value_type;
  /// The serialization policy.
  using serialization_type = Serialization;

  /// An empty handle; `bool(handle)` is false.
  basic_worker() = default;

  /// Made by the cluster.
  /// @param impl the worker's state, shared with the cluster and every other handle on it.
  explicit basic_worker(std::shared_ptr<impl_type> impl) noexcept : impl_(std::move(impl)) {}

  /// True unless the handle is empty.
  explicit operator bool() const noexcept { return impl_ != nullptr; }

  /// Handles are equal when they refer to the same worker.
  /// @param a one handle.
  /// @param b the other.
  /// @return whether both are empty or both refer to the same worker.
  friend bool operator==(const basic_worker& a, const basic_worker& b) noexcept {
    return a.impl_ == b.impl_;
  }

  // ---- identity and state ----

  /// Unique id, from 1, never reused (Node's `worker.id`).
  /// @return the id the primary gave the worker (in a worker process, its own, from
  ///   `NODE_UNIQUE_ID`).
  int id() const noexcept { return impl_->id(); }

  /// The process id (in a worker process: its own).
  /// @return the process id; it stays the same after the process has ended.
  pid_t pid() const noexcept { return impl_->pid(); }

  /// Node's `worker.state`. It never goes back from `dead` (Node's can go back to
  /// `disconnected` when the exit is seen first).
  /// @return `none`, `online`, `listening`, `disconnected` or `dead`, moving only forward.
  worker_state state() const noexcept { return impl_->state(); }

  /// Node's `exitedAfterDisconnect`: empty until the worker disconnected or exited, then true
  /// if it left through `disconnect()`/`kill()` on itself or `disconnect()` from the primary.
  /// @return `std::nullopt` before the disconnect or exit; then whether the worker left on purpose.
  std::optional<bool> exited_after_disconnect() const noexcept {
    return impl_->exited_after_disconnect();
  }

  /// True while the IPC channel can carry messages (Node's `isConnected()`). It turns false at
  /// the disconnect event, and earlier when an orderly close has begun or a write failed.
  /// @return whether `send` can still queue a message.
  bool is_connected() const noexcept { return impl_->is_connected(); }

  /// True once the process has ended (Node's `isDead()`); false in the worker process itself.
  /// @return whether the process has exited or was killed (its exit seen by the primary).
  bool is_dead() const noexcept { return impl_->is_dead(); }

  /// True for the handle that represents this very process.
  /// @return true for `cluster.worker()` in a worker process, false for handles in the primary.
  bool is_self() const noexcept { return impl_->is_self(); }

  /// How the process ended, once it has.
  /// @return the exit status, or `std::nullopt` while the process runs (always in a worker process
  ///   about itself).
  const std::optional<exit_status>& status() const noexcept { return impl_->status(); }

  /// The primary's end of a `stdio_entry::pipe` descriptor of the worker (`silent` gives 0, 1
  /// and 2), or null.
  /// @param index the worker's descriptor number (0 for its stdin, 1 stdout, 2 stderr, or a
  ///   higher entry of `settings::stdio`).
  /// @return the primary's end, owned by the worker state (valid while a handle is held), or null
  ///   when that descriptor is not a pipe, or in a worker process.
  asio::posix::stream_descriptor* stdio_pipe(int index) const { return impl_->stdio_pipe(index); }

  // ---- messages ----

  /// Queues a message to the worker (or, in a worker process, to the primary). Returns false
  /// when more than the high-water mark is queued: wait with `async_drain` before sending more.
  /// Messages sent together (in one handler or one stretch of a coroutine) leave in one
  /// `sendmsg` when the handler returns or the coroutine suspends; the first one sent while
  /// handling a message or another library event is written at once, so that a reply does not
  /// wait for what follows it. A write error is never reported from inside `send`.
  /// @throws std::system_error `errc::channel_closed` when not connected,
  /// `errc::write_queue_full`, `errc::unencodable_value`.
  /// @param message the message, encoded now by the serialization policy.
  /// @return true while at most `ipc_options::high_water_mark` bytes are queued; false when more
  ///   are (the message is queued all the same).
  bool send(const value_type& message) const { return impl_->send(message); }

  /// Queues a user type, converted by the serialization policy (`to_json` for json).
  /// @param message the user value, converted with `Serialization::to_value`, then sent.
  /// @return as `send(const value_type&)`.
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, value_type>)
  bool send(const T& message) const {
    return impl_->send(Serialization::to_value(message));
  }

  /// Sends a message and completes once its bytes were written to the socket, so a process
  /// that exits afterwards loses nothing (Node bug #36268).
  ///
  /// @par Completion Signature
  /// `void(std::error_code)`: `errc::channel_closed`, `errc::write_queue_full`,
  /// `errc::unencodable_value`, or a socket error.
  /// @param message the message, moved in.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_send(value_type message, Token&& token = {}) const {
    return impl_->async_send(std::move(message), std::forward<Token>(token));
  }

  /// Queues a message with a socket or server (Node's `send(message, sendHandle)`), in both
  /// serializations and both ways. The handle's descriptor travels in a `NODE_HANDLE` envelope
  /// as Node writes it (`net.Socket`, `net.Server`, `dgram.Socket`); the sender keeps it open
  /// until the peer acknowledges it, then closes it, so a socket given as
  /// `handle(std::move(socket))` is gone from the sender, and one given as
  /// `handle::keep_open(socket)` stays usable there. The receiver gets the message and the
  /// handle through `subscribe(event::handle_message)`. Returns as `send` does.
  /// @throws std::system_error as `send`, and `errc::too_many_handles` when
  /// `ipc_options::max_pending_handles` handles wait for the peer's acknowledgement,
  /// `errc::wrong_handle_kind` for an empty handle.
  /// @param message the message that travels with the handle (in the envelope's `msg` field).
  /// @param h the socket or server to send; its descriptor is taken out at once (copies of `h`
  ///   are empty from now on).
  /// @return as `send(const value_type&)`.
  bool send(const value_type& message, handle h) const {
    return impl_->send(message, std::move(h));
  }

  /// `send(message, handle)` of a user type, converted by the serialization policy.
  /// @param message the user value, converted with `Serialization::to_value`.
  /// @param h the socket or server to send, taken out at once.
  /// @return as `send(const value_type&)`.
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, value_type>)
  bool send(const T& message, handle h) const {
    return impl_->send(Serialization::to_value(message), std::move(h));
  }

  /// `async_send` with a handle: completes once the message and its descriptor were written.
  ///
  /// @par Completion Signature
  /// `void(std::error_code)`: as `async_send`, and `errc::too_many_handles`,
  /// `errc::wrong_handle_kind`.
  /// @param message the message, moved in.
  /// @param h the socket or server to send, taken out at once.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_send(value_type message, handle h, Token&& token = {}) const {
    return impl_->async_send(std::move(message), std::move(h), std::forward<Token>(token));
  }

  /// Waits until no more than the high-water mark is queued.
  /// @par Completion Signature
  /// `void(std::error_code)`.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_drain(Token&& token = {}) const {
    return impl_->async_drain(std::forward<Token>(token));
  }

  /// Bytes queued to the peer and not yet written.
  /// @return the bytes of encoded frames waiting in the write queue.
  std::size_t queued_bytes() const noexcept { return impl_->queued_bytes(); }

  /// Subscribes to the worker's messages (Node's worker `message`). Messages that arrived while
  /// nothing subscribed to them here or on the cluster are delivered to the first subscription.
  /// The stream ends (`errc::channel_closed`) once the channel has closed and every message that
  /// arrived before has been received.
  /// @param tag `event::message`.
  /// @return a new subscription.
  event_stream<value_type> subscribe(event::message_t tag) const { return impl_->subscribe(tag); }

  /// Subscribes to the messages that came from the peer with a handle (Node's `message` event
  /// with its `handle` argument): each is a `handle_message{message, handle}`, whose handle the
  /// receiver takes as a plain Asio socket or acceptor (`handle::take_tcp_socket(executor)`,
  /// ...). Up to 64 that arrived before any subscription here or on the cluster wait for the
  /// first one; more are closed with an `errc::too_many_handles` error. The stream ends as the
  /// message stream does.
  /// @param tag `event::handle_message`.
  /// @return a new subscription.
  event_stream<handle_message<value_type>> subscribe(event::handle_message_t tag) const {
    return impl_->subscribe(tag);
  }

  /// In a worker process, on its own handle (`cluster.worker()`): subscribes to the messages
  /// other workers sent it through the primary (`cluster.send_to`, a worker's
  /// `cluster.broadcast`), each a `routed_message{from, message}` (cocluster's extension; the
  /// primary's own messages, its broadcasts included, come through `event::message`). Messages
  /// from one worker arrive in the order it sent them. Those that arrived before any
  /// subscription wait for the first one. The stream ends as the message stream does. In the
  /// primary nothing arrives here: the primary forwards routed messages without seeing them.
  /// @param tag `event::routed_message`.
  /// @return a new subscription.
  event_stream<routed_message<value_type>> subscribe(event::routed_message_t tag) const {
    return impl_->subscribe(tag);
  }

  /// Subscribes to the worker's errors (Node's worker `error`). Ends once the worker has both
  /// disconnected and exited.
  /// @param tag `event::error`.
  /// @return a new subscription.
  event_stream<worker_error> subscribe(event::error_t tag) const { return impl_->subscribe(tag); }

  /// Subscribes to the worker's `listening` events (one per listening server). Ends at
  /// disconnect.
  /// @param tag `event::listening`.
  /// @return a new subscription.
  event_stream<listen_address> subscribe(event::listening_t tag) const {
    return impl_->subscribe(tag);
  }

  // ---- lifecycle actions ----

  /// Graceful shutdown (Node's `worker.disconnect()`). From the primary: the worker closes its
  /// servers, waits for their connections to end, then closes the channel; it exits once it has
  /// nothing left to do. In a worker process: the same, telling the primary first so that
  /// `exited_after_disconnect()` is true there. Calling it again does nothing.
  /// @return `*this`.
  const basic_worker& disconnect() const {
    impl_->disconnect();
    return *this;
  }

  /// `disconnect()`, telling the worker to shut down connections still open after
  /// `drain_timeout` (a cocluster worker; a Node worker ignores it and waits as Node does).
  /// @param drain_timeout how long the worker waits for its open connections before it shuts
  ///   them down; zero shuts them down at once.
  /// @return `*this`.
  const basic_worker& disconnect(std::chrono::milliseconds drain_timeout) const {
    impl_->disconnect(drain_timeout);
    return *this;
  }

  /// From the primary: sends `signal` to the worker process (Node's `worker.kill()`); nothing
  /// once it is dead. In a worker process: leaves at once, telling the primary first (the
  /// primary sees `exited_after_disconnect() == true`), then exits with code 0.
  /// @throws std::invalid_argument for a number that is not a signal.
  /// @param signal the signal's number (default SIGTERM); ignored in a worker process about itself.
  void kill(int signal = SIGTERM) const { impl_->kill(signal); }

  /// `kill` with a signal name: "SIGKILL" or "KILL".
  /// @throws std::invalid_argument for an unknown name.
  /// @param signal_name "SIGTERM", "TERM", ... as Node's `os.constants.signals` names them.
  void kill(std::string_view signal_name) const { impl_->kill(signal_name); }

  // ---- lifecycle events ----

  /// Waits until the worker is online (Node's `online`).
  /// @par Completion Signature
  /// `void(std::error_code)`: `errc::worker_exited` if it exited first.
  /// @par Per-Operation Cancellation
  /// All types; completes with `asio::error::operation_aborted`.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_wait_online(Token&& token = {}) const {
    return impl_->async_wait_online(std::forward<Token>(token));
  }

  /// `co_await worker.online()`.
  /// @return an awaitable that throws `std::system_error` (`errc::worker_exited`) if the worker
  ///   exited first.
  asio::awaitable<void> online() const { return impl_->async_wait_online(asio::use_awaitable); }

  /// Waits until one of the worker's servers listens; yields its address (Node's `listening`).
  /// @par Completion Signature
  /// `void(std::error_code, listen_address)`: `errc::worker_exited` if it exited first.
  /// @par Per-Operation Cancellation
  /// All types; completes with `asio::error::operation_aborted`.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <
      asio::completion_token_for<void(error_code, listen_address)> Token = asio::use_awaitable_t<>>
  auto async_wait_listening(Token&& token = {}) const {
    return impl_->async_wait_listening(std::forward<Token>(token));
  }

  /// `co_await worker.listening()`.
  /// @return an awaitable of the first server's address; throws `std::system_error`
  ///   (`errc::worker_exited`) if the worker exited first.
  asio::awaitable<listen_address> listening() const {
    return impl_->async_wait_listening(asio::use_awaitable);
  }

  /// Waits until the IPC channel has closed (Node's `disconnect`).
  /// @par Completion Signature
  /// `void(std::error_code)`.
  /// @par Per-Operation Cancellation
  /// All types; completes with `asio::error::operation_aborted`.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_wait_disconnect(Token&& token = {}) const {
    return impl_->async_wait_disconnect(std::forward<Token>(token));
  }

  /// `co_await worker.disconnected()`.
  /// @return an awaitable that completes once the channel has closed.
  asio::awaitable<void> disconnected() const {
    return impl_->async_wait_disconnect(asio::use_awaitable);
  }

  /// Waits until the process has ended; yields how (Node's `exit`). In a worker process about
  /// itself it completes with `errc::wrong_role`.
  /// @par Completion Signature
  /// `void(std::error_code, exit_status)`.
  /// @par Per-Operation Cancellation
  /// All types; completes with `asio::error::operation_aborted`.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <
      asio::completion_token_for<void(error_code, exit_status)> Token = asio::use_awaitable_t<>>
  auto async_wait_exit(Token&& token = {}) const {
    return impl_->async_wait_exit(std::forward<Token>(token));
  }

  /// `co_await worker.exited()`.
  /// @return an awaitable of the exit status; throws `std::system_error` (`errc::wrong_role`) in
  ///   a worker process about itself.
  asio::awaitable<exit_status> exited() const {
    return impl_->async_wait_exit(asio::use_awaitable);
  }

  /// The implementation (for the library's own layers).
  /// @return the worker's state, for the library's own layers (the passkey keeps users out).
  impl_type& impl(detail::worker_key) const noexcept { return *impl_; }

private:
  std::shared_ptr<impl_type> impl_;
};

} // namespace cocluster

/// Hashes a worker handle by its id, so that handles can be keys of unordered containers.
template <class S>
struct std::hash<cocluster::basic_worker<S>> {
  /// The hash of the worker's id (of 0 for an empty handle).
  /// @param worker the handle.
  /// @return `std::hash<int>` of its id.
  std::size_t operator()(const cocluster::basic_worker<S>& worker) const noexcept {
    return std::hash<int>()(worker ? worker.id() : 0);
  }
};

#endif // COCLUSTER_WORKER_HPP
