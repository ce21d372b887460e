// SPDX-License-Identifier: MIT
/// @file
/// The encoder: a `cocluster::value` to the bytes Node 20's `ChildProcessSerializer` writes for
/// the same JavaScript value, in one pass over the value (see `buffer_sink`). On failure the
/// output is cut back to where it was.
#ifndef COCLUSTER_DETAIL_V8_WRITER_HPP
#define COCLUSTER_DETAIL_V8_WRITER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cocluster/detail/v8/identity_table.hpp"
#include "cocluster/detail/v8/node_access.hpp"
#include "cocluster/detail/v8/number_text.hpp"
#include "cocluster/detail/v8/primitives.hpp"
#include "cocluster/detail/v8/tags.hpp"
#include "cocluster/value.hpp"

namespace cocluster::detail::v8 {

/// V8's `JSRegExp::Flags` for the flag letters of a RegExp; throws `unencodable_value` for an
/// unknown or repeated letter, or `u` with `v`.
inline std::uint32_t regexp_flag_bits(std::string_view flags) {
  std::uint32_t bits = 0;
  for (const char c : flags) {
    std::uint32_t bit = 0;
    switch (c) {
    case 'd': bit = regexp_flag::has_indices; break;
    case 'g': bit = regexp_flag::global; break;
    case 'i': bit = regexp_flag::ignore_case; break;
    case 'm': bit = regexp_flag::multiline; break;
    case 's': bit = regexp_flag::dot_all; break;
    case 'u': bit = regexp_flag::unicode; break;
    case 'v': bit = regexp_flag::unicode_sets; break;
    case 'y': bit = regexp_flag::sticky; break;
    default: unencodable("RegExp flag '" + std::string(1, c) + "' is not one of dgimsuvy");
    }
    if ((bits & bit) != 0)
      unencodable("RegExp flag '" + std::string(1, c) + "' repeated");
    bits |= bit;
  }
  if ((bits & regexp_flag::unicode) != 0 && (bits & regexp_flag::unicode_sets) != 0)
    unencodable("RegExp flags u and v together");
  return bits;
}

/// Writes one value graph to a `buffer_sink`.
class value_writer {
public:
  /// A writer to `sink`, refusing nesting deeper than `max_depth`.
  value_writer(buffer_sink& sink, std::size_t max_depth) noexcept
      : sink_(sink), max_depth_(max_depth) {}

  /// The header and `v`.
  void message(const value& v) {
    sink_.byte(version_tag);
    put_varint(sink_, format_version);
    write(v);
  }

  /// `v` without a header, as the value of a field `depth` levels down in a message whose
  /// objects before it took the ids below `first_id`.
  void field_value(const value& v, std::uint32_t first_id, std::size_t depth) {
    next_id_ = first_id;
    depth_ = depth;
    write(v);
  }

private:
  class depth_guard {
  public:
    explicit depth_guard(value_writer& w) : w_(w) {
      if (++w_.depth_ > w_.max_depth_)
        unencodable("nesting deeper than " + std::to_string(w_.max_depth_));
    }
    ~depth_guard() { --w_.depth_; }
    depth_guard(const depth_guard&) = delete;
    depth_guard& operator=(const depth_guard&) = delete;

  private:
    value_writer& w_;
  };

  static std::uint32_t count32(std::size_t n, const char* what) {
    if (n > 0xFFFFFFFFu)
      unencodable(std::string(what) + " has more than 2^32 - 1 entries");
    return static_cast<std::uint32_t>(n);
  }

  void write(const value& v) {
    switch (v.kind()) {
    case value_kind::undefined: sink_.byte(tag::undefined); return;
    case value_kind::null: sink_.byte(tag::null); return;
    case value_kind::boolean: sink_.byte(v.as_bool() ? tag::true_value : tag::false_value); return;
    case value_kind::int32: put_int32(sink_, v.as_int32()); return;
    case value_kind::number: put_number(sink_, v.as_double()); return;
    case value_kind::bigint: write_bigint(v.as_bigint()); return;
    case value_kind::string: put_string(sink_, v.as_string()); return;
    case value_kind::hole: unencodable("an array hole outside an array");
    default: write_node(v); return;
    }
  }

  void write_bigint(const js::bigint& b) {
    const auto& limbs = b.magnitude();
    const std::size_t bytes = limbs.size() * 8;
    if (bytes > max_bigint_bytes)
      unencodable("BigInt larger than V8 allows (2^30 bits)");
    sink_.byte(tag::bigint);
    put_varint(sink_, (std::uint64_t{bytes} << 1) | (b.is_negative() ? 1u : 0u));
    if (bytes > 0)
      sink_.bytes(limbs.data(), bytes);
  }

  void write_node(const value& v) {
    const js::node_base* n = node_access::node(v);
    // Only nodes that may be met again are recorded (and looked up).
    if (node_access::maybe_shared(v)) {
      if (const auto id = ids_.find(n)) {
        if (std::find(open_errors_.begin(), open_errors_.end(), n) != open_errors_.end())
          unencodable("an Error whose cause refers back to the Error (Node 20 cannot read it)");
        sink_.byte(tag::object_reference);
        put_varint(sink_, *id);
        return;
      }
      ids_.insert(n, next_id_);
    }
    ++next_id_;
    switch (n->kind()) {
    case value_kind::object: write_object(static_cast<const js::object&>(*n)); return;
    case value_kind::array: write_array(static_cast<const js::array&>(*n)); return;
    case value_kind::map: write_map(static_cast<const js::map&>(*n)); return;
    case value_kind::set: write_set(static_cast<const js::set&>(*n)); return;
    case value_kind::date:
      sink_.byte(tag::date);
      write_double_bits(static_cast<const js::date&>(*n).time);
      return;
    case value_kind::regexp: {
      const auto& r = static_cast<const js::regexp&>(*n);
      const std::uint32_t bits = regexp_flag_bits(r.flags);
      sink_.byte(tag::regexp);
      put_string(sink_, r.pattern);
      put_varint(sink_, bits);
      return;
    }
    case value_kind::array_buffer:
      write_array_buffer(static_cast<const js::array_buffer&>(*n));
      return;
    case value_kind::typed_array:
      write_typed_array(static_cast<const js::typed_array&>(*n));
      return;
    case value_kind::error: write_error(static_cast<const js::error&>(*n)); return;
    default: unencodable("unknown node kind");
    }
  }

  void write_double_bits(double d) {
    if (std::isnan(d))
      d = std::numeric_limits<double>::quiet_NaN();
    sink_.bytes(&d, sizeof d);
  }

  void write_properties(const js::property_map& properties, bool in_array) {
    for (const auto& [key, item] : properties) {
      if (in_array && is_array_index(key))
        unencodable("array property '" + key + "' is an index: make it an element");
      if (in_array && key == "length")
        unencodable("array property 'length' (V8 cannot define it)");
      put_key(sink_, key);
      write(item);
    }
  }

  void write_object(const js::object& o) {
    depth_guard guard(*this);
    sink_.byte(tag::begin_object);
    write_properties(o, false);
    sink_.byte(tag::end_object);
    put_varint(sink_, count32(o.size(), "object"));
  }

  void write_array(const js::array& a) {
    depth_guard guard(*this);
    const auto length = static_cast<std::uint32_t>(a.size());
    const std::uint32_t properties = count32(a.properties().size(), "array");
    if (a.is_dense() && length <= max_dense_array_length) {
      // What V8 writes for arrays with packed elements.
      sink_.byte(tag::begin_dense_array);
      put_varint(sink_, length);
      for (const auto& item : node_access::items(const_cast<js::array&>(a)))
        write(item);
      write_properties(a.properties(), true);
      sink_.byte(tag::end_dense_array);
      put_varint(sink_, properties);
      put_varint(sink_, length);
      return;
    }
    // What V8 writes for holey and dictionary arrays: index/value pairs.
    sink_.byte(tag::begin_sparse_array);
    put_varint(sink_, length);
    std::uint64_t count = 0;
    a.for_each([&](std::size_t index, const value& item) {
      put_index(sink_, static_cast<std::uint32_t>(index));
      write(item);
      ++count;
    });
    write_properties(a.properties(), true);
    sink_.byte(tag::end_sparse_array);
    put_varint(sink_, count32(count + properties, "array"));
    put_varint(sink_, length);
  }

  void write_map(const js::map& m) {
    depth_guard guard(*this);
    const std::uint32_t count = count32(std::uint64_t{m.size()} * 2, "Map");
    sink_.byte(tag::begin_map);
    for (const auto& [key, item] : m) {
      write(key);
      write(item);
    }
    sink_.byte(tag::end_map);
    put_varint(sink_, count);
  }

  void write_set(const js::set& s) {
    depth_guard guard(*this);
    const std::uint32_t count = count32(s.size(), "Set");
    sink_.byte(tag::begin_set);
    for (const auto& item : s)
      write(item);
    sink_.byte(tag::end_set);
    put_varint(sink_, count);
  }

  void write_array_buffer(const js::array_buffer& b) {
    const std::uint32_t length = count32(b.bytes.size(), "ArrayBuffer");
    if (b.max_byte_length) {
      if (length > *b.max_byte_length)
        unencodable("resizable ArrayBuffer longer than its max_byte_length");
      sink_.byte(tag::resizable_array_buffer);
      put_varint(sink_, length);
      put_varint(sink_, *b.max_byte_length);
    } else {
      sink_.byte(tag::array_buffer);
      put_varint(sink_, length);
    }
    sink_.bytes(b.bytes.data(), length);
  }

  // Node's ChildProcessSerializer: host object, "is an ArrayBufferView", then
  // DefaultSerializer._writeHostObject's typeIndex, byteLength and bytes.
  void write_typed_array(const js::typed_array& t) {
    const std::uint32_t length = count32(t.bytes.size(), "typed array");
    if (static_cast<unsigned>(t.kind) > last_host_type_index)
      unencodable("unknown typed array kind");
    if (length % t.element_size() != 0)
      unencodable(std::string(js::type_name(t.kind)) + " of " + std::to_string(length) +
                  " bytes is not a whole number of elements");
    sink_.byte(tag::host_object);
    put_varint(sink_, host_tag::array_buffer_view);
    put_varint(sink_, static_cast<std::uint32_t>(t.kind));
    put_varint(sink_, length);
    sink_.bytes(t.bytes.data(), length);
  }

  // Node 20's order: prototype, message, cause, stack, end.
  void write_error(const js::error& e) {
    sink_.byte(tag::error);
    std::uint8_t prototype = 0;
    if (e.name == "EvalError")
      prototype = error_tag::eval_error;
    else if (e.name == "RangeError")
      prototype = error_tag::range_error;
    else if (e.name == "ReferenceError")
      prototype = error_tag::reference_error;
    else if (e.name == "SyntaxError")
      prototype = error_tag::syntax_error;
    else if (e.name == "TypeError")
      prototype = error_tag::type_error;
    else if (e.name == "URIError")
      prototype = error_tag::uri_error;
    if (prototype != 0)
      put_varint(sink_, prototype);
    if (e.message) {
      put_varint(sink_, error_tag::message);
      put_string(sink_, *e.message);
    }
    if (e.cause) {
      depth_guard guard(*this);
      put_varint(sink_, error_tag::cause);
      open_errors_.push_back(&e);
      write(*e.cause);
      open_errors_.pop_back();
    }
    if (e.stack) {
      put_varint(sink_, error_tag::stack);
      put_string(sink_, *e.stack);
    }
    put_varint(sink_, error_tag::end);
  }

  buffer_sink& sink_;
  identity_table ids_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  std::uint32_t next_id_ = 0;
  std::vector<const js::node_base*> open_errors_; // Errors whose cause is being written
};

/// Appends the frame body of `v` to `out`; on failure `out` is unchanged.
inline void encode_value(const value& v, std::string& out, std::size_t max_depth) {
  append_encoding(out, [&](buffer_sink& sink) { value_writer(sink, max_depth).message(v); });
}

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_WRITER_HPP
