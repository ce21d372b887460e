// SPDX-License-Identifier: MIT
/// @file
/// What one IPC channel has carried: frames and bytes each way, counted by the channel.
#ifndef COCLUSTER_DETAIL_IPC_CHANNEL_COUNTERS_HPP
#define COCLUSTER_DETAIL_IPC_CHANNEL_COUNTERS_HPP

#include <cstdint>

namespace cocluster::detail {

/// A channel's traffic since it was made. Every frame counts as a message (internal ones, the
/// `NODE_HANDLE` acknowledgements included); `user_*` counts the user messages among them.
struct channel_counters {
  /// Frames queued for sending (a frame dropped by a close counts too).
  std::uint64_t messages_sent = 0;
  /// User messages among `messages_sent`.
  std::uint64_t user_messages_sent = 0;
  /// Frames received and decoded.
  std::uint64_t messages_received = 0;
  /// User messages among `messages_received`.
  std::uint64_t user_messages_received = 0;
  /// Bytes written to the socket.
  std::uint64_t bytes_sent = 0;
  /// Bytes read from the socket.
  std::uint64_t bytes_received = 0;

  /// Adds `other`'s counts to these.
  channel_counters& operator+=(const channel_counters& other) noexcept {
    messages_sent += other.messages_sent;
    user_messages_sent += other.user_messages_sent;
    messages_received += other.messages_received;
    user_messages_received += other.user_messages_received;
    bytes_sent += other.bytes_sent;
    bytes_received += other.bytes_received;
    return *this;
  }
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_CHANNEL_COUNTERS_HPP
