// SPDX-License-Identifier: MIT
/// @file
/// Text conversions between the value model's strings (WTF-8: UTF-8 that may also hold lone
/// surrogates, each as its 3-byte form) and V8's Latin-1 and UTF-16 strings.
#ifndef COCLUSTER_DETAIL_V8_WTF8_HPP
#define COCLUSTER_DETAIL_V8_WTF8_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cocluster::detail::v8 {

/// What a WTF-8 string needs in order to be written as a V8 string.
struct string_shape {
  /// False when the text is not WTF-8; `error_offset` then names the first bad byte.
  bool valid = true;
  /// Offset of the first byte that is not WTF-8.
  std::size_t error_offset = 0;
  /// Every byte is below 0x80.
  bool ascii = true;
  /// Every code point is at most U+00FF: V8 writes the string as Latin-1.
  bool one_byte = true;
  /// Latin-1 bytes when `one_byte`, otherwise UTF-16 code units.
  std::size_t units = 0;
};

/// True when every byte of `[p, p + n)` is below 0x80 (eight bytes at a time).
inline bool all_ascii(const char* p, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, p + i, 8);
    if (word & 0x8080808080808080ull)
      return false;
  }
  for (; i < n; ++i)
    if (static_cast<unsigned char>(p[i]) >= 0x80)
      return false;
  return true;
}

/// The length of the sequence that lead byte `b` starts, and the accepted range of its first
/// continuation byte. `surrogates` admits U+D800..U+DFFF (WTF-8); plain UTF-8 rejects them.
/// Returns 0 for a byte that cannot start a sequence.
inline int sequence_length(unsigned char b, unsigned char& lower, unsigned char& upper,
                           bool surrogates) noexcept {
  lower = 0x80;
  upper = 0xBF;
  if (b < 0x80)
    return 1;
  if (b >= 0xC2 && b <= 0xDF)
    return 2;
  if (b == 0xE0) {
    lower = 0xA0;
    return 3;
  }
  if (b == 0xED) {
    if (!surrogates)
      upper = 0x9F;
    return 3;
  }
  if (b >= 0xE1 && b <= 0xEF)
    return 3;
  if (b == 0xF0) {
    lower = 0x90;
    return 4;
  }
  if (b >= 0xF1 && b <= 0xF3)
    return 4;
  if (b == 0xF4) {
    upper = 0x8F;
    return 4;
  }
  return 0;
}

/// The length of the well-formed UTF-8 sequence of two to four bytes that starts at `p`, or 0
/// (no overlong forms, no surrogates, nothing above U+10FFFF: RFC 3629).
inline std::size_t utf8_sequence_length(const char* p, const char* end) noexcept {
  unsigned char lower = 0;
  unsigned char upper = 0;
  const int length = sequence_length(static_cast<unsigned char>(*p), lower, upper, false);
  if (length < 2 || end - p < length)
    return 0;
  const auto first = static_cast<unsigned char>(p[1]);
  if (first < lower || first > upper)
    return 0;
  for (int i = 2; i < length; ++i)
    if ((static_cast<unsigned char>(p[i]) & 0xC0) != 0x80)
      return 0;
  return static_cast<std::size_t>(length);
}

/// Examines a WTF-8 string that is not all ASCII (see `examine_wtf8`).
inline string_shape examine_non_ascii_wtf8(std::string_view text) noexcept {
  string_shape shape;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  shape.ascii = false;
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      ++i;
      ++shape.units;
      continue;
    }
    unsigned char lower = 0;
    unsigned char upper = 0;
    const int length = sequence_length(b, lower, upper, true);
    if (length == 0 || n - i < static_cast<std::size_t>(length)) {
      shape.valid = false;
      shape.error_offset = i;
      return shape;
    }
    for (int k = 1; k < length; ++k) {
      const unsigned char c = p[i + static_cast<std::size_t>(k)];
      if (c < lower || c > upper) {
        shape.valid = false;
        shape.error_offset = i;
        return shape;
      }
      lower = 0x80;
      upper = 0xBF;
    }
    if (length > 2 || b > 0xC3)
      shape.one_byte = false;
    shape.units += length == 4 ? 2 : 1;
    i += static_cast<std::size_t>(length);
  }
  return shape;
}

/// Examines a WTF-8 string: validity, width and length in V8's terms.
inline string_shape examine_wtf8(std::string_view text) noexcept {
  if (all_ascii(text.data(), text.size())) {
    string_shape shape;
    shape.units = text.size();
    return shape;
  }
  return examine_non_ascii_wtf8(text);
}

/// Decodes the code point that starts at `p[i]` of a validated WTF-8 string, and advances `i`.
inline std::uint32_t next_code_point(const unsigned char* p, std::size_t& i) noexcept {
  const unsigned char b = p[i];
  if (b < 0x80) {
    ++i;
    return b;
  }
  if (b < 0xE0) {
    const std::uint32_t cp = (std::uint32_t{b} & 0x1Fu) << 6 | (p[i + 1] & 0x3Fu);
    i += 2;
    return cp;
  }
  if (b < 0xF0) {
    const std::uint32_t cp = (std::uint32_t{b} & 0x0Fu) << 12 | (p[i + 1] & 0x3Fu) << 6 |
                             (p[i + 2] & 0x3Fu);
    i += 3;
    return cp;
  }
  const std::uint32_t cp = (std::uint32_t{b} & 0x07u) << 18 | (p[i + 1] & 0x3Fu) << 12 |
                           (p[i + 2] & 0x3Fu) << 6 | (p[i + 3] & 0x3Fu);
  i += 4;
  return cp;
}

/// Appends the UTF-8 (or WTF-8, for a surrogate) form of code point `cp` to `out`.
inline void append_code_point(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// Writes a validated one-byte WTF-8 string as Latin-1, in chunks: `append(const char*, n)`.
template <class Append>
void latin1_from_wtf8(std::string_view text, Append&& append) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  char chunk[256];
  std::size_t used = 0;
  for (std::size_t i = 0; i < text.size();) {
    chunk[used++] = static_cast<char>(next_code_point(p, i));
    if (used == sizeof chunk) {
      append(chunk, used);
      used = 0;
    }
  }
  if (used > 0)
    append(chunk, used);
}

/// Writes a validated WTF-8 string as UTF-16 code units in host byte order (as V8 does), in
/// chunks: `append(const char*, n)`.
template <class Append>
void utf16_from_wtf8(std::string_view text, Append&& append) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  char chunk[512];
  std::size_t used = 0;
  const auto put = [&](std::uint32_t unit) {
    const auto u = static_cast<char16_t>(unit);
    std::memcpy(chunk + used, &u, 2);
    used += 2;
    if (used == sizeof chunk) {
      append(chunk, used);
      used = 0;
    }
  };
  for (std::size_t i = 0; i < text.size();) {
    const std::uint32_t cp = next_code_point(p, i);
    if (cp >= 0x10000) {
      put(0xD800 + ((cp - 0x10000) >> 10));
      put(0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      put(cp);
    }
  }
  if (used > 0)
    append(chunk, used);
}

/// Latin-1 bytes to WTF-8 (one allocation; a plain copy when they are ASCII).
inline std::string wtf8_from_latin1(const unsigned char* p, std::size_t n) {
  const char* text = reinterpret_cast<const char*>(p);
  if (all_ascii(text, n))
    return std::string(text, n);
  std::size_t high = 0;
  for (std::size_t i = 0; i < n; ++i)
    high += p[i] >> 7;
  std::string out(n + high, '\0');
  std::size_t o = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      out[o++] = static_cast<char>(c);
    } else {
      out[o++] = static_cast<char>(0xC0 | (c >> 6));
      out[o++] = static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

/// Reads UTF-16 unit `k` (host byte order, any alignment) of `p`.
inline std::uint32_t utf16_unit(const unsigned char* p, std::size_t k) noexcept {
  char16_t u;
  std::memcpy(&u, p + 2 * k, 2);
  return u;
}

/// UTF-16 units (host byte order, any alignment) to WTF-8: pairs become one code point, lone
/// surrogates keep their 3-byte form. One allocation.
inline std::string wtf8_from_utf16(const unsigned char* p, std::size_t units) {
  std::size_t length = 0;
  for (std::size_t k = 0; k < units; ++k) {
    const std::uint32_t u = utf16_unit(p, k);
    if (u < 0x80) {
      length += 1;
    } else if (u < 0x800) {
      length += 2;
    } else if (u >= 0xD800 && u <= 0xDBFF && k + 1 < units && utf16_unit(p, k + 1) >= 0xDC00 &&
               utf16_unit(p, k + 1) <= 0xDFFF) {
      length += 4;
      ++k;
    } else {
      length += 3;
    }
  }
  std::string out;
  out.reserve(length);
  for (std::size_t k = 0; k < units; ++k) {
    std::uint32_t u = utf16_unit(p, k);
    if (u >= 0xD800 && u <= 0xDBFF && k + 1 < units) {
      const std::uint32_t next = utf16_unit(p, k + 1);
      if (next >= 0xDC00 && next <= 0xDFFF) {
        u = 0x10000 + ((u - 0xD800) << 10) + (next - 0xDC00);
        ++k;
      }
    }
    append_code_point(out, u);
  }
  return out;
}

/// UTF-8 bytes to valid UTF-8, replacing each maximal invalid subpart with U+FFFD (the WHATWG
/// decoder's rule, which V8 applies to `S` strings).
inline std::string utf8_with_replacement(const unsigned char* p, std::size_t n) {
  if (all_ascii(reinterpret_cast<const char*>(p), n))
    return std::string(reinterpret_cast<const char*>(p), n);
  std::string out;
  out.reserve(n);
  std::size_t i = 0;
  while (i < n) {
    unsigned char lower = 0;
    unsigned char upper = 0;
    const int length = sequence_length(p[i], lower, upper, false);
    if (length == 0) {
      out.append("\xEF\xBF\xBD");
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    bool complete = true;
    for (int k = 1; k < length; ++k, ++j) {
      if (j >= n || p[j] < lower || p[j] > upper) {
        complete = false;
        break;
      }
      lower = 0x80;
      upper = 0xBF;
    }
    if (complete)
      out.append(reinterpret_cast<const char*>(p + i), j - i);
    else
      out.append("\xEF\xBF\xBD");
    i = j;
  }
  return out;
}

/// WTF-8 to strict UTF-8: each lone surrogate becomes U+FFFD (JSON text cannot carry it).
inline std::string utf8_from_wtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t start = i;
    const std::uint32_t cp = next_code_point(p, i);
    if (cp >= 0xD800 && cp <= 0xDFFF)
      out.append("\xEF\xBF\xBD");
    else
      out.append(text.data() + start, i - start);
  }
  return out;
}

/// WTF-8 to UTF-16 code units.
inline std::u16string utf16_string_from_wtf8(std::string_view text) {
  std::u16string out;
  out.reserve(text.size());
  utf16_from_wtf8(text, [&](const char* chunk, std::size_t n) {
    for (std::size_t k = 0; k < n; k += 2) {
      char16_t u;
      std::memcpy(&u, chunk + k, 2);
      out.push_back(u);
    }
  });
  return out;
}

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_WTF8_HPP
