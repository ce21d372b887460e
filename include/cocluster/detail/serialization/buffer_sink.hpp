// SPDX-License-Identifier: MIT
/// @file
/// Appending an encoding to a string through a pointer (`buffer_sink`), the output of both
/// serializations' writers.
#ifndef COCLUSTER_DETAIL_SERIALIZATION_BUFFER_SINK_HPP
#define COCLUSTER_DETAIL_SERIALIZATION_BUFFER_SINK_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace cocluster::detail {

/// Appends an encoding to a string in one pass, writing through a pointer into room made
/// ahead of it: `out` is grown a little at a time (`min_room` bytes, or as many as were written
/// so far if that is more, taken from its spare capacity first; zero-filled, which for that
/// little is cheaper than appending byte by byte), and a block of bytes larger than the room
/// left is appended directly, so that a big payload is copied once. Until `finish`, `out`
/// holds the unused room after the bytes written.
class buffer_sink {
public:
  /// The least room made at a time.
  static constexpr std::size_t min_room = 256;

  /// A sink appending to `out`, whose frame body starts at its current end.
  explicit buffer_sink(std::string& out) : out_(out), base_(out.size()) {
    make_room(base_, min_room);
  }

  buffer_sink(const buffer_sink&) = delete;
  buffer_sink& operator=(const buffer_sink&) = delete;

  /// One byte.
  [[gnu::always_inline]] void byte(std::uint8_t b) {
    if (next_ == end_)
      make_room(written(), std::max(min_room, position()));
    *next_++ = static_cast<char>(b);
  }
  /// `n` bytes.
  [[gnu::always_inline]] void bytes(const void* p, std::size_t n) {
    if (n > static_cast<std::size_t>(end_ - next_)) {
      append_directly(p, n);
      return;
    }
    if (n > 0)
      std::memcpy(next_, p, n);
    next_ += n;
  }
  /// The offset of the next byte in the frame body.
  std::size_t position() const noexcept { return written() - base_; }
  /// Drops the unused room: `out` ends with the last byte written.
  void finish() { out_.resize(written()); }

private:
  std::size_t written() const noexcept { return static_cast<std::size_t>(next_ - out_.data()); }

  // The slow paths stay out of line, so that `byte` and `bytes` inline into the writers.

  // Makes room after the first `used` bytes of `out` (`wanted` bytes, or what its capacity
  // still holds if that is less but not tiny, so that a frame that fits is not reallocated)
  // and writes from there.
  [[gnu::noinline]] void make_room(std::size_t used, std::size_t wanted) {
    const std::size_t spare = out_.capacity() - used;
    out_.resize(used + (spare >= min_spare ? std::min(wanted, spare) : wanted));
    point_at(used);
  }

  // Appends `n` bytes at the end of the written ones, then keeps only the room that needs no
  // reallocation (maybe none: the next byte then makes room).
  [[gnu::noinline]] void append_directly(const void* p, std::size_t n) {
    const std::size_t used = written();
    out_.resize(used);
    out_.append(static_cast<const char*>(p), n);
    out_.resize(std::min(out_.capacity(), used + n + min_room));
    point_at(used + n);
  }

  void point_at(std::size_t used) noexcept {
    next_ = out_.data() + used;
    end_ = out_.data() + out_.size();
  }

  static constexpr std::size_t min_spare = 16;

  std::string& out_;
  std::size_t base_;
  char* next_ = nullptr;
  char* end_ = nullptr;
};

/// Appends what `write(buffer_sink&)` writes to `out`; if it throws, `out` is cut back to where
/// it was and the exception goes on.
template <class Write>
void append_encoding(std::string& out, Write&& write) {
  const std::size_t start = out.size();
  try {
    buffer_sink sink(out);
    std::forward<Write>(write)(sink);
    sink.finish();
  } catch (...) {
    out.resize(start);
    throw;
  }
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SERIALIZATION_BUFFER_SINK_HPP
