// SPDX-License-Identifier: MIT
/// @file
/// The outgoing bytes of an IPC channel, with the descriptors that travel with some frames.
/// Pure bookkeeping: the channel does the I/O.
#ifndef COCLUSTER_DETAIL_IPC_WRITE_QUEUE_HPP
#define COCLUSTER_DETAIL_IPC_WRITE_QUEUE_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "cocluster/detail/unique_fd.hpp"

namespace cocluster::detail {

/// A per-thread cache of emptied write-queue blocks, so that a channel streaming large
/// messages keeps reusing the same few buffers instead of allocating, page-faulting and
/// freeing them (blocks are large enough for glibc to map them separately). Bounded per thread,
/// not per channel, so that a primary with many idle channels holds no more than `max_bytes`.
class block_cache {
public:
  /// Blocks kept per thread, at most.
  static constexpr std::size_t slots = 8;
  /// Capacity kept per thread, at most.
  static constexpr std::size_t max_bytes = 4 * 1024 * 1024;

  /// An empty string, with cached capacity when there is some.
  static std::string take() noexcept {
    block_cache* cache = local();
    if (cache == nullptr || cache->count_ == 0)
      return {};
    std::string block = std::move(cache->blocks_[--cache->count_]);
    cache->bytes_ -= block.capacity();
    return block;
  }

  /// Keeps the storage of `block` if there is room (leaving `block` empty).
  static void give(std::string& block) noexcept {
    block.clear();
    const std::size_t capacity = block.capacity();
    block_cache* cache = local();
    if (cache == nullptr || cache->count_ == slots || cache->bytes_ + capacity > max_bytes)
      return;
    cache->blocks_[cache->count_++] = std::move(block);
    cache->bytes_ += capacity;
    block = std::string();
  }

private:
  block_cache() noexcept { alive() = true; }
  ~block_cache() { alive() = false; }

  // Queues may be destroyed after this thread's cache (a static channel destroyed at exit).
  static bool& alive() noexcept {
    thread_local bool flag = false;
    return flag;
  }

  static block_cache* local() noexcept {
    thread_local block_cache cache;
    return alive() ? &cache : nullptr;
  }

  std::array<std::string, slots> blocks_;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
};

/// Frames waiting to be written, kept in a few large contiguous blocks so that many frames go
/// out in one `sendmsg`.
///
/// Frames are appended to the last block until it reaches `block_size`; then a new block (from
/// `block_cache` when possible) is started. A frame never spans two blocks. Written blocks are
/// dropped whole, so bytes are never moved to compact the queue, and a block's capacity is
/// reused rather than regrown.
///
/// A frame may carry a descriptor, sent with its first byte. At most `fd_window` such frames may
/// be unacknowledged at once (Node's receiver assumes one: it matches descriptors to
/// `NODE_HANDLE` messages one read at a time); the queue stops at the next descriptor frame until
/// `acknowledge_fd` is called. Frames behind it wait too, so order is kept.
///
/// A descriptor the queue owns (a handle sent with a user message) stays open after its frame
/// is written, until the peer acknowledges it (Node closes the sender's copy then): a refused
/// one (`NODE_HANDLE_NACK`) may be sent again with the same descriptor (see `fd_frame::resend`).
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

  explicit write_queue(std::size_t fd_window = 1) : fd_window_(fd_window) {
    blocks_.emplace_back();
  }

  write_queue(const write_queue&) = delete;
  write_queue& operator=(const write_queue&) = delete;

  ~write_queue() {
    for (auto& b : blocks_)
      block_cache::give(b.bytes);
  }

  /// The buffer that frames are encoded into: append to it, then `commit_frame`, or
  /// `rollback` to the size it had before. Offsets are relative to this buffer, which stays the
  /// same until `commit_frame` or `rollback`.
  std::string& buffer() {
    block& back = blocks_.back();
    if (back.bytes.size() >= block_size) {
      block next{block_cache::take(), end()};
      blocks_.push_back(std::move(next));
    } else if (back.bytes.empty() && back.bytes.capacity() <= std::string().capacity()) {
      back.bytes = block_cache::take(); // the last block gave its storage back when it ran empty
    }
    return blocks_.back().bytes;
  }

  /// Drops bytes appended after `size` (a frame whose encoding failed).
  void rollback(std::size_t size) { blocks_.back().bytes.resize(size); }

  /// A frame's descriptor: borrowed (`fd`) or owned (`owned`, closed once the peer
  /// acknowledged it, or when the queue is cleared).
  struct fd_frame {
    /// Stream offset of the frame's first byte.
    std::uint64_t offset = 0;
    /// The descriptor sent with it.
    int fd = -1;
    /// Set when the queue owns `fd`.
    unique_fd owned;
    /// The whole frame again, for a frame to send once more if the peer refuses it (Node's
    /// retransmission of a `net.Socket`); empty for none.
    std::string resend;
    /// How many times it was sent again already.
    int retransmissions = 0;
  };

  /// Registers the frame that starts at offset `start` of `buffer()` and ends at its end.
  /// `fd` (borrowed, or `owned`) is sent with its first byte; `resend` keeps a copy of the
  /// frame for a retransmission. Returns the stream offset of the frame's end, for `written()`
  /// comparisons.
  std::uint64_t commit_frame(std::size_t start, int fd = -1, unique_fd owned = {},
                             bool resend = false, int retransmissions = 0) {
    if (fd >= 0) {
      std::string copy;
      if (resend)
        copy.assign(blocks_.back().bytes, start);
      fd_frames_.push_back({blocks_.back().base + start, fd, std::move(owned), std::move(copy),
                            retransmissions});
    }
    return end();
  }

  /// Queues an urgent frame (it must carry no descriptor).
  void push_urgent(std::string_view frame) {
    if (fd_frames_.empty()) {
      buffer().append(frame);
      return;
    }
    urgent_.append(frame);
  }

  /// The next bytes to write, or an empty chunk when there is nothing to write now (the queue
  /// is empty, or stopped at the descriptor gate).
  chunk next() const {
    const bool main_empty = written() == end();
    const bool at_gate = !main_empty && gate_closed();
    if (urgent_head_ < urgent_.size() && (main_empty || at_gate))
      return {urgent_.data() + urgent_head_, urgent_.size() - urgent_head_, -1, true};
    if (main_empty || at_gate)
      return {};
    const block& front = blocks_.front();
    const std::uint64_t position = front.base + head_;
    std::size_t stop = front.bytes.size();
    int fd = -1;
    auto frame = fd_frames_.begin();
    if (frame != fd_frames_.end() && frame->offset == position) {
      fd = frame->fd;
      ++frame;
    }
    if (frame != fd_frames_.end() && frame->offset < front.base + front.bytes.size())
      stop = static_cast<std::size_t>(frame->offset - front.base);
    return {front.bytes.data() + head_, stop - head_, fd, false};
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
      in_flight_.push_back(std::move(fd_frames_.front()));
      fd_frames_.pop_front();
    }
    head_ += n;
    release_written();
  }

  /// The peer acknowledged (or refused) the oldest descriptor frame in flight: it is returned
  /// (an owned descriptor closes with it unless the caller sends it again).
  fd_frame acknowledge_fd() noexcept {
    fd_frame acknowledged;
    if (!in_flight_.empty()) {
      acknowledged = std::move(in_flight_.front());
      in_flight_.pop_front();
    }
    return acknowledged;
  }

  /// Descriptor frames sent and not yet acknowledged.
  std::size_t fds_in_flight() const noexcept { return in_flight_.size(); }

  /// Changes how many descriptor frames may be unacknowledged at once.
  void set_fd_window(std::size_t window) noexcept { fd_window_ = window == 0 ? 1 : window; }

  /// Bytes queued and not yet written.
  std::size_t size() const noexcept {
    return static_cast<std::size_t>(end() - written()) + urgent_.size() - urgent_head_;
  }

  /// True when nothing is queued.
  bool empty() const noexcept { return size() == 0; }

  /// Stream offset of the next byte to write: every frame ending at or before it was written.
  std::uint64_t written() const noexcept { return blocks_.front().base + head_; }

  /// Stream offset of the end of the last committed frame.
  std::uint64_t end() const noexcept { return blocks_.back().base + blocks_.back().bytes.size(); }

  /// Frames that carry a descriptor and were not sent yet.
  std::size_t pending_fd_frames() const noexcept { return fd_frames_.size(); }

  /// Drops everything queued (the channel closed). Owned descriptors are closed.
  void clear() {
    const std::uint64_t at = end();
    while (blocks_.size() > 1) {
      block_cache::give(blocks_.front().bytes);
      blocks_.pop_front();
    }
    blocks_.front().base = at;
    blocks_.front().bytes.clear();
    blocks_.front().bytes.shrink_to_fit();
    head_ = 0;
    urgent_.clear();
    urgent_head_ = 0;
    fd_frames_.clear();
    in_flight_.clear();
  }

private:
  struct block {
    std::string bytes;
    std::uint64_t base = 0; // stream offset of bytes[0]
  };

  bool gate_closed() const noexcept {
    return !fd_frames_.empty() && fd_frames_.front().offset == written() &&
           in_flight_.size() >= fd_window_;
  }

  // Drops the blocks that were written whole. The last block stays (frames are appended to
  // it); once written it is emptied in place, keeping a modest capacity for the next frames.
  void release_written() {
    while (head_ == blocks_.front().bytes.size()) {
      block& front = blocks_.front();
      if (blocks_.size() == 1) {
        front.base += front.bytes.size();
        head_ = 0;
        front.bytes.clear();
        if (front.bytes.capacity() > max_idle_capacity)
          block_cache::give(front.bytes);
        return;
      }
      head_ = 0;
      block_cache::give(front.bytes);
      blocks_.pop_front();
    }
  }

  // A block takes frames until it holds this many bytes (a frame may take it beyond).
  static constexpr std::size_t block_size = 256 * 1024;
  // The last block's capacity kept when the queue runs empty; more goes back to the cache.
  static constexpr std::size_t max_idle_capacity = 64 * 1024;

  std::deque<block> blocks_; // never empty; frames are appended to the back
  std::size_t head_ = 0;     // next byte of blocks_.front() to write
  std::string urgent_;
  std::size_t urgent_head_ = 0;
  std::deque<fd_frame> fd_frames_; // not written yet
  std::deque<fd_frame> in_flight_; // written, not yet acknowledged
  std::size_t fd_window_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_WRITE_QUEUE_HPP
