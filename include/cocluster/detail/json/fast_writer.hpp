// SPDX-License-Identifier: MIT
/// @file
/// A fast path for writing nlohmann::json values as compact JSON text straight into a string:
/// the bytes nlohmann's `dump()` writes, through a `buffer_sink` instead of its per-character
/// output calls.
#ifndef COCLUSTER_DETAIL_JSON_FAST_WRITER_HPP
#define COCLUSTER_DETAIL_JSON_FAST_WRITER_HPP

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cocluster/detail/json/escapes.hpp"
#include "cocluster/detail/json/nlohmann_internals.hpp"
#include "cocluster/detail/serialization/buffer_sink.hpp"
#include "cocluster/detail/v8/wtf8.hpp"

namespace cocluster::detail {

/// Writes `text` as a quoted JSON string, escaped as nlohmann escapes it. False for invalid
/// UTF-8.
inline bool write_json_string(const std::string& text, buffer_sink& out) {
  out.byte('"');
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p != end) {
    const char* run = p;
    while (p != end) {
      const auto c = static_cast<unsigned char>(*p);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
        break;
      ++p;
    }
    out.bytes(run, static_cast<std::size_t>(p - run));
    if (p == end)
      break;
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      const std::size_t length = v8::utf8_sequence_length(p, end);
      if (length == 0)
        return false;
      out.bytes(p, length);
      p += length;
      continue;
    }
    ++p;
    bool short_form = false;
    for (const auto& entry : json_short_escapes)
      if (entry.character == static_cast<char>(c)) {
        const char pair[2] = {'\\', entry.letter};
        out.bytes(pair, 2);
        short_form = true;
        break;
      }
    if (!short_form) {
      static constexpr char hex[] = "0123456789abcdef";
      const char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
      out.bytes(escaped, 6);
    }
  }
  out.byte('"');
  return true;
}

/// Writes the decimal digits of integer `n` (as `dump()` writes a JSON integer).
template <class Integer>
void write_json_integer(Integer n, buffer_sink& out) {
  std::array<char, 24> digits;
  const auto r = std::to_chars(digits.data(), digits.data() + digits.size(), n);
  out.bytes(digits.data(), static_cast<std::size_t>(r.ptr - digits.data()));
}

/// Writes the compact text of `value`, byte for byte what `value.dump()` writes (numbers as
/// nlohmann formats them, `\u00XX` in lower case, UTF-8 passed through). Returns false, partly
/// written, for what it leaves to nlohmann: invalid UTF-8 (which nlohmann refuses with its own
/// error), binary values and discarded values.
template <class Json>
bool write_json_value(const Json& value, buffer_sink& out) {
  using value_t = typename Json::value_t;
  switch (value.type()) {
  case value_t::null: out.bytes("null", 4); return true;
  case value_t::boolean:
    if (value.template get<bool>())
      out.bytes("true", 4);
    else
      out.bytes("false", 5);
    return true;
  case value_t::number_integer:
    write_json_integer(value.template get<typename Json::number_integer_t>(), out);
    return true;
  case value_t::number_unsigned:
    write_json_integer(value.template get<typename Json::number_unsigned_t>(), out);
    return true;
  case value_t::number_float: {
    const auto x = value.template get<typename Json::number_float_t>();
    if (!std::isfinite(x)) {
      out.bytes("null", 4);
      return true;
    }
    std::array<char, 64> digits;
    char* end = write_float_as_nlohmann(digits.data(), digits.data() + digits.size(), x);
    out.bytes(digits.data(), static_cast<std::size_t>(end - digits.data()));
    return true;
  }
  case value_t::string:
    return write_json_string(*value.template get_ptr<const typename Json::string_t*>(), out);
  case value_t::array: {
    out.byte('[');
    bool first = true;
    for (const auto& element : *value.template get_ptr<const typename Json::array_t*>()) {
      if (!first)
        out.byte(',');
      first = false;
      if (!write_json_value(element, out))
        return false;
    }
    out.byte(']');
    return true;
  }
  case value_t::object: {
    out.byte('{');
    bool first = true;
    for (const auto& [key, member] : *value.template get_ptr<const typename Json::object_t*>()) {
      if (!first)
        out.byte(',');
      first = false;
      if (!write_json_string(key, out))
        return false;
      out.byte(':');
      if (!write_json_value(member, out))
        return false;
    }
    out.byte('}');
    return true;
  }
  case value_t::binary:
  case value_t::discarded:
  default: return false;
  }
}

/// Appends the compact text of `value` to `out` (see `write_json_value`). Returns false for
/// what it leaves to nlohmann; `out` is then as it was.
template <class Json>
bool write_json_fast(const Json& value, std::string& out) {
  const std::size_t start = out.size();
  bool written = false;
  append_encoding(out, [&](buffer_sink& sink) { written = write_json_value(value, sink); });
  if (!written)
    out.resize(start);
  return written;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_JSON_FAST_WRITER_HPP
