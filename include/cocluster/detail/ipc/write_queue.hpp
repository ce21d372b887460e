/// @file
/// The outgoing bytes of an IPC channel, with the descriptors that travel with some frames.
/// Pure bookkeeping: the channel does the I/O.
#ifndef COCLUSTER_DETAIL_IPC_WRITE_QUEUE_HPP
#define COCLUSTER_DETAIL_IPC_WRITE_QUEUE_HPP

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "cocluster/detail/unique_fd.hpp"

namespace cocluster::detail {

/// Frames waiting to be written, kept in one contiguous buffer so that many frames go out in
/// one `sendmsg`.
///
/// A frame may carry a descriptor, sent with its first byte. At most `fd_window` such frames may
/// be unacknowledged at once (Node's receiver assumes one: it matches descriptors to
/// `NODE_HANDLE` messages one read at a time); the queue stops at the next descriptor frame until
/// `acknowledge_fd` is called. Frames behind it wait too, so order is kept.
///
/// Urgent frames (`NODE_HANDLE_ACK`/`NACK`) must never wait behind that gate, or two peers that
/// pass descriptors both ways could each wait for the other's acknowledgement forever. They are
/// appended normally when no descriptor frame is pending, and otherwise kept aside and written
/// at the next frame boundary where the main queue is empty or stopped at the gate.
class write_queue {
public:
  /// One `sendmsg` worth: bytes and the descriptor to attach (-1 for none).
  struct chunk {
    const char* data = nullptr;
    std::size_t size = 0;
    int fd = -1;
    bool urgent = false;
    explicit operator bool() const noexcept { return size > 0; }
  };

  explicit write_queue(std::size_t fd_window = 1) : fd_window_(fd_window) {}

  /// The buffer that frames are encoded into: append to it, then `commit_frame`, or
  /// `rollback` to the size it had before.
  std::string& buffer() noexcept { return buffer_; }

  /// Drops bytes appended after `size` (a frame whose encoding failed).
  void rollback(std::size_t size) { buffer_.resize(size); }

  /// Registers the frame that starts at buffer offset `start` and ends at the buffer's end.
  /// `fd` (borrowed, or `owned`) is sent with its first byte. Returns the stream offset of the
  /// frame's end, for `written()` comparisons.
  std::uint64_t commit_frame(std::size_t start, int fd = -1, unique_fd owned = {}) {
    if (fd >= 0)
      fd_frames_.push_back({base_ + start, fd, std::move(owned)});
    return base_ + buffer_.size();
  }

  /// Queues an urgent frame (it must carry no descriptor).
  void push_urgent(std::string_view frame) {
    if (fd_frames_.empty()) {
      buffer_.append(frame);
      return;
    }
    urgent_.append(frame);
  }

  /// The next bytes to write, or an empty chunk when there is nothing to write now (the queue
  /// is empty, or stopped at the descriptor gate).
  chunk next() const {
    const bool main_empty = head_ == buffer_.size();
    const bool at_gate = !main_empty && gate_closed();
    if (urgent_head_ < urgent_.size() && (main_empty || at_gate))
      return {urgent_.data() + urgent_head_, urgent_.size() - urgent_head_, -1, true};
    if (main_empty || at_gate)
      return {};
    const std::uint64_t position = base_ + head_;
    std::size_t end = buffer_.size();
    int fd = -1;
    auto frame = fd_frames_.begin();
    if (frame != fd_frames_.end() && frame->offset == position) {
      fd = frame->fd;
      ++frame;
    }
    if (frame != fd_frames_.end())
      end = static_cast<std::size_t>(frame->offset - base_);
    return {buffer_.data() + head_, end - head_, fd, false};
  }

  /// Records that `n` bytes of `written_chunk` went out.
  void consume(const chunk& written_chunk, std::size_t n) {
    if (written_chunk.urgent) {
      urgent_head_ += n;
      if (urgent_head_ == urgent_.size()) {
        urgent_.clear();
        urgent_head_ = 0;
      }
      return;
    }
    if (written_chunk.fd >= 0 && n > 0) {
      fd_frames_.pop_front(); // closes an owned descriptor: the kernel holds its own reference
      ++fds_in_flight_;
    }
    head_ += n;
    compact();
  }

  /// The peer acknowledged (or refused) one descriptor frame.
  void acknowledge_fd() noexcept {
    if (fds_in_flight_ > 0)
      --fds_in_flight_;
  }

  /// Descriptor frames sent and not yet acknowledged.
  std::size_t fds_in_flight() const noexcept { return fds_in_flight_; }

  /// Changes how many descriptor frames may be unacknowledged at once.
  void set_fd_window(std::size_t window) noexcept { fd_window_ = window == 0 ? 1 : window; }

  /// Bytes queued and not yet written.
  std::size_t size() const noexcept { return buffer_.size() - head_ + urgent_.size() - urgent_head_; }

  /// True when nothing is queued.
  bool empty() const noexcept { return size() == 0; }

  /// Stream offset of the next byte to write: every frame ending at or before it was written.
  std::uint64_t written() const noexcept { return base_ + head_; }

  /// Stream offset of the end of the last committed frame.
  std::uint64_t end() const noexcept { return base_ + buffer_.size(); }

  /// Frames that carry a descriptor and were not sent yet.
  std::size_t pending_fd_frames() const noexcept { return fd_frames_.size(); }

  /// Drops everything queued (the channel closed). Owned descriptors are closed.
  void clear() {
    base_ += buffer_.size();
    buffer_.clear();
    buffer_.shrink_to_fit();
    head_ = 0;
    urgent_.clear();
    urgent_head_ = 0;
    fd_frames_.clear();
  }

private:
  struct fd_frame {
    std::uint64_t offset;
    int fd;
    unique_fd owned;
  };

  bool gate_closed() const noexcept {
    return !fd_frames_.empty() && fd_frames_.front().offset == base_ + head_ &&
           fds_in_flight_ >= fd_window_;
  }

  void compact() {
    if (head_ == buffer_.size()) {
      base_ += head_;
      head_ = 0;
      buffer_.clear();
      if (buffer_.capacity() > max_idle_capacity)
        buffer_.shrink_to_fit();
    } else if (head_ > compact_threshold && head_ > buffer_.size() / 2) {
      buffer_.erase(0, head_);
      base_ += head_;
      head_ = 0;
    }
  }

  static constexpr std::size_t compact_threshold = 256 * 1024;
  static constexpr std::size_t max_idle_capacity = 1024 * 1024;

  std::string buffer_;
  std::size_t head_ = 0;    // next byte of buffer_ to write
  std::uint64_t base_ = 0;  // stream offset of buffer_[0]
  std::string urgent_;
  std::size_t urgent_head_ = 0;
  std::deque<fd_frame> fd_frames_;
  std::size_t fd_window_;
  std::size_t fds_in_flight_ = 0;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_WRITE_QUEUE_HPP
