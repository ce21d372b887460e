// SPDX-License-Identifier: MIT
/// @file
/// JavaScript's `Number.prototype.toString()` and array-index keys: how V8 turns numeric
/// property keys into strings and back.
#ifndef COCLUSTER_DETAIL_V8_NUMBER_TEXT_HPP
#define COCLUSTER_DETAIL_V8_NUMBER_TEXT_HPP

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace cocluster::detail::v8 {

/// ECMAScript `Number::toString(x)` (radix 10): the shortest digits that round-trip, laid out
/// as JavaScript does (`1e+21`, `1.5e-7`, `0.000001`, `-0` prints as `0`).
inline std::string js_number_to_string(double x) {
  if (std::isnan(x))
    return "NaN";
  if (x == 0)
    return "0";
  if (std::isinf(x))
    return x < 0 ? "-Infinity" : "Infinity";
  std::string out;
  if (x < 0) {
    out.push_back('-');
    x = -x;
  }
  char buffer[40];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, x,
                                    std::chars_format::scientific);
  const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
  // text is "d[.ddd]e[+-]xx": collect the digits and the decimal exponent.
  const std::size_t e = text.find('e');
  std::string digits;
  for (std::size_t i = 0; i < e; ++i)
    if (text[i] != '.')
      digits.push_back(text[i]);
  while (digits.size() > 1 && digits.back() == '0')
    digits.pop_back();
  int exponent = 0;
  const char* exponent_begin = text.data() + e + 1;
  if (*exponent_begin == '+')
    ++exponent_begin;
  std::from_chars(exponent_begin, text.data() + text.size(), exponent);
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1; // the decimal point sits after n digits
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out.push_back('.');
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out.push_back(n - 1 >= 0 ? '+' : '-');
    out += std::to_string(n - 1 >= 0 ? n - 1 : 1 - n);
  }
  return out;
}

/// True when `key` is a canonical array index (`0`, or digits without a leading zero, at most
/// 2^32 - 2), which JavaScript orders before other keys and V8 writes as a number. Stores the
/// index in `index`.
inline bool parse_array_index(std::string_view key, std::uint32_t& index) noexcept {
  if (key.empty() || key.size() > 10 || (key.size() > 1 && key[0] == '0'))
    return false;
  std::uint64_t n = 0;
  for (const char c : key) {
    if (c < '0' || c > '9')
      return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > 0xFFFFFFFEull)
    return false;
  index = static_cast<std::uint32_t>(n);
  return true;
}

/// True when `key` is a canonical array index (see `parse_array_index`).
inline bool is_array_index(std::string_view key) noexcept {
  std::uint32_t ignored = 0;
  return parse_array_index(key, ignored);
}

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_NUMBER_TEXT_HPP
