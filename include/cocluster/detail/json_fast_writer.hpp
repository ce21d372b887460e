/// @file
/// A fast path for writing nlohmann::json values as compact JSON text straight into a string:
/// the bytes nlohmann's `dump()` writes, without its per-character output calls.
#ifndef COCLUSTER_DETAIL_JSON_FAST_WRITER_HPP
#define COCLUSTER_DETAIL_JSON_FAST_WRITER_HPP

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cocluster/detail/json_escapes.hpp"
#include "cocluster/detail/v8/wtf8.hpp"

namespace cocluster::detail {

/// Appends `text` as a quoted JSON string, escaped as nlohmann escapes it. False for invalid
/// UTF-8.
inline bool write_json_string(const std::string& text, std::string& out) {
  out.push_back('"');
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
    out.append(run, p);
    if (p == end)
      break;
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      const std::size_t length = v8::utf8_sequence_length(p, end);
      if (length == 0)
        return false;
      out.append(p, length);
      p += length;
      continue;
    }
    ++p;
    bool short_form = false;
    for (const auto& entry : json_short_escapes)
      if (entry.character == static_cast<char>(c)) {
        const char pair[2] = {'\\', entry.letter};
        out.append(pair, 2);
        short_form = true;
        break;
      }
    if (!short_form) {
      static constexpr char hex[] = "0123456789abcdef";
      const char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
      out.append(escaped, 6);
    }
  }
  out.push_back('"');
  return true;
}

/// Appends the decimal digits of integer `n` (as `dump()` writes a JSON integer).
template <class Integer>
void append_json_integer(Integer n, std::string& out) {
  std::array<char, 24> digits;
  const auto r = std::to_chars(digits.data(), digits.data() + digits.size(), n);
  out.append(digits.data(), r.ptr);
}

/// Appends the compact text of `value` to `out`, byte for byte what `value.dump()` writes
/// (numbers as nlohmann formats them, `\u00XX` in lower case, UTF-8 passed through). Returns
/// false, with `out` partly written, for what it leaves to nlohmann: invalid UTF-8 (which
/// nlohmann refuses with its own error), binary values and discarded values.
template <class Json>
bool write_json_fast(const Json& value, std::string& out) {
  using nlohmann::detail::value_t;
  switch (value.type()) {
  case value_t::null:
    out.append("null", 4);
    return true;
  case value_t::boolean:
    if (value.template get<bool>())
      out.append("true", 4);
    else
      out.append("false", 5);
    return true;
  case value_t::number_integer:
    append_json_integer(value.template get<typename Json::number_integer_t>(), out);
    return true;
  case value_t::number_unsigned:
    append_json_integer(value.template get<typename Json::number_unsigned_t>(), out);
    return true;
  case value_t::number_float: {
    const auto x = value.template get<typename Json::number_float_t>();
    if (!std::isfinite(x)) {
      out.append("null", 4);
      return true;
    }
    std::array<char, 64> digits;
    char* end = nlohmann::detail::to_chars(digits.data(), digits.data() + digits.size(), x);
    out.append(digits.data(), end);
    return true;
  }
  case value_t::string:
    return write_json_string(*value.template get_ptr<const typename Json::string_t*>(), out);
  case value_t::array: {
    out.push_back('[');
    bool first = true;
    for (const auto& element : *value.template get_ptr<const typename Json::array_t*>()) {
      if (!first)
        out.push_back(',');
      first = false;
      if (!write_json_fast(element, out))
        return false;
    }
    out.push_back(']');
    return true;
  }
  case value_t::object: {
    out.push_back('{');
    bool first = true;
    for (const auto& [key, member] : *value.template get_ptr<const typename Json::object_t*>()) {
      if (!first)
        out.push_back(',');
      first = false;
      if (!write_json_string(key, out))
        return false;
      out.push_back(':');
      if (!write_json_fast(member, out))
        return false;
    }
    out.push_back('}');
    return true;
  }
  case value_t::binary:
  case value_t::discarded:
  default:
    return false;
  }
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_JSON_FAST_WRITER_HPP
