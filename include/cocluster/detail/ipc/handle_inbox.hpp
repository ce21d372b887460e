// SPDX-License-Identifier: MIT
/// @file
/// The receiving side of Node's descriptor passing: descriptors wait in arrival order until a
/// `NODE_HANDLE` frame claims the oldest. No socket I/O here: the channel reads, this decides.
#ifndef COCLUSTER_DETAIL_IPC_HANDLE_INBOX_HPP
#define COCLUSTER_DETAIL_IPC_HANDLE_INBOX_HPP

#include <cstddef>
#include <utility>
#include <vector>

#include "cocluster/detail/unique_fd.hpp"

namespace cocluster::detail {

/// Descriptors received and not yet claimed, and the claiming of them by `NODE_HANDLE` frames.
///
/// Node sends each descriptor with the frame of its `NODE_HANDLE` message, but the kernel may
/// deliver the descriptor with an earlier read than the frame's last byte, so they are matched
/// in order, not by read. A read whose descriptors the kernel dropped (MSG_CTRUNC) leaves an
/// empty place: the frame that claims it gets a `NODE_HANDLE_NACK`, as one without any does.
class handle_inbox {
public:
  /// A peer that keeps sending descriptors without frames to claim them is cut off past this.
  static constexpr std::size_t max_unclaimed = 64;

  /// Where a read appends the descriptors it received.
  std::vector<unique_fd>& received() noexcept { return fds_; }

  /// A read whose descriptors were lost: the frame that claims its place gets none.
  void mark_lost() { fds_.emplace_back(); }

  /// True when more descriptors wait than any honest peer leaves unclaimed.
  bool overflowing() const noexcept { return fds_.size() > max_unclaimed; }

  /// The oldest descriptor waiting, for the `NODE_HANDLE` frame just read; empty when none
  /// waits or the kernel dropped it (answer `NODE_HANDLE_NACK` and drop the message).
  unique_fd take_oldest() {
    unique_fd fd;
    if (!fds_.empty()) {
      fd = std::move(fds_.front());
      fds_.erase(fds_.begin());
    }
    return fd;
  }

  /// Closes every descriptor still waiting.
  void clear() noexcept { fds_.clear(); }

private:
  std::vector<unique_fd> fds_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_HANDLE_INBOX_HPP
