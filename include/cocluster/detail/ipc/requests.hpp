// SPDX-License-Identifier: MIT
/// @file
/// Node's request correlation for internal messages: each one sent is stamped with the next
/// `seq`, and a reply is the message whose `ack` names a request's `seq`.
#ifndef COCLUSTER_DETAIL_IPC_REQUESTS_HPP
#define COCLUSTER_DETAIL_IPC_REQUESTS_HPP

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "cocluster/detail/ipc/channel.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/serialization/policy.hpp"

namespace cocluster::detail {

/// Node's `seq` counter. In the primary one counter is shared by every worker, as in Node.
struct sequence {
  /// The `seq` the next message gets.
  std::int64_t next = 0;
  /// Returns `next` and moves past it.
  std::int64_t take() noexcept { return next++; }
};

/// The internal messages one channel sends, stamped with `seq`, and the requests among them
/// that wait for a reply (Node's `sendHelper` and the `callbacks` map of its `internal()`).
template <serialization_policy S>
class internal_requests {
public:
  /// What runs with a request's reply and the descriptor that came with it.
  using reply_handler = std::function<void(nlohmann::json&&, unique_fd)>;
  /// What hears of a send the channel refused (its code, and a description).
  using error_handler = std::function<void(std::error_code, const std::string&)>;

  /// Sends on `ipc` with numbers from `seq` (both must outlive this); `on_error` hears of sends
  /// the channel refused.
  internal_requests(channel<S>& ipc, sequence& seq, error_handler on_error)
      : channel_(ipc), seq_(seq), on_error_(std::move(on_error)) {}

  internal_requests(const internal_requests&) = delete;
  internal_requests& operator=(const internal_requests&) = delete;

  /// Sends `message` with the next `seq`. Returns false, taking no `seq`, when the channel is
  /// not open (Node's `sendHelper`); false, having taken one, when the channel refused it
  /// (reported to the error handler); true otherwise.
  bool send(protocol::message message) { return send_request(std::move(message), nullptr); }

  /// `send`; when it returns true and `on_reply` is set, `on_reply` runs with the reply (the
  /// message whose `ack` is this one's `seq`). When it returns false, `on_reply` is forgotten.
  bool send_request(protocol::message message, reply_handler on_reply) {
    return stamp_and_send(std::move(message), std::move(on_reply),
                          [this](const protocol::message& m) { channel_.send_internal(m); });
  }

  /// `send_request` with descriptor `fd` in a `NODE_HANDLE` envelope of type `handle_type`.
  /// `fd` must stay open until the reply or the channel's close.
  bool send_request_with_fd(protocol::message message, int fd, reply_handler on_reply,
                            std::string_view handle_type = protocol::handle_net_native) {
    return stamp_and_send(std::move(message), std::move(on_reply),
                          [this, fd, handle_type](const protocol::message& m) {
                            channel_.send_internal_with_fd(handle_type, m, fd);
                          });
  }

  /// Sends `message` with the next `seq` and the user value `payload` as its last field, `msg`
  /// (a routed message); `on_reply` as in `send_request` (may be empty). Unlike `send`, a
  /// refusal is thrown, as a user's `send` throws it.
  /// @throws std::system_error `errc::channel_closed`, `errc::write_queue_full`,
  /// `errc::unencodable_value`.
  bool send_with_payload(protocol::message message, const typename S::value_type& payload,
                         reply_handler on_reply) {
    message["seq"] = seq_.next;
    const bool below_mark = channel_.send_envelope(message, payload);
    const std::int64_t seq = seq_.take();
    if (on_reply)
      waiting_.emplace(seq, std::move(on_reply));
    return below_mark;
  }

  /// When `message` is the reply to a waiting request (its `ack` names one), hands it and `fd`
  /// to that request's handler, forgets the request and returns true; otherwise returns false
  /// and leaves both alone.
  bool deliver_reply(nlohmann::json& message, unique_fd& fd) {
    const auto ack = protocol::integer_field(message, "ack");
    if (!ack)
      return false;
    auto it = waiting_.find(*ack);
    if (it == waiting_.end())
      return false;
    auto on_reply = std::move(it->second);
    waiting_.erase(it);
    on_reply(std::move(message), std::move(fd));
    return true;
  }

  /// Forgets every waiting request (the channel closed: no reply will come).
  void forget_all() { waiting_.clear(); }

  /// How many requests wait for their reply.
  std::size_t waiting() const noexcept { return waiting_.size(); }

private:
  // The one send path: no `seq` while closed; a refusal is reported and forgets the handler.
  template <class Write>
  bool stamp_and_send(protocol::message message, reply_handler on_reply, Write write) {
    if (!channel_.is_open())
      return false;
    const std::int64_t seq = seq_.take();
    message["seq"] = seq;
    try {
      write(message);
    } catch (const std::system_error& e) {
      if (on_error_)
        on_error_(e.code(), std::string("sending an internal message: ") + e.what());
      return false;
    }
    if (on_reply)
      waiting_.emplace(seq, std::move(on_reply));
    return true;
  }

  channel<S>& channel_;
  sequence& seq_;
  error_handler on_error_;
  std::unordered_map<std::int64_t, reply_handler> waiting_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_REQUESTS_HPP
