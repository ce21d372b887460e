// SPDX-License-Identifier: MIT
/// @file
/// Splits the bytes read from the IPC channel into frames. Pure: no I/O.
#ifndef COCLUSTER_DETAIL_IPC_FRAME_READER_HPP
#define COCLUSTER_DETAIL_IPC_FRAME_READER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "cocluster/serialization/policy.hpp"

namespace cocluster::detail {

/// A receive buffer that yields whole frames: lines for `framing::newline_delimited`, u32
/// big-endian length-prefixed bodies for `framing::length_prefixed`. Any chunking is handled:
/// many frames in one read, one frame over many reads, a UTF-8 sequence split between reads.
/// No frame may exceed `max_frame` bytes, and the buffer never grows past what one such frame
/// needs; a length prefix is checked before anything is allocated for it.
class frame_reader {
public:
  /// What `next` found.
  enum class status { frame, incomplete, error };

  frame_reader(framing format, std::size_t max_frame) : format_(format), max_frame_(max_frame) {}

  /// Free space to receive into, at least `min_read` bytes (growing or compacting the buffer).
  /// Pointers into the buffer from earlier calls are invalid afterwards.
  std::pair<char*, std::size_t> prepare() {
    const std::size_t wanted = std::max(min_read,
                                        want_ > end_ - begin_ ? want_ - (end_ - begin_) : 0);
    if (capacity_ - end_ < wanted) {
      if (begin_ > 0) {
        std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        scan_ -= begin_;
        begin_ = 0;
      }
      if (capacity_ - end_ < wanted) {
        const std::size_t size = std::max({capacity_ * 2, end_ + wanted, initial_capacity});
        // Uninitialised, as make_unique_for_overwrite (which libc++ has only from 16) gives.
        std::unique_ptr<char[]> grown(new char[size]);
        if (end_ > 0)
          std::memcpy(grown.get(), data_.get(), end_);
        data_ = std::move(grown);
        capacity_ = size;
      }
    }
    return {data_.get() + end_, capacity_ - end_};
  }

  /// Records that `n` bytes were received into the space from `prepare`.
  void commit(std::size_t n) { end_ += n; }

  /// Extracts the next whole frame. The view stays valid until the next `prepare`. On error,
  /// `reason` says what is wrong and the reader must not be used again.
  status next(std::string_view& frame, std::string& reason) {
    return format_ == framing::newline_delimited ? next_line(frame, reason)
                                                 : next_prefixed(frame, reason);
  }

  /// True when bytes of an incomplete frame are buffered.
  bool has_partial() const noexcept { return end_ > begin_; }

  /// Bytes buffered and not yet returned as frames.
  std::size_t buffered() const noexcept { return end_ - begin_; }

  /// Drops a large buffer once everything in it was consumed.
  void shrink_if_idle() {
    if (begin_ == end_ && capacity_ > 4 * initial_capacity) {
      data_.reset();
      capacity_ = begin_ = end_ = scan_ = want_ = 0;
    }
  }

private:
  static constexpr std::size_t initial_capacity = 64 * 1024;
  static constexpr std::size_t min_read = 16 * 1024;

  status next_line(std::string_view& frame, std::string& reason) {
    const char* start = data_.get();
    const void* newline = scan_ < end_ ? std::memchr(start + scan_, '\n', end_ - scan_) : nullptr;
    if (newline == nullptr) {
      scan_ = end_;
      if (end_ - begin_ > max_frame_) {
        reason = "a line of more than " + std::to_string(max_frame_) +
                 " bytes (max_message_size) without a newline";
        return status::error;
      }
      return status::incomplete;
    }
    const auto at = static_cast<std::size_t>(static_cast<const char*>(newline) - start);
    if (at - begin_ > max_frame_) {
      reason = "a line of " + std::to_string(at - begin_) + " bytes, over max_message_size (" +
               std::to_string(max_frame_) + ")";
      return status::error;
    }
    frame = std::string_view(start + begin_, at - begin_);
    begin_ = scan_ = at + 1;
    reset_if_empty();
    return status::frame;
  }

  status next_prefixed(std::string_view& frame, std::string& reason) {
    if (end_ - begin_ < 4)
      return status::incomplete;
    const auto* p = reinterpret_cast<const unsigned char*>(data_.get() + begin_);
    const std::size_t length = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                               (std::size_t{p[2]} << 8) | std::size_t{p[3]};
    if (length > max_frame_) {
      reason = "a frame length of " + std::to_string(length) + " bytes, over max_message_size (" +
               std::to_string(max_frame_) + ")";
      return status::error;
    }
    if (end_ - begin_ < 4 + length) {
      want_ = 4 + length;
      return status::incomplete;
    }
    frame = std::string_view(data_.get() + begin_ + 4, length);
    begin_ += 4 + length;
    scan_ = begin_;
    want_ = 0;
    reset_if_empty();
    return status::frame;
  }

  // Frames handed out stay valid: resetting only moves indexes, not bytes.
  void reset_if_empty() {
    if (begin_ == end_)
      begin_ = end_ = scan_ = 0;
  }

  framing format_;
  std::size_t max_frame_;
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0; // first unconsumed byte
  std::size_t end_ = 0;   // one past the last received byte
  std::size_t scan_ = 0;  // newline search resumes here
  std::size_t want_ = 0;  // bytes the current length-prefixed frame needs in all
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_FRAME_READER_HPP
