// SPDX-License-Identifier: MIT
/// @file
/// A fast path for parsing JSON text into nlohmann::json: one pass over the bytes, strings
/// copied in one piece, numbers with `std::from_chars`. It accepts a subset of what nlohmann's
/// parser accepts and builds the same value; for anything else it answers "not mine" and the
/// caller lets nlohmann's parser decide (and word the error).
#ifndef COCLUSTER_DETAIL_JSON_FAST_READER_HPP
#define COCLUSTER_DETAIL_JSON_FAST_READER_HPP

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "cocluster/detail/json/escapes.hpp"
#include "cocluster/detail/v8/wtf8.hpp"

namespace cocluster::detail {

/// Whether the standard library parses floating-point text with `std::from_chars` (libstdc++
/// from 11 does; libc++ 19 does not, and picks a deleted overload instead).
template <class Float>
concept from_chars_parses_floats = requires(const char* p, Float& x) { std::from_chars(p, p, x); };

/// Parses all of [first, last), a JSON number, as a double. False when it is out of range, or
/// when the standard library cannot parse floating-point text without the locale (then every
/// such number is left to nlohmann's parser: correct, but slower).
template <class Float = double>
bool parse_whole_double(const char* first, const char* last, Float& out) {
  if constexpr (from_chars_parses_floats<Float>) {
    const auto [end, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && end == last;
  } else {
    return false;
  }
}

/// Reads one JSON value the way `Json::parse` would, for the common cases only.
///
/// `read` returns false (and leaves the result unspecified) for text that is not valid JSON and
/// for valid text it leaves to nlohmann: nesting deeper than `max_depth`, integers that do not
/// fit 64 bits, floating-point numbers that overflow or underflow, and `\u` escapes of lone
/// surrogates. When it returns true, nlohmann's parser would have built an equal value of the
/// same types (non-negative integers unsigned, negative ones signed, the rest double; the last
/// of duplicate keys wins).
template <class Json>
class json_fast_reader {
public:
  /// The deepest nesting this reader builds itself (it recurses); deeper text goes to
  /// nlohmann's iterative parser.
  static constexpr std::size_t max_own_depth = 128;

  /// Reads `text`, allowing `max_depth` nested arrays and objects.
  json_fast_reader(std::string_view text, std::size_t max_depth)
      : p_(text.data()), end_(text.data() + text.size()),
        max_depth_(max_depth < max_own_depth ? max_depth : max_own_depth) {}

  /// Builds the value into `out`. False: invalid or left to nlohmann.
  bool read(Json& out) {
    stack_.clear();
    skip_space();
    const bool complete = value(out);
    stack_.clear(); // what a failed read left
    if (!complete)
      return false;
    skip_space();
    return p_ == end_;
  }

private:
  using string_t = typename Json::string_t;
  using object_t = typename Json::object_t;
  using array_t = typename Json::array_t;

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }

  bool value(Json& out) {
    if (p_ == end_)
      return false;
    switch (*p_) {
    case '{': return object(out);
    case '[': return array(out);
    case '"': {
      if (std::string_view text; plain_string(text)) {
        // Builds the string from the input in place of `out`'s value, without a temporary.
        Json::template json_serializer<std::string_view, void>::to_json(out, text);
        return true;
      }
      out = string_t();
      return string(*out.template get_ptr<string_t*>());
    }
    case 't': out = true; return literal("true", 4);
    case 'f': out = false; return literal("false", 5);
    case 'n': out = nullptr; return literal("null", 4);
    default: return number(out);
    }
  }

  bool literal(const char* word, std::size_t length) {
    if (static_cast<std::size_t>(end_ - p_) < length || std::string_view(p_, length) != word)
      return false;
    p_ += length;
    return true;
  }

  // At '{' or '[': enters one level of nesting. `empty` says the container closed at once.
  bool enter(char close, bool& empty) {
    if (++depth_ > max_depth_)
      return false;
    ++p_;
    skip_space();
    empty = p_ != end_ && *p_ == close;
    if (empty) {
      ++p_;
      --depth_;
    }
    return true;
  }

  // What follows an element: ',' and more, the closing character, or an error.
  enum class after { more, closed, bad };

  after separator(char close) {
    skip_space();
    if (p_ == end_)
      return after::bad;
    if (*p_ == ',') {
      ++p_;
      skip_space();
      return after::more;
    }
    if (*p_ != close)
      return after::bad;
    ++p_;
    --depth_;
    return after::closed;
  }

  bool object(Json& out) {
    bool empty = false;
    if (!enter('}', empty))
      return false;
    out = Json::value_t::object;
    if (empty)
      return true;
    auto& members = *out.template get_ptr<object_t*>();
    string_t key;
    for (;;) {
      if (p_ == end_ || *p_ != '"')
        return false;
      // Inserted at the end when the keys come in order (as nlohmann, and so cocluster, writes
      // them): one comparison instead of a search. A duplicate key finds the existing member,
      // which is overwritten: the last one wins, as with nlohmann.
      typename object_t::iterator slot;
      if (std::string_view plain; plain_string(plain)) {
        slot = members.emplace_hint(members.end(), std::piecewise_construct,
                                    std::forward_as_tuple(plain), std::forward_as_tuple());
      } else {
        key.clear();
        if (!string(key))
          return false;
        slot = members.emplace_hint(members.end(), std::move(key), Json());
      }
      skip_space();
      if (p_ == end_ || *p_ != ':')
        return false;
      ++p_;
      skip_space();
      Json& member = slot->second;
      member = nullptr;
      if (!value(member))
        return false;
      const after next = separator('}');
      if (next != after::more)
        return next == after::closed;
    }
  }

  // Elements are read onto a stack shared by every level of nesting and moved into an array
  // of the exact size at the end: one allocation per array instead of one per doubling.
  bool array(Json& out) {
    bool empty = false;
    if (!enter(']', empty))
      return false;
    out = Json::value_t::array;
    if (empty)
      return true;
    const std::size_t base = stack_.size();
    for (;;) {
      Json element; // not built in place: nested arrays push onto the same stack
      if (!value(element))
        return false;
      stack_.push_back(std::move(element));
      const after next = separator(']');
      if (next == after::more)
        continue;
      if (next == after::bad)
        return false;
      auto& elements = *out.template get_ptr<array_t*>();
      elements.reserve(stack_.size() - base);
      for (std::size_t i = base; i < stack_.size(); ++i)
        elements.push_back(std::move(stack_[i]));
      stack_.resize(base);
      return true;
    }
  }

  // At the opening quote of a string of printable ASCII without escapes (the usual case):
  // sets `text` to its characters and moves past the closing quote. Otherwise false, and the
  // reader stays where it was.
  bool plain_string(std::string_view& text) {
    for (const char* q = p_ + 1; q != end_; ++q) {
      const auto c = static_cast<unsigned char>(*q);
      if (c == '"') {
        text = std::string_view(p_ + 1, static_cast<std::size_t>(q - p_ - 1));
        p_ = q + 1;
        return true;
      }
      if (c == '\\' || c < 0x20 || c >= 0x80)
        return false;
    }
    return false;
  }

  // At the opening quote; appends the decoded string to `out`.
  bool string(string_t& out) {
    ++p_;
    for (;;) {
      const char* run = p_;
      while (p_ != end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
          break;
        ++p_;
      }
      out.append(run, static_cast<std::size_t>(p_ - run));
      if (p_ == end_)
        return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20)
        return false; // control characters must be escaped
      if (c >= 0x80) {
        // Well-formed UTF-8 only, the ranges nlohmann's lexer checks.
        const std::size_t length = v8::utf8_sequence_length(p_, end_);
        if (length == 0)
          return false;
        out.append(p_, length);
        p_ += length;
        continue;
      }
      if (!escape(out))
        return false;
    }
  }

  // At a backslash.
  bool escape(string_t& out) {
    ++p_;
    if (p_ == end_)
      return false;
    const char c = *p_++;
    if (c == '/') {
      out.push_back('/');
      return true;
    }
    if (c != 'u') {
      for (const auto& entry : json_short_escapes)
        if (entry.letter == c) {
          out.push_back(entry.character);
          return true;
        }
      return false;
    }
    std::uint32_t code = 0;
    if (!hex4(code))
      return false;
    if (code >= 0xdc00 && code <= 0xdfff)
      return false; // a lone low surrogate: nlohmann's to refuse
    if (code >= 0xd800 && code <= 0xdbff) {
      std::uint32_t low = 0;
      if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u')
        return false;
      p_ += 2;
      if (!hex4(low) || low < 0xdc00 || low > 0xdfff)
        return false;
      code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
    }
    v8::append_code_point(out, code);
    return true;
  }

  bool hex4(std::uint32_t& code) {
    if (end_ - p_ < 4)
      return false;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      code <<= 4;
      if (c >= '0' && c <= '9')
        code |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        code |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        code |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  }

  // JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number(Json& out) {
    const char* start = p_;
    const auto digit = [&] { return p_ != end_ && *p_ >= '0' && *p_ <= '9'; };
    const bool negative = p_ != end_ && *p_ == '-';
    if (negative)
      ++p_;
    if (!digit())
      return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (digit())
        ++p_;
    }
    bool integral = true;
    if (p_ != end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (!digit())
        return false;
      while (digit())
        ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-'))
        ++p_;
      if (!digit())
        return false;
      while (digit())
        ++p_;
    }
    if (integral && negative) {
      std::int64_t n = 0;
      const auto [end, ec] = std::from_chars(start, p_, n);
      if (ec != std::errc() || end != p_)
        return false; // out of range: nlohmann makes it a double
      out = static_cast<typename Json::number_integer_t>(n);
      return true;
    }
    if (integral) {
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(start, p_, n);
      if (ec != std::errc() || end != p_)
        return false;
      out = static_cast<typename Json::number_unsigned_t>(n);
      return true;
    }
    double d = 0;
    if (!parse_whole_double(start, p_, d))
      return false; // overflow or underflow: left to nlohmann's strtod
    out = static_cast<typename Json::number_float_t>(d);
    return true;
  }

  const char* p_;
  const char* end_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  // Per thread, so that its capacity outlives one message; emptied by every `read`.
  array_t& stack_ = scratch();

  static array_t& scratch() {
    static thread_local array_t stack;
    return stack;
  }
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_JSON_FAST_READER_HPP
