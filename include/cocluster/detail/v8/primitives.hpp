// SPDX-License-Identifier: MIT
/// @file
/// V8's primitive encodings written through a sink (`buffer_sink`): varints, zigzag integers,
/// doubles, strings with their padding rule, property keys.
#ifndef COCLUSTER_DETAIL_V8_PRIMITIVES_HPP
#define COCLUSTER_DETAIL_V8_PRIMITIVES_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "cocluster/detail/serialization/buffer_sink.hpp"
#include "cocluster/detail/v8/number_text.hpp"
#include "cocluster/detail/v8/tags.hpp"
#include "cocluster/detail/v8/wtf8.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail::v8 {

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
    if (shape.ascii)
      sink.bytes(text.data(), text.size());
    else
      latin1_from_wtf8(text, [&sink](const char* p, std::size_t n) { sink.bytes(p, n); });
    return;
  }
  const std::size_t byte_length = 2 * shape.units;
  if ((sink.position() + 1 + varint_size(byte_length)) % 2 != 0)
    sink.byte(tag::padding);
  sink.byte(tag::two_byte_string);
  put_varint(sink, byte_length);
  utf16_from_wtf8(text, [&sink](const char* p, std::size_t n) { sink.bytes(p, n); });
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

#endif // COCLUSTER_DETAIL_V8_PRIMITIVES_HPP
