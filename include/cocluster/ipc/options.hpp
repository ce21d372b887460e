// SPDX-License-Identifier: MIT
/// @file
/// The limits and tuning of an IPC channel (`cluster_options::ipc`).
#ifndef COCLUSTER_IPC_OPTIONS_HPP
#define COCLUSTER_IPC_OPTIONS_HPP

#include <chrono>
#include <cstddef>

namespace cocluster {

/// Limits of each IPC channel. The defaults suit messages up to tens of MiB.
struct ipc_options {
  /// The largest frame accepted from the peer (a JSON line, or an advanced frame's length). A
  /// larger one is a `errc::message_too_large` error that closes the channel.
  std::size_t max_message_size = 64 * 1024 * 1024;
  /// `send()` returns false, and `async_drain` waits, while more bytes than this are queued.
  std::size_t high_water_mark = 1024 * 1024;
  /// Sending more while this many bytes are queued fails with `errc::write_queue_full`: memory
  /// stays bounded when the peer stops reading.
  std::size_t write_queue_limit = 256 * 1024 * 1024;
  /// Sending a message with a handle fails with `errc::too_many_handles` while this many
  /// handles sent on the channel wait to be written or acknowledged: each holds a descriptor in
  /// the sender until the peer's `NODE_HANDLE_ACK` (Node's peers take them one at a time).
  std::size_t max_pending_handles = 256;
  /// After the channel sends or receives a message, keep checking its socket for this long
  /// before leaving it to the reactor alone. Zero (the default) never does.
  ///
  /// Polling trades CPU time for latency. The check runs as a handler that the event loop
  /// takes in turn with its other work, so nothing else waits for it; but the process stays
  /// busy instead of sleeping. A message that arrives meanwhile is read without waking a
  /// sleeping process, which is most of the cost of a request and its reply: on the 2-core
  /// machine of bench/README.md a small json round trip between primary and worker drops from
  /// about 25-30 µs to about 10 µs with 50 µs here on both sides. Each channel spends up to this
  /// much CPU time after its last message. Set it in a process that has a core to spare and
  /// waits on replies (a primary that coordinates, a worker that answers it), on each side
  /// that should answer quickly: each process sets its own `cluster_options`.
  std::chrono::microseconds busy_poll{0};
};

} // namespace cocluster

#endif // COCLUSTER_IPC_OPTIONS_HPP
