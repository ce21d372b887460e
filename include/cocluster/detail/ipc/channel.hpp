// SPDX-License-Identifier: MIT
/// @file
/// The IPC channel between a primary and one worker: Node's framing, descriptor passing with
/// NODE_HANDLE / ACK / NACK, a batching write queue with back-pressure, and orderly closing.
#ifndef COCLUSTER_DETAIL_IPC_CHANNEL_HPP
#define COCLUSTER_DETAIL_IPC_CHANNEL_HPP

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/async/handler_turn.hpp"
#include "cocluster/detail/async/waiter_list.hpp"
#include "cocluster/detail/ipc/channel_counters.hpp"
#include "cocluster/detail/ipc/fd_io.hpp"
#include "cocluster/detail/ipc/frame_reader.hpp"
#include "cocluster/detail/ipc/frame_writer.hpp"
#include "cocluster/detail/ipc/handle_inbox.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/ipc/received_sockets.hpp"
#include "cocluster/detail/ipc/write_queue.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/error.hpp"
#include "cocluster/ipc/handle.hpp"
#include "cocluster/ipc/options.hpp"
#include "cocluster/serialization/policy.hpp"

namespace cocluster::detail {

/// One end of an IPC channel, speaking serialization `S`: the socket I/O around the frame codec
/// (frame_reader, frame_writer), the write queue (write_queue) and the received descriptors
/// (handle_inbox).
///
/// Reading: every read is a `recvmsg` with room for descriptors. Each `NODE_HANDLE` frame takes
/// the oldest descriptor waiting; one without any, or with one that is not what the envelope's
/// `type` says, is answered `NODE_HANDLE_NACK` and reported (the descriptor closed), never
/// dropped silently. A bad frame is reported through `callbacks::error` and closes the channel.
///
/// Handles with user messages (`send_with_handle`): the channel owns the descriptor until the
/// peer's `NODE_HANDLE_ACK`, then closes it, as Node does; a `net.Socket` the peer refuses is
/// sent again, at most 3 times (Node's rule), after the frames queued meanwhile. At most
/// `ipc_options::max_pending_handles` wait at once. Sockets received with a Node server's `key`
/// are counted for that sender's `NODE_SOCKET_GET_COUNT` and `NODE_SOCKET_NOTIFY_CLOSE`
/// (received_sockets).
///
/// Writing: frames are queued in one buffer and written at the end of the current turn (see
/// `handler_turn`; posted when none is open), so that messages sent together leave in one
/// `sendmsg` and a write error is never handled inside `send()`. One exception keeps replies
/// prompt: the first frame queued in a turn onto an empty queue is written at once, inside
/// `send()`, so that it does not wait for whatever the handler does next (frames queued after
/// it in the same turn are batched as before). If that write fails or would block, the frame
/// stays queued and the end-of-turn write deals with it.
///
/// Busy polling (`ipc_options::busy_poll`): after each message sent or received, a posted
/// handler keeps reading the socket, one non-blocking `recvmsg` per turn of the event loop,
/// until that long has passed without another; the reactor's wait stays armed throughout.
template <serialization_policy S>
class channel : public std::enable_shared_from_this<channel<S>> {
public:
  using value_type = typename S::value_type;

  /// What the channel reports to its owner. Called from the channel's handlers.
  struct callbacks {
    /// A user message.
    std::function<void(value_type&&)> message;
    /// An internal message (`NODE_CLUSTER`, ...), with the descriptor that came with it.
    std::function<void(nlohmann::json&&, unique_fd)> internal;
    /// An error; when it is fatal, `closed` follows.
    std::function<void(std::error_code, const std::string&)> error;
    /// The channel closed: end of file (empty code), a local close, or a fatal error. Once.
    std::function<void(std::error_code)> closed;
    /// A user message that came with a handle (checked against the envelope's type).
    std::function<void(value_type&&, handle&&)> handle_message;
    /// An internal message that carried a user value in its `msg` field (cocluster's routed
    /// messages), with that value. Unset: `internal` gets the message without it.
    std::function<void(nlohmann::json&&, value_type&&)> internal_with_payload;
  };

  channel(asio::any_io_executor executor, unique_fd fd, const ipc_options& options)
      : executor_(executor), socket_(executor), options_(options),
        reader_(S::frame_format, options.max_message_size), writer_(S::frame_format),
        drain_waiters_(executor) {
    socket_.assign(asio::local::stream_protocol(), fd.release());
    socket_.non_blocking(true);
  }

  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  ~channel() {
    callbacks_ = {};
    close_with({});
  }

  /// Starts reading; callbacks run from then on.
  void start(callbacks cb) {
    callbacks_ = std::move(cb);
    wait_readable();
    schedule_write();
  }

  /// Stops calling back (the owner is going away) and closes.
  void detach() {
    callbacks_ = {};
    close_with({});
  }

  /// True until the channel closes (or begins an orderly close).
  bool is_open() const noexcept { return open_ && !closing_; }

  /// Queues a user message. Returns false when the queue is above the high-water mark.
  /// @throws std::system_error `errc::channel_closed`, `errc::write_queue_full`,
  /// `errc::unencodable_value`.
  bool send(const value_type& value) {
    const bool below = enqueue([&](std::string& out) { S::encode(value, out); });
    ++counters_.user_messages_sent;
    return below;
  }

  /// Queues an internal message; `seq` and the like must already be in it.
  bool send_internal(const protocol::message& message) {
    return enqueue([&](std::string& out) { S::encode_internal(message, out); });
  }

  /// Queues an internal message in a `NODE_HANDLE` envelope with a descriptor. `fd` must stay
  /// open until the frame is written or the channel closes.
  bool send_internal_with_fd(std::string_view handle_type, const protocol::message& inner, int fd) {
    auto envelope = protocol::handle_envelope(handle_type, inner);
    return enqueue([&](std::string& out) { S::encode_internal(envelope, out); }, fd);
  }

  /// Queues a user message with a handle (Node's `send(message, handle)`): the descriptor is
  /// taken from `h` and closed once the peer acknowledged it (or the channel closed).
  /// @throws std::system_error as `send`, and `errc::too_many_handles`,
  /// `errc::wrong_handle_kind` (an empty or taken handle).
  bool send_with_handle(const value_type& value, handle h) {
    if (!h)
      throw std::system_error(make_error_code(errc::wrong_handle_kind),
                              "cocluster: send: the handle is empty or was already taken");
    const std::size_t pending = queue_.pending_fd_frames() + queue_.fds_in_flight();
    if (is_open() && pending >= options_.max_pending_handles)
      throw std::system_error(make_error_code(errc::too_many_handles),
                              "cocluster: send: " + std::to_string(pending) +
                                  " handles wait for the peer's NODE_HANDLE_ACK "
                                  "(ipc_options::max_pending_handles)");
    const std::string_view dgram_type = h.kind() != handle_kind::udp_socket ? std::string_view()
                                        : is_ipv6_socket(h.native_handle()) ? "udp6"
                                                                            : "udp4";
    const auto head = protocol::user_handle_envelope_head(h.node_type(), dgram_type);
    // Node sends a refused net.Socket again, unless the sender kept its own (keepOpen).
    const bool resend = h.node_type() == protocol::handle_net_socket && !h.is_keep_open();
    const bool below = enqueue([&](std::string& out) { S::encode_envelope(head, value, out); },
                               h.native_handle(), &h, resend);
    ++counters_.user_messages_sent;
    return below;
  }

  /// Queues an internal message `head` whose last field, `msg`, holds the user value `payload`
  /// (`S::encode_envelope`): cocluster's routed messages. Returns and throws as `send`.
  bool send_envelope(const protocol::message& head, const value_type& payload) {
    return enqueue([&](std::string& out) { S::encode_envelope(head, payload, out); });
  }

  /// Queues a frame body encoded beforehand by this channel's serialization (`S::encode`,
  /// `S::encode_envelope`): a broadcast encodes its message once and queues the same bytes on
  /// every channel. `user_message`: it is a user message (counted as one), not an envelope.
  /// Returns and throws as `send`.
  bool send_encoded(std::string_view body, bool user_message) {
    const bool below = enqueue([&](std::string& out) { out.append(body); });
    if (user_message)
      ++counters_.user_messages_sent;
    return below;
  }

  /// Waits until everything queued so far has been written to the socket.
  /// Completion signature: `void(std::error_code)`; `errc::channel_closed` if it closed first,
  /// or if a write failed (the peer is gone: what was queued is dropped). A waiter whose
  /// cancellation slot is emitted completes with `asio::error::operation_aborted`.
  template <class Token>
  auto async_flush(Token&& token) {
    return asio::async_initiate<Token, void(error_code)>(
        [self = this->shared_from_this()](auto handler) {
          const std::uint64_t end = self->queue_.end();
          if (self->cannot_write())
            erased_handler<>(std::move(handler), self->executor_)
                .complete(make_error_code(errc::channel_closed));
          else if (self->queue_.written() >= end)
            erased_handler<>(std::move(handler), self->executor_).complete({});
          else {
            // Ends only grow: the waiters for one end share the last group.
            if (self->flush_waiters_.empty() || self->flush_waiters_.back().end != end)
              self->flush_waiters_.emplace_back(end, self->executor_);
            self->flush_waiters_.back().waiters.add(std::move(handler));
          }
        },
        token);
  }

  /// Waits until no more than the high-water mark is queued.
  /// Completion signature: `void(std::error_code)`; `errc::channel_closed` if it closed first,
  /// or if a write failed.
  template <class Token>
  auto async_drain(Token&& token) {
    return asio::async_initiate<Token, void(error_code)>(
        [self = this->shared_from_this()](auto handler) {
          if (self->cannot_write())
            erased_handler<>(std::move(handler), self->executor_)
                .complete(make_error_code(errc::channel_closed));
          else if (self->queue_.size() <= self->options_.high_water_mark)
            erased_handler<>(std::move(handler), self->executor_).complete({});
          else
            self->drain_waiters_.add(std::move(handler), self);
        },
        token);
  }

  /// Closes at once; queued bytes are dropped.
  void close() { close_with({}); }

  /// Stops taking messages, writes what is queued, then closes.
  void close_when_flushed() {
    if (!open_ || closing_)
      return;
    closing_ = true;
    if (queue_.empty())
      close_with({});
    else
      schedule_write();
  }

  /// Bytes queued and not yet written.
  std::size_t queued_bytes() const noexcept { return queue_.size(); }

  /// The messages and bytes carried so far.
  const channel_counters& counters() const noexcept { return counters_; }

  /// How many descriptor frames may be unacknowledged at once (Node peers need 1).
  void set_fd_window(std::size_t window) { queue_.set_fd_window(window); }

  /// The socket's descriptor.
  int native_handle() { return socket_.native_handle(); }

private:
  // Reads per turn before yielding to other handlers.
  static constexpr int reads_per_turn = 32;
  // How often a refused net.Socket is sent again (Node's MAX_HANDLE_RETRANSMISSIONS).
  static constexpr int max_retransmissions = 3;
  // How often sockets a sender waits on are checked for closing.
  static constexpr std::chrono::milliseconds socket_poll_interval{50};

  // Appends one frame; with `source`, the frame carries its descriptor (`fd`), which the queue
  // takes from it once the frame is encoded.
  template <class Encode>
  bool enqueue(Encode&& encode, int fd = -1, handle* source = nullptr, bool resend = false) {
    if (!open_ || closing_)
      throw std::system_error(make_error_code(errc::channel_closed), "cocluster: send");
    if (queue_.size() >= options_.write_queue_limit)
      throw std::system_error(make_error_code(errc::write_queue_full),
                              "cocluster: send: " + std::to_string(queue_.size()) +
                                  " bytes queued (write_queue_limit)");
    const bool was_empty = queue_.empty();
    std::string& out = queue_.buffer();
    const std::size_t start = writer_.begin(out);
    try {
      encode(out);
      writer_.end(out, start);
    } catch (...) {
      queue_.rollback(start);
      throw;
    }
    unique_fd owned = source != nullptr ? source->take_descriptor() : unique_fd();
    queue_.commit_frame(start, fd, std::move(owned), resend);
    ++counters_.messages_sent;
    if (!(was_empty && write_through()))
      schedule_write();
    keep_polling();
    return queue_.size() <= options_.high_water_mark;
  }

  // Writes the queue now, from inside send(), when this is the first write-through of the turn
  // (see the class comment). Returns true when everything was written and nothing else is left
  // to do; false leaves the rest (and any error) to write_now at the end of the turn.
  bool write_through() {
    if (waiting_writable_ || write_broken_ || !handler_turn::is_open() ||
        write_through_turn_ == handler_turn::current_serial())
      return false;
    write_through_turn_ = handler_turn::current_serial();
    std::error_code ec;
    write_queued(ec);
    return !ec && queue_.empty() && flush_waiters_.empty();
  }

  void push_urgent(const protocol::message& message) {
    std::string frame;
    const std::size_t start = writer_.begin(frame);
    S::encode_internal(message, frame);
    writer_.end(frame, start);
    queue_.push_urgent(frame);
    ++counters_.messages_sent;
    schedule_write();
  }

  // Waits until the socket is ready for `type`, with the flag `Waiting` set meanwhile, then
  // runs `Next` in a library turn; a failed wait fails the channel, named by `what`.
  template <bool channel::* Waiting, void (channel::*Next)()>
  void wait_then(asio::socket_base::wait_type type, const char* what) {
    this->*Waiting = true;
    socket_.async_wait(type, [self = this->shared_from_this(), what](std::error_code ec) {
      handler_turn turn;
      (*self).*Waiting = false;
      if (!self->open_)
        return;
      if (ec)
        return self->fail(ec, what);
      ((*self).*Next)();
      turn.finish();
    });
  }

  // ---- writing ----

  void schedule_write() {
    if (write_scheduled_ || waiting_writable_ || !open_ || write_broken_)
      return;
    write_scheduled_ = true;
    defer_to_turn_end(executor_, [self = this->shared_from_this()] {
      self->write_scheduled_ = false;
      self->write_now();
    });
  }

  // Writes what the queue offers until it is empty or stopped at the descriptor gate, or until
  // a write fails (`ec`, EAGAIN included).
  void write_queued(std::error_code& ec) {
    while (const auto chunk = queue_.next()) {
      const std::size_t n = send_with_fd(socket_.native_handle(), chunk.data, chunk.size, chunk.fd,
                                         ec);
      if (ec)
        return;
      queue_.consume(chunk, n);
      counters_.bytes_sent += n;
    }
  }

  void write_now() {
    if (!open_)
      return;
    std::error_code ec;
    write_queued(ec);
    if (would_block(ec)) {
      wait_then<&channel::waiting_writable_, &channel::write_now>(
          asio::socket_base::wait_write, "waiting to write to the IPC channel");
    } else if (ec) {
      return write_failed(ec);
    }
    report_progress();
  }

  void report_progress() {
    const std::uint64_t written = queue_.written();
    while (!flush_waiters_.empty() && flush_waiters_.front().end <= written) {
      flush_waiters_.front().waiters.complete_all({});
      flush_waiters_.pop_front();
    }
    if (queue_.size() <= options_.high_water_mark)
      drain_waiters_.complete_all({});
    if (closing_ && queue_.empty() && !write_broken_)
      close_with({});
  }

  // The peer is gone (EPIPE, ECONNRESET): nothing more can be written, but what it sent before
  // going may still be unread. Drop the queue, report, and let the reader reach end of file.
  void write_failed(std::error_code ec) {
    report(ec, "write to the IPC channel (sendmsg): " + ec.message() + "; " +
                   std::to_string(queue_.size()) + " queued bytes were not sent");
    write_broken_ = true;
    closing_ = true;
    queue_.clear();
    // What they waited for can no longer happen: the channel is closed to them (the write's
    // own error went to the error callback above).
    complete_waiters();
    asio::post(executor_, [self = this->shared_from_this()] {
      if (self->open_)
        self->read_now();
    });
  }

  // ---- reading ----

  void wait_readable() {
    if (!open_ || waiting_readable_)
      return;
    wait_then<&channel::waiting_readable_, &channel::read_now>(
        asio::socket_base::wait_read, "waiting to read from the IPC channel");
  }

  // Reads until the socket is empty (the reactor is edge-triggered), yielding now and then.
  void read_now() {
    for (int i = 0; i < reads_per_turn; ++i) {
      auto [space, size] = reader_.prepare();
      std::error_code ec;
      const received r = receive_with_fds(socket_.native_handle(), space, size, handles_.received(),
                                          ec);
      if (would_block(ec))
        return socket_empty(i > 0);
      if (ec)
        return fail(ec, "recvmsg on the IPC channel");
      if (r.descriptors_lost)
        handles_.mark_lost();
      if (r.eof)
        return end_of_file();
      reader_.commit(r.bytes);
      counters_.bytes_received += r.bytes;
      if (!deliver_frames())
        return;
      // Let the receivers of this read run before the next one: a consumer keeps up with each
      // read, as it would with a fast producer, instead of finding 32 reads' worth at once.
      handler_turn::run_pending();
      if (!open_)
        return;
      if (handles_.overflowing())
        return fail(make_error_code(errc::malformed_message),
                    "the peer sent more than " + std::to_string(handle_inbox::max_unclaimed) +
                        " descriptors without NODE_HANDLE messages to claim them");
      if (r.bytes < size) {
        // A short read emptied the socket: wait rather than make a recvmsg that returns
        // EAGAIN. Asio's async_wait re-arms the descriptor (EPOLL_CTL_MOD), which reports
        // bytes that arrived since, so nothing is missed.
        return socket_empty(true);
      }
    }
    asio::post(executor_, [self = this->shared_from_this()] {
      handler_turn turn;
      if (self->open_)
        self->read_now();
      turn.finish();
    });
  }

  // The socket has nothing more to read for now (`received`: after reading something).
  void socket_empty(bool received) {
    reader_.shrink_if_idle();
    wait_readable();
    if (received)
      keep_polling();
  }

  // ---- busy polling ----

  // A message was sent or received: poll until `busy_poll` passes without another.
  void keep_polling() {
    if (options_.busy_poll <= std::chrono::microseconds::zero() || !open_)
      return;
    poll_until_ = std::chrono::steady_clock::now() + options_.busy_poll;
    if (!polling_) {
      polling_ = true;
      post_poll();
    }
  }

  void post_poll() {
    asio::post(executor_, [self = this->shared_from_this()] {
      if (!self->open_ || std::chrono::steady_clock::now() >= self->poll_until_) {
        self->polling_ = false;
        return;
      }
      handler_turn turn;
      self->read_now();
      if (self->open_)
        self->post_poll();
      else
        self->polling_ = false;
      turn.finish();
    });
  }

  void end_of_file() {
    if (reader_.has_partial())
      report(make_error_code(errc::malformed_message),
             "the channel closed in the middle of a message (" +
                 std::to_string(reader_.buffered()) + " bytes dropped)");
    close_with({});
  }

  // Returns false when the channel closed while delivering.
  bool deliver_frames() {
    std::string_view frame;
    std::string reason;
    while (open_) {
      const auto status = reader_.next(frame, reason);
      if (status == frame_reader::status::incomplete)
        return true;
      if (status == frame_reader::status::error) {
        fail(make_error_code(errc::message_too_large), reason);
        return false;
      }
      if (frame.empty() && S::frame_format == framing::newline_delimited) {
        fail(make_error_code(errc::malformed_message), "a blank line (JSON.parse('') throws)");
        return false;
      }
      value_type value;
      try {
        value = S::decode(frame);
      } catch (const std::system_error& e) {
        fail(e.code(), e.what());
        return false;
      } catch (const std::exception& e) {
        fail(make_error_code(errc::malformed_message), e.what());
        return false;
      }
      ++counters_.messages_received;
      auto payload = S::take_payload(value);
      if (auto internal = S::take_internal(value)) {
        deliver_internal(std::move(*internal), std::move(payload));
        continue;
      }
      ++counters_.user_messages_received;
      if (callbacks_.message)
        callbacks_.message(std::move(value));
    }
    return false;
  }

  void deliver_internal(nlohmann::json&& message, std::optional<value_type>&& payload) {
    const auto cmd = protocol::cmd(message);
    if (cmd == protocol::cmd_handle_ack || cmd == protocol::cmd_handle_nack) {
      acknowledged(cmd == protocol::cmd_handle_ack);
      return;
    }
    if (cmd == protocol::cmd_handle)
      return deliver_handle(std::move(message), std::move(payload));
    bool socket_request = false;
    auto answer = received_.answer(message, socket_request);
    if (socket_request) {
      if (!answer.empty())
        send_internal_quietly(answer);
      else
        watch_received_sockets();
      return;
    }
    if (payload && callbacks_.internal_with_payload)
      callbacks_.internal_with_payload(std::move(message), std::move(*payload));
    else if (callbacks_.internal)
      callbacks_.internal(std::move(message), unique_fd());
  }

  // The peer acknowledged (or refused) the oldest descriptor frame in flight.
  void acknowledged(bool received) {
    auto frame = queue_.acknowledge_fd();
    if (!received && frame.owned && !frame.resend.empty() &&
        frame.retransmissions < max_retransmissions && open_ && !closing_) {
      std::string& out = queue_.buffer();
      const std::size_t start = out.size();
      out += frame.resend;
      const int fd = frame.owned.get();
      queue_.commit_frame(start, fd, std::move(frame.owned), true, frame.retransmissions + 1);
    } else if (!received) {
      report(make_error_code(errc::handle_lost),
             frame.retransmissions > 0
                 ? "the peer refused a handle we sent " +
                       std::to_string(frame.retransmissions + 1) +
                       " times (NODE_HANDLE_NACK); it was closed"
                 : std::string("the peer did not receive a descriptor we sent (NODE_HANDLE_NACK)"));
    }
    schedule_write();
  }

  // A NODE_HANDLE envelope: its descriptor is the oldest one waiting. It is acknowledged once
  // it is what the envelope's type says; otherwise refused and closed.
  void deliver_handle(nlohmann::json&& envelope, std::optional<value_type>&& payload) {
    unique_fd fd = handles_.take_oldest();
    const auto type = protocol::string_field(envelope, "type").value_or(std::string_view());
    std::string problem;
    if (!fd)
      problem = "a NODE_HANDLE message arrived without its descriptor";
    else if (!payload)
      problem = "a NODE_HANDLE message has no msg";
    else if (!handle_fits(type, socket_kind(fd.get())))
      problem = "a NODE_HANDLE message of type '" + std::string(type) +
                "' came with a descriptor that is a " + to_string(socket_kind(fd.get()));
    if (!problem.empty()) {
      push_urgent(protocol::handle_reply(false));
      report(make_error_code(fd ? errc::wrong_handle_kind : errc::handle_lost),
             problem + "; it was refused (NODE_HANDLE_NACK) and dropped");
      return;
    }
    push_urgent(protocol::handle_reply(true));
    if (auto inner = S::take_internal(*payload)) {
      if (callbacks_.internal)
        callbacks_.internal(std::move(*inner), std::move(fd));
      return;
    }
    if (auto key = protocol::string_field(envelope, "key"))
      received_.add(std::string(*key), fd.get());
    ++counters_.user_messages_received;
    if (callbacks_.handle_message)
      callbacks_.handle_message(std::move(*payload), handle::adopt(fd.release()));
  }

  // Whether a descriptor of `kind` is what a NODE_HANDLE of `type` announces.
  static bool handle_fits(std::string_view type, handle_kind kind) {
    const bool stream_socket = kind == handle_kind::tcp_socket || kind == handle_kind::local_socket;
    const bool listening = kind == handle_kind::tcp_acceptor || kind == handle_kind::local_acceptor;
    if (type == protocol::handle_net_socket)
      return stream_socket;
    if (type == protocol::handle_net_server)
      return listening;
    if (type == protocol::handle_net_native)
      return stream_socket || listening;
    if (type == protocol::handle_dgram_socket || type == protocol::handle_dgram_native)
      return kind == handle_kind::udp_socket;
    return false;
  }

  // An answer of ours that the peer did not ask through a call that could fail (Node swallows
  // these errors too): a closed channel just drops it.
  void send_internal_quietly(const protocol::message& message) {
    if (!is_open())
      return;
    try {
      send_internal(message);
    } catch (const std::system_error&) {
    }
  }

  // Checks now and then whether the received sockets a sender waits on have all closed (the
  // application closes plain Asio sockets, which cannot be observed otherwise).
  void watch_received_sockets() {
    if (socket_timer_ || !received_.has_waiting() || !open_)
      return;
    socket_timer_ = std::make_unique<asio::steady_timer>(executor_, socket_poll_interval);
    socket_timer_->async_wait([weak = this->weak_from_this()](std::error_code ec) {
      auto self = weak.lock();
      if (!self || ec || !self->open_)
        return;
      self->socket_timer_.reset();
      for (const auto& answer : self->received_.poll())
        self->send_internal_quietly(answer);
      self->watch_received_sockets();
    });
  }

  // ---- errors and closing ----

  void report(std::error_code ec, const std::string& what) {
    if (callbacks_.error)
      callbacks_.error(ec, what);
  }

  void fail(std::error_code ec, const std::string& what) {
    if (!open_)
      return;
    report(ec, what);
    close_with(ec);
  }

  // Completes every flush and drain waiter with channel_closed: the channel closed, or can
  // write nothing more.
  void complete_waiters() {
    auto flushes = std::move(flush_waiters_);
    flush_waiters_.clear();
    for (auto& group : flushes)
      group.waiters.complete_all(make_error_code(errc::channel_closed));
    drain_waiters_.complete_all(make_error_code(errc::channel_closed));
  }

  // True once nothing more can be written: closed, or the peer stopped reading.
  bool cannot_write() const noexcept { return !open_ || write_broken_; }

  void close_with(std::error_code reason) {
    if (!open_)
      return;
    open_ = false;
    error_code ignored;
    socket_.cancel(ignored);
    socket_.close(ignored);
    queue_.clear();
    handles_.clear();
    if (socket_timer_)
      socket_timer_->cancel();
    complete_waiters();
    if (callbacks_.closed) {
      auto closed = std::move(callbacks_.closed);
      callbacks_.closed = nullptr;
      closed(reason);
    }
  }

  asio::any_io_executor executor_;
  asio::local::stream_protocol::socket socket_;
  ipc_options options_;
  callbacks callbacks_;
  frame_reader reader_;
  frame_writer writer_;
  write_queue queue_;
  handle_inbox handles_;
  received_sockets received_;
  std::unique_ptr<asio::steady_timer> socket_timer_;
  channel_counters counters_;
  // The flush waiters for the bytes up to `end` of the stream (cancelled ones leave theirs).
  struct flush_group {
    flush_group(std::uint64_t at, const asio::any_io_executor& executor)
        : end(at), waiters(executor) {}
    std::uint64_t end;
    waiter_list<> waiters;
  };

  std::deque<flush_group> flush_waiters_; // in order of `end`
  waiter_list<> drain_waiters_;
  bool open_ = true;
  bool closing_ = false;
  bool write_scheduled_ = false;
  bool waiting_writable_ = false;
  bool write_broken_ = false;
  bool waiting_readable_ = false; // an async_wait for reading is outstanding
  bool polling_ = false;          // a busy-poll handler is posted
  std::chrono::steady_clock::time_point poll_until_{};
  std::uint64_t write_through_turn_ = 0; // the turn of the last write_through()
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_CHANNEL_HPP
