// SPDX-License-Identifier: MIT
/// @file
/// A bounds-checked read position in a frame body, with V8's primitive encodings (tags with
/// padding, varints, zigzag integers, doubles, raw bytes). Every failure is a
/// `std::system_error` with `errc::malformed_message` that names the offset.
#ifndef COCLUSTER_DETAIL_V8_CURSOR_HPP
#define COCLUSTER_DETAIL_V8_CURSOR_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "cocluster/detail/v8/tags.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail::v8 {

/// Reads a frame body front to back; never reads outside it.
class cursor {
public:
  /// A cursor at the start of `body`.
  explicit cursor(std::string_view body) noexcept
      : begin_(reinterpret_cast<const std::uint8_t*>(body.data())), pos_(begin_),
        end_(begin_ + body.size()) {}

  /// Bytes consumed so far.
  std::size_t offset() const noexcept { return static_cast<std::size_t>(pos_ - begin_); }
  /// Bytes left.
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - pos_); }
  /// True when every byte has been consumed.
  bool at_end() const noexcept { return pos_ == end_; }

  /// Throws `malformed_message`: "advanced: <what> at offset <offset>".
  [[noreturn]] static void fail_at(std::size_t offset, std::string_view what) {
    throw std::system_error(make_error_code(errc::malformed_message),
                            "advanced: " + std::string(what) + " at offset " +
                                std::to_string(offset));
  }
  /// Throws `malformed_message` at the current offset.
  [[noreturn]] void fail(std::string_view what) const { fail_at(offset(), what); }

  /// The next byte, without padding rules.
  std::uint8_t read_byte() {
    if (pos_ == end_)
      fail("truncated frame");
    return *pos_++;
  }

  /// The next byte, not consumed; fails at the end.
  std::uint8_t peek_byte() const {
    if (pos_ == end_)
      fail("truncated frame");
    return *pos_;
  }

  /// Skips padding bytes (0x00), which V8 allows before any tag.
  void skip_padding() noexcept {
    while (pos_ != end_ && *pos_ == tag::padding)
      ++pos_;
  }

  /// The next tag (after padding); fails at the end.
  std::uint8_t read_tag() {
    skip_padding();
    if (pos_ == end_)
      fail("truncated frame: a tag is missing");
    return *pos_++;
  }

  /// The next tag (after padding), not consumed; fails at the end.
  std::uint8_t peek_tag() {
    skip_padding();
    if (pos_ == end_)
      fail("truncated frame: a tag is missing");
    return *pos_;
  }

  /// The next tag (after padding) if any, not consumed.
  std::optional<std::uint8_t> try_peek_tag() noexcept {
    skip_padding();
    if (pos_ == end_)
      return std::nullopt;
    return *pos_;
  }

  /// A base-128 varint as V8 reads it into a `T`: at most ceil(bits/7) bytes are read, and bits
  /// beyond `T` are dropped.
  template <class T>
  T read_varint() {
    static_assert(std::is_unsigned_v<T>);
    std::uint64_t result = 0;
    constexpr unsigned bits = std::numeric_limits<T>::digits;
    for (unsigned shift = 0; shift < bits; shift += 7) {
      if (pos_ == end_)
        fail("truncated varint");
      const std::uint8_t b = *pos_++;
      result |= static_cast<std::uint64_t>(b & 0x7Fu) << shift;
      if ((b & 0x80u) == 0)
        break;
    }
    return static_cast<T>(result);
  }

  /// A zigzag-encoded int32.
  std::int32_t read_zigzag() {
    const auto u = read_varint<std::uint32_t>();
    return static_cast<std::int32_t>((u >> 1) ^ (~(u & 1u) + 1u));
  }

  /// A double in host byte order (as V8 writes it); any NaN becomes the quiet NaN, as in V8.
  double read_double() {
    const std::uint8_t* p = read_bytes(sizeof(double));
    double d;
    std::memcpy(&d, p, sizeof d);
    if (std::isnan(d))
      d = std::numeric_limits<double>::quiet_NaN();
    return d;
  }

  /// `n` raw bytes; fails (without allocating) when fewer remain.
  const std::uint8_t* read_bytes(std::size_t n) {
    if (n > remaining())
      fail("length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
           " bytes left");
    const std::uint8_t* p = pos_;
    pos_ += n;
    return p;
  }

private:
  const std::uint8_t* begin_;
  const std::uint8_t* pos_;
  const std::uint8_t* end_;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_CURSOR_HPP
