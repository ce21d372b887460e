/// @file
/// Where the encoder's bytes go (`buffer_sink`), and V8's primitive encodings written through
/// it (varints, zigzag integers, doubles, strings with their padding rule, property keys).
#ifndef COCLUSTER_DETAIL_V8_SINKS_HPP
#define COCLUSTER_DETAIL_V8_SINKS_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "cocluster/detail/v8/number_text.hpp"
#include "cocluster/detail/v8/tags.hpp"
#include "cocluster/detail/v8/wtf8.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail::v8 {

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
  /// A one-byte string's characters (Latin-1).
  void latin1(std::string_view text, const string_shape& shape) {
    if (shape.ascii)
      bytes(text.data(), text.size());
    else
      latin1_from_wtf8(text, [this](const char* p, std::size_t n) { bytes(p, n); });
  }
  /// A two-byte string's code units (host byte order).
  void utf16(std::string_view text, const string_shape&) {
    utf16_from_wtf8(text, [this](const char* p, std::size_t n) { bytes(p, n); });
  }
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

/// Throws `unencodable_value` with "advanced: <what>".
[[noreturn]] inline void unencodable(const std::string& what) {
  throw std::system_error(make_error_code(errc::unencodable_value), "advanced: " + what);
}

/// Bytes a varint of `n` takes.
inline std::size_t varint_size(std::uint64_t n) noexcept {
  std::size_t size = 1;
  while (n >= 0x80) {
    n >>= 7;
    ++size;
  }
  return size;
}

/// A base-128 varint.
template <class Sink>
void put_varint(Sink& sink, std::uint64_t n) {
  if (n < 0x80) { // most varints: lengths, counts, small integers
    sink.byte(static_cast<std::uint8_t>(n));
    return;
  }
  std::uint8_t buffer[10];
  std::size_t used = 0;
  while (n >= 0x80) {
    buffer[used++] = static_cast<std::uint8_t>(n | 0x80);
    n >>= 7;
  }
  buffer[used++] = static_cast<std::uint8_t>(n);
  sink.bytes(buffer, used);
}

/// `I` and a zigzag int32.
template <class Sink>
void put_int32(Sink& sink, std::int32_t n) {
  sink.byte(tag::int32);
  const auto u = static_cast<std::uint32_t>(n);
  put_varint(sink, (u << 1) ^ (n < 0 ? 0xFFFFFFFFu : 0u));
}

/// `N` and a double in host byte order (NaN written as the quiet NaN V8 uses).
template <class Sink>
void put_number(Sink& sink, double d) {
  sink.byte(tag::number);
  if (std::isnan(d))
    d = std::numeric_limits<double>::quiet_NaN();
  sink.bytes(&d, sizeof d);
}

/// A string as V8 writes it: Latin-1 (`"`) when every character fits, else UTF-16 (`c`),
/// preceded by a padding byte when that keeps the UTF-16 data at an even offset.
template <class Sink>
void put_string(Sink& sink, std::string_view text) {
  const string_shape shape = examine_wtf8(text);
  if (!shape.valid)
    unencodable("string is not valid UTF-8 (byte " + std::to_string(shape.error_offset) + ")");
  if (shape.units > max_string_units)
    unencodable("string longer than V8's maximum");
  if (shape.one_byte) {
    sink.byte(tag::one_byte_string);
    put_varint(sink, shape.units);
    sink.latin1(text, shape);
    return;
  }
  const std::size_t byte_length = 2 * shape.units;
  if ((sink.position() + 1 + varint_size(byte_length)) % 2 != 0)
    sink.byte(tag::padding);
  sink.byte(tag::two_byte_string);
  put_varint(sink, byte_length);
  sink.utf16(text, shape);
}

/// An array index as V8 writes a numeric key: `I` when it fits an int32, else `N`.
template <class Sink>
void put_index(Sink& sink, std::uint32_t index) {
  if (index <= 0x7FFFFFFFu)
    put_int32(sink, static_cast<std::int32_t>(index));
  else
    put_number(sink, static_cast<double>(index));
}

/// A property key: canonical array indices as numbers, other keys as strings.
template <class Sink>
void put_key(Sink& sink, std::string_view key) {
  std::uint32_t index = 0;
  if (parse_array_index(key, index))
    put_index(sink, index);
  else
    put_string(sink, key);
}

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_SINKS_HPP
