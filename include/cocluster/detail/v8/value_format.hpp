// SPDX-License-Identifier: MIT
/// @file
/// The rendering behind `value::to_string()`: JavaScript-like for logs and test failures. A node
/// that may be shared is labelled `<ref *N>` where it is first printed and shown as `[Ref *N]`
/// after; nesting beyond `max_nesting` prints as `...`. Included by
/// `cocluster/value/definitions.hpp`.
#ifndef COCLUSTER_DETAIL_V8_VALUE_FORMAT_HPP
#define COCLUSTER_DETAIL_V8_VALUE_FORMAT_HPP

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cocluster/detail/v8/limits.hpp"
#include "cocluster/detail/v8/node_access.hpp"
#include "cocluster/detail/v8/number_text.hpp"
#include "cocluster/detail/v8/wtf8.hpp"
#include "cocluster/js/array.hpp"
#include "cocluster/js/array_buffer.hpp"
#include "cocluster/js/bigint.hpp"
#include "cocluster/js/date.hpp"
#include "cocluster/js/error.hpp"
#include "cocluster/js/map.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/object.hpp"
#include "cocluster/js/property_map.hpp"
#include "cocluster/js/regexp.hpp"
#include "cocluster/js/set.hpp"
#include "cocluster/js/typed_array.hpp"
#include "cocluster/js/typed_array_kind.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::detail::v8 {

/// Appends `text` (WTF-8) to `out` as a double-quoted JSON-style string literal; lone
/// surrogates and control characters are written as `\uXXXX`.
inline void append_quoted(std::string& out, std::string_view text) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t start = i;
    const std::uint32_t cp = next_code_point(p, i);
    char escape[16];
    switch (cp) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (cp < 0x20 || (cp >= 0xD800 && cp <= 0xDFFF)) {
        std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(cp));
        out += escape;
      } else {
        out.append(text.data() + start, i - start);
      }
    }
  }
  out.push_back('"');
}

/// A BigInt as text: decimal up to 64 limbs (4096 bits), hexadecimal beyond (decimal
/// conversion is quadratic).
inline std::string bounded_bigint_text(const js::bigint& b) {
  return b.to_string(b.magnitude().size() <= 64 ? 10 : 16);
}

/// Renders values.
class value_formatter {
public:
  /// Appends the rendering of `v` to the output.
  void write(const value& v, std::size_t depth = 0) {
    switch (v.kind()) {
    case value_kind::undefined: out_ += "undefined"; return;
    case value_kind::null: out_ += "null"; return;
    case value_kind::boolean: out_ += v.as_bool() ? "true" : "false"; return;
    case value_kind::int32: out_ += std::to_string(v.as_int32()); return;
    case value_kind::number: write_number(v.as_double()); return;
    case value_kind::bigint: out_ += bounded_bigint_text(v.as_bigint()) + "n"; return;
    case value_kind::string: append_quoted(out_, v.as_string()); return;
    case value_kind::hole: out_ += "<hole>"; return;
    default: break;
    }
    const js::node_base* n = node_access::node(v);
    if (const auto it = labels_.find(n); it != labels_.end()) {
      out_ += "[Ref *" + std::to_string(it->second) + "]";
      return;
    }
    if (depth >= max_nesting) {
      out_ += "...";
      return;
    }
    if (node_access::maybe_shared(v)) {
      labels_.emplace(n, labels_.size() + 1);
      out_ += "<ref *" + std::to_string(labels_.size()) + "> ";
    }
    write_node(*n, depth + 1);
  }

  /// The text written so far.
  std::string take() { return std::move(out_); }

private:
  void write_number(double x) {
    if (x == 0 && std::signbit(x))
      out_ += "-0";
    else
      out_ += js_number_to_string(x);
  }

  void write_bytes(const std::vector<std::uint8_t>& bytes) {
    out_ += " <";
    const std::size_t shown = bytes.size() < 32 ? bytes.size() : 32;
    for (std::size_t i = 0; i < shown; ++i) {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%02x", bytes[i]);
      if (i > 0)
        out_.push_back(' ');
      out_ += hex;
    }
    if (shown < bytes.size())
      out_ += " ... " + std::to_string(bytes.size() - shown) + " more";
    out_ += ">";
  }

  void write_properties(const js::property_map& properties, std::size_t depth, bool& first) {
    for (const auto& [key, item] : properties) {
      out_ += first ? "" : ", ";
      first = false;
      append_quoted(out_, key);
      out_ += ": ";
      write(item, depth);
    }
  }

  void write_node(const js::node_base& n, std::size_t depth) {
    switch (n.kind()) {
    case value_kind::object: {
      out_ += "{";
      bool first = true;
      write_properties(static_cast<const js::object&>(n), depth, first);
      out_ += "}";
      return;
    }
    case value_kind::array: {
      const auto& a = static_cast<const js::array&>(n);
      auto& self = const_cast<js::array&>(a);
      out_ += "[";
      bool first = true;
      std::size_t next = 0;
      for (const auto& item : node_access::items(self)) {
        out_ += first ? "" : ", ";
        first = false;
        write(item, depth);
        ++next;
      }
      for (const auto& [index, item] : node_access::far(self)) {
        out_ += first ? "" : ", ";
        first = false;
        out_ += std::to_string(index) + ": ";
        write(item, depth);
        next = std::size_t{index} + 1;
      }
      if (a.size() > next) {
        out_ += first ? "" : ", ";
        first = false;
        out_ += "<" + std::to_string(a.size() - next) + " holes>";
      }
      write_properties(a.properties(), depth, first);
      out_ += "]";
      return;
    }
    case value_kind::map: {
      const auto& m = static_cast<const js::map&>(n);
      out_ += "Map(" + std::to_string(m.size()) + ") {";
      bool first = true;
      for (const auto& [key, item] : m) {
        out_ += first ? "" : ", ";
        first = false;
        write(key, depth);
        out_ += " => ";
        write(item, depth);
      }
      out_ += "}";
      return;
    }
    case value_kind::set: {
      const auto& s = static_cast<const js::set&>(n);
      out_ += "Set(" + std::to_string(s.size()) + ") {";
      bool first = true;
      for (const auto& item : s) {
        out_ += first ? "" : ", ";
        first = false;
        write(item, depth);
      }
      out_ += "}";
      return;
    }
    case value_kind::date: {
      const auto& d = static_cast<const js::date&>(n);
      out_ += "Date(" + (d.valid() ? d.iso_string() : std::string("Invalid")) + ")";
      return;
    }
    case value_kind::regexp: {
      const auto& r = static_cast<const js::regexp&>(n);
      out_ += "/" + r.pattern + "/" + r.flags;
      return;
    }
    case value_kind::array_buffer: {
      const auto& b = static_cast<const js::array_buffer&>(n);
      out_ += "ArrayBuffer(" + std::to_string(b.bytes.size()) + ")";
      write_bytes(b.bytes);
      return;
    }
    case value_kind::typed_array: {
      const auto& t = static_cast<const js::typed_array&>(n);
      out_ += std::string(js::type_name(t.kind)) + "(" + std::to_string(t.length()) + ")";
      write_bytes(t.bytes);
      return;
    }
    case value_kind::error: {
      const auto& e = static_cast<const js::error&>(n);
      out_ += e.name + "(";
      if (e.message)
        append_quoted(out_, *e.message);
      if (e.cause) {
        out_ += e.message ? ", cause: " : "cause: ";
        write(*e.cause, depth);
      }
      out_ += ")";
      return;
    }
    default: out_ += "?"; return;
    }
  }

  std::string out_;
  std::unordered_map<const js::node_base*, std::size_t> labels_;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_VALUE_FORMAT_HPP
