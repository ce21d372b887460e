// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::bigint`: an arbitrary-size integer as V8 stores BigInts (sign and magnitude
/// in 64-bit limbs). `cocluster/value.hpp` includes it.
#ifndef COCLUSTER_JS_BIGINT_HPP
#define COCLUSTER_JS_BIGINT_HPP

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cocluster::js {

/// A JavaScript BigInt: a sign and a magnitude of 64-bit limbs, least significant first, with
/// no leading zero limb (zero has no limbs and is never negative).
class bigint {
public:
  /// Zero.
  bigint() noexcept = default;

  /// The BigInt with value `v`.
  /// @param v any 64-bit value, `INT64_MIN` included.
  explicit bigint(std::int64_t v) {
    if (v == 0)
      return;
    negative_ = v < 0;
    magnitude_.push_back(v < 0 ? ~static_cast<std::uint64_t>(v) + 1
                               : static_cast<std::uint64_t>(v));
  }

  /// The BigInt with value `v`.
  /// @param v any unsigned 64-bit value.
  /// @return the non-negative BigInt `v` (one limb, none for 0).
  static bigint from_uint64(std::uint64_t v) {
    bigint b;
    if (v != 0)
      b.magnitude_.push_back(v);
    return b;
  }

  /// The BigInt `(negative ? -1 : 1) * sum(limbs[i] * 2^(64 i))`; leading zero limbs are
  /// dropped and zero is made non-negative.
  /// @param negative the sign; ignored when the magnitude is zero.
  /// @param limbs the magnitude in 64-bit limbs, least significant first (moved in); empty is 0.
  /// @return the BigInt, normalized.
  static bigint from_magnitude(bool negative, std::vector<std::uint64_t> limbs) {
    bigint b;
    b.magnitude_ = std::move(limbs);
    b.negative_ = negative;
    b.normalize();
    return b;
  }

  /// Parses `[-]digits` in decimal, or `[-]0x` followed by hexadecimal digits. Throws
  /// `std::invalid_argument` on anything else.
  /// @param text the number: an optional `-` or `+`, then decimal digits or `0x`/`0X` and
  ///   hexadecimal digits of either case; no spaces, no `n` suffix, no other prefix.
  /// @return the BigInt; "-0" gives zero.
  static bigint parse(std::string_view text) {
    bool negative = false;
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
      negative = text[0] == '-';
      text.remove_prefix(1);
    }
    bigint b;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
      text.remove_prefix(2);
      for (std::size_t i = text.size(); i > 0; --i) {
        const int d = hex_digit(text[i - 1]);
        if (d < 0)
          throw std::invalid_argument("bigint: not a hexadecimal digit in '" + std::string(text) +
                                      "'");
        const std::size_t bit = (text.size() - i) * 4;
        if (bit / 64 >= b.magnitude_.size())
          b.magnitude_.push_back(0);
        b.magnitude_[bit / 64] |= static_cast<std::uint64_t>(d) << (bit % 64);
      }
    } else {
      if (text.empty())
        throw std::invalid_argument("bigint: no digits");
      std::vector<std::uint32_t> halves; // base 2^32, least significant first
      for (const char c : text) {
        if (c < '0' || c > '9')
          throw std::invalid_argument("bigint: not a decimal digit in '" + std::string(text) + "'");
        std::uint64_t carry = static_cast<std::uint64_t>(c - '0');
        for (auto& h : halves) {
          const std::uint64_t t = std::uint64_t{h} * 10 + carry;
          h = static_cast<std::uint32_t>(t);
          carry = t >> 32;
        }
        if (carry != 0)
          halves.push_back(static_cast<std::uint32_t>(carry));
      }
      b.magnitude_ = from_halves(halves);
    }
    b.negative_ = negative;
    b.normalize();
    return b;
  }

  /// True for values below zero.
  /// @return the sign: false for zero.
  bool is_negative() const noexcept { return negative_; }
  /// True for zero.
  /// @return whether the magnitude has no limbs.
  bool is_zero() const noexcept { return magnitude_.empty(); }
  /// The magnitude, least significant 64-bit limb first, without leading zero limbs.
  /// @return the limbs; empty for zero.
  const std::vector<std::uint64_t>& magnitude() const noexcept { return magnitude_; }

  /// The value as `std::int64_t`, if it fits.
  /// @return the value, or `std::nullopt` outside [-2^63, 2^63 - 1].
  std::optional<std::int64_t> to_int64() const noexcept {
    if (magnitude_.empty())
      return std::int64_t{0};
    if (magnitude_.size() > 1)
      return std::nullopt;
    const std::uint64_t m = magnitude_[0];
    if (!negative_)
      return m <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                 ? std::optional<std::int64_t>(static_cast<std::int64_t>(m))
                 : std::nullopt;
    if (m <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return -static_cast<std::int64_t>(m);
    if (m == std::uint64_t{1} << 63)
      return std::numeric_limits<std::int64_t>::min();
    return std::nullopt;
  }

  /// The value as `std::uint64_t`, if it fits.
  /// @return the value, or `std::nullopt` for a negative value or one of 2^64 or more.
  std::optional<std::uint64_t> to_uint64() const noexcept {
    if (magnitude_.empty())
      return std::uint64_t{0};
    if (negative_ || magnitude_.size() > 1)
      return std::nullopt;
    return magnitude_[0];
  }

  /// The value in base 10, or in base 16 with a `0x` prefix when `radix` is 16. Decimal output
  /// takes time quadratic in the number of limbs.
  /// @param radix 16 for hexadecimal; any other value gives decimal.
  /// @return the digits, lowercase, a leading `-` when negative (`-0xff`, `255`); never an `n`
  ///   suffix.
  std::string to_string(int radix = 10) const {
    std::string digits;
    if (magnitude_.empty()) {
      digits = "0";
    } else if (radix == 16) {
      static constexpr char hex[] = "0123456789abcdef";
      for (std::size_t i = 0; i < magnitude_.size(); ++i)
        for (int shift = 0; shift < 64; shift += 4)
          digits.push_back(hex[(magnitude_[i] >> shift) & 0xF]);
      while (digits.size() > 1 && digits.back() == '0')
        digits.pop_back();
      digits += "x0";
    } else {
      std::vector<std::uint32_t> halves = to_halves(magnitude_);
      while (!halves.empty()) {
        std::uint64_t remainder = 0;
        for (std::size_t i = halves.size(); i > 0; --i) {
          const std::uint64_t t = (remainder << 32) | halves[i - 1];
          halves[i - 1] = static_cast<std::uint32_t>(t / 1000000000u);
          remainder = t % 1000000000u;
        }
        while (!halves.empty() && halves.back() == 0)
          halves.pop_back();
        for (int k = 0; k < 9; ++k) {
          digits.push_back(static_cast<char>('0' + remainder % 10));
          remainder /= 10;
          if (halves.empty() && remainder == 0)
            break;
        }
      }
    }
    if (negative_)
      digits.push_back('-');
    return std::string(digits.rbegin(), digits.rend());
  }

  /// Equal sign and magnitude.
  friend bool operator==(const bigint&, const bigint&) = default;

private:
  static int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }

  static std::vector<std::uint32_t> to_halves(const std::vector<std::uint64_t>& limbs) {
    std::vector<std::uint32_t> halves;
    halves.reserve(limbs.size() * 2);
    for (const std::uint64_t limb : limbs) {
      halves.push_back(static_cast<std::uint32_t>(limb));
      halves.push_back(static_cast<std::uint32_t>(limb >> 32));
    }
    while (!halves.empty() && halves.back() == 0)
      halves.pop_back();
    return halves;
  }

  static std::vector<std::uint64_t> from_halves(const std::vector<std::uint32_t>& halves) {
    std::vector<std::uint64_t> limbs((halves.size() + 1) / 2, 0);
    for (std::size_t i = 0; i < halves.size(); ++i)
      limbs[i / 2] |= std::uint64_t{halves[i]} << (32 * (i % 2));
    return limbs;
  }

  void normalize() noexcept {
    while (!magnitude_.empty() && magnitude_.back() == 0)
      magnitude_.pop_back();
    if (magnitude_.empty())
      negative_ = false;
  }

  bool negative_ = false;
  std::vector<std::uint64_t> magnitude_;
};

} // namespace cocluster::js

#endif // COCLUSTER_JS_BIGINT_HPP
