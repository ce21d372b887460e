// SPDX-License-Identifier: MIT
/// @file
/// The decoder: one frame body (V8 ValueSerializer bytes with Node's host objects) to a
/// `cocluster::value`, checked like V8's `ValueDeserializer` and Node's
/// `ChildProcessDeserializer` check it, and safe on any input: lengths are checked against the
/// bytes left before anything is allocated, nesting is bounded, and back-references must name
/// an object already read.
#ifndef COCLUSTER_DETAIL_V8_READER_HPP
#define COCLUSTER_DETAIL_V8_READER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cocluster/detail/v8/byte_pool.hpp"
#include "cocluster/detail/v8/cursor.hpp"
#include "cocluster/detail/v8/iso_date.hpp"
#include "cocluster/detail/v8/node_access.hpp"
#include "cocluster/detail/v8/number_text.hpp"
#include "cocluster/detail/v8/tags.hpp"
#include "cocluster/detail/v8/wtf8.hpp"
#include "cocluster/value.hpp"

namespace cocluster::detail::v8 {

/// Decodes one frame body.
class reader {
public:
  /// A reader of `body`, refusing nesting deeper than `max_depth`.
  reader(std::string_view body, std::size_t max_depth) noexcept
      : in_(body), max_depth_(max_depth), ids_(std::move(spare_ids())) {}

  ~reader() {
    // The id table's storage serves the thread's next message (unless it grew large).
    ids_.clear();
    if (ids_.capacity() <= max_spare_ids)
      spare_ids() = std::move(ids_);
  }

  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  /// The header, one value, and nothing after it but padding.
  value read_message() {
    if (in_.at_end() || in_.peek_byte() != version_tag)
      in_.fail("missing the version header (0xFF)");
    in_.read_byte();
    version_ = in_.read_varint<std::uint32_t>();
    if (version_ < oldest_format_version || version_ > format_version)
      cursor::fail_at(1, "unsupported format version " + std::to_string(version_));
    value result;
    read_value(result);
    in_.skip_padding();
    if (!in_.at_end())
      in_.fail("trailing bytes after the value");
    return result;
  }

private:
  enum class id_state : std::uint8_t { pending, open, done };

  // A property key of an array: an element index, or a name.
  struct key {
    bool is_index = false;
    std::uint32_t index = 0;
    std::string name;
  };

  class depth_guard {
  public:
    explicit depth_guard(reader& r) : r_(r) {
      if (++r_.depth_ > r_.max_depth_)
        r_.in_.fail("nesting deeper than " + std::to_string(r_.max_depth_));
    }
    ~depth_guard() { --r_.depth_; }
    depth_guard(const depth_guard&) = delete;
    depth_guard& operator=(const depth_guard&) = delete;

  private:
    reader& r_;
  };

  // ---- object ids (V8 numbers every object in the order it starts reading it) ----

  struct object_id {
    value object;
    id_state state = id_state::pending;
  };

  // Values are built in place: each `read_*` below fills a `value& out` that is `undefined` on
  // entry and lives in its parent's storage, which does not move while its children are read.

  static constexpr std::size_t max_spare_ids = 1024;

  static std::vector<object_id>& spare_ids() noexcept {
    thread_local std::vector<object_id> spare;
    return spare;
  }

  std::uint32_t new_id() {
    if (ids_.capacity() == 0)
      ids_.reserve(8);
    ids_.emplace_back();
    return static_cast<std::uint32_t>(ids_.size() - 1);
  }
  void set_id(std::uint32_t id, const value& v, id_state state) {
    ids_[id].object = v;
    ids_[id].state = state;
  }
  void close_id(std::uint32_t id) noexcept { ids_[id].state = id_state::done; }

  void read_reference(value& out) {
    const std::size_t at = in_.offset();
    const auto id = in_.read_varint<std::uint32_t>();
    if (id >= ids_.size() || ids_[id].state == id_state::pending)
      cursor::fail_at(at, "reference to unknown object id " + std::to_string(id));
    if (ids_[id].state == id_state::open) // a back-edge: keep it weak
      out = node_access::weak(node_access::share(ids_[id].object));
    else
      out = ids_[id].object;
  }

  // ---- values ----

  std::uint8_t read_tag_skipping_counts() {
    std::uint8_t t = in_.read_tag();
    while (t == tag::verify_object_count) {
      in_.read_varint<std::uint32_t>();
      t = in_.read_tag();
    }
    return t;
  }

  void read_value(value& out) {
    const std::uint8_t t = read_item(out);
    // V8's quirk: a view tag right after an ArrayBuffer consumes it. Only these tags can give
    // an ArrayBuffer.
    const bool may_be_buffer = t == tag::array_buffer || t == tag::resizable_array_buffer ||
                               t == tag::object_reference || t == tag::host_object;
    if (may_be_buffer && out.is_array_buffer()) {
      const auto next = in_.try_peek_tag();
      if (next && *next == tag::array_buffer_view) {
        in_.read_tag();
        value buffer = std::move(out);
        out = read_view(buffer);
      }
    }
  }

  value read_value() {
    value v;
    read_value(v);
    return v;
  }

  // Reads one item into `out`; returns its tag.
  std::uint8_t read_item(value& out) {
    const std::size_t at = in_.offset();
    const std::uint8_t t = read_tag_skipping_counts();
    switch (t) {
    case tag::undefined: break;
    case tag::null: node_access::set_null(out); break;
    case tag::true_value: node_access::set_bool(out, true); break;
    case tag::false_value: node_access::set_bool(out, false); break;
    case tag::int32: node_access::set_number(out, in_.read_zigzag()); break;
    case tag::uint32: node_access::set_number(out, in_.read_varint<std::uint32_t>()); break;
    case tag::number: node_access::set_number(out, in_.read_double()); break;
    case tag::bigint: out = read_bigint(); break;
    case tag::one_byte_string:
    case tag::two_byte_string:
    case tag::utf8_string:
      read_string_body(t, [&out](auto&& text) {
        node_access::set_string(out, std::forward<decltype(text)>(text));
      });
      break;
    case tag::object_reference: read_reference(out); break;
    case tag::begin_object: read_object(out); break;
    case tag::begin_sparse_array: out = read_sparse_array(); break;
    case tag::begin_dense_array: read_dense_array(out); break;
    case tag::date: {
      const double time = in_.read_double();
      const std::uint32_t id = new_id();
      node_access::set_node(out, std::make_shared<js::date>(time_clip(time)));
      set_id(id, out, id_state::done);
      break;
    }
    case tag::true_object:
    case tag::false_object:
    case tag::number_object:
    case tag::bigint_object:
    case tag::string_object: out = read_primitive_wrapper(t); break;
    case tag::regexp: out = read_regexp(); break;
    case tag::begin_map: out = read_map(); break;
    case tag::begin_set: out = read_set(); break;
    case tag::array_buffer:
    case tag::resizable_array_buffer:
      out = read_array_buffer(t == tag::resizable_array_buffer);
      break;
    case tag::error: out = read_error(); break;
    case tag::host_object: out = read_host_object(); break;
    case tag::array_buffer_transfer:
    case tag::shared_array_buffer:
    case tag::shared_object:
    case tag::wasm_module_transfer:
    case tag::wasm_memory_transfer:
      cursor::fail_at(at, std::string("unsupported tag '") + static_cast<char>(t) +
                              "' (transferred or shared objects cannot cross processes)");
    default: {
      static constexpr char hex[] = "0123456789abcdef";
      cursor::fail_at(at, std::string("unknown tag 0x") + hex[t >> 4] + hex[t & 15]);
    }
    }
    return t;
  }

  // Reads the body of a string whose tag `t` was read and hands it to `store`: as a view of
  // the input when it is ASCII (most strings: the caller constructs its string from it), else
  // as converted text.
  template <class Store>
  void read_string_body(std::uint8_t t, Store&& store) {
    const auto length = in_.read_varint<std::uint32_t>();
    if (t == tag::two_byte_string && length % 2 != 0)
      in_.fail("two-byte string of odd length " + std::to_string(length));
    const std::uint8_t* p = in_.read_bytes(length);
    if (t == tag::one_byte_string) {
      const std::string_view bytes(reinterpret_cast<const char*>(p), length);
      if (all_ascii(bytes.data(), bytes.size()))
        store(bytes);
      else
        store(wtf8_from_latin1(p, length));
    } else if (t == tag::two_byte_string) {
      store(wtf8_from_utf16(p, length / 2));
    } else {
      store(utf8_with_replacement(p, length));
    }
  }

  void read_string_body(std::uint8_t t, std::string& out) {
    read_string_body(t, [&out](auto&& text) { out = std::forward<decltype(text)>(text); });
  }

  std::string read_string() {
    const std::size_t at = in_.offset();
    const std::uint8_t t = read_tag_skipping_counts();
    if (t != tag::one_byte_string && t != tag::two_byte_string && t != tag::utf8_string)
      cursor::fail_at(at, "expected a string");
    std::string text;
    read_string_body(t, text);
    return text;
  }

  js::bigint read_bigint() {
    const auto bitfield = in_.read_varint<std::uint32_t>();
    const std::size_t bytes = (bitfield >> 1) & ((1u << 30) - 1);
    const bool negative = (bitfield & 1u) != 0;
    if (bytes > max_bigint_bytes)
      in_.fail("BigInt of " + std::to_string(bytes) + " bytes is larger than V8 allows");
    if (bytes == 0 && negative)
      in_.fail("negative BigInt without digits");
    const std::uint8_t* p = in_.read_bytes(bytes);
    std::vector<std::uint64_t> limbs((bytes + 7) / 8, 0);
    for (std::size_t i = 0; i < limbs.size(); ++i) {
      const std::size_t n = std::min<std::size_t>(8, bytes - i * 8);
      std::memcpy(&limbs[i], p + i * 8, n);
    }
    return js::bigint::from_magnitude(negative, std::move(limbs));
  }

  key read_key() {
    const std::size_t at = in_.offset();
    const std::uint8_t t = read_tag_skipping_counts();
    key k;
    switch (t) {
    case tag::one_byte_string:
    case tag::two_byte_string:
    case tag::utf8_string:
      read_string_body(t, k.name);
      k.is_index = parse_array_index(k.name, k.index);
      break;
    case tag::int32: {
      const std::int32_t n = in_.read_zigzag();
      k.is_index = n >= 0;
      k.index = static_cast<std::uint32_t>(n);
      if (!k.is_index)
        k.name = std::to_string(n);
      break;
    }
    case tag::uint32: {
      const auto n = in_.read_varint<std::uint32_t>();
      k.is_index = n <= max_array_index;
      k.index = n;
      if (!k.is_index)
        k.name = std::to_string(n);
      break;
    }
    case tag::number: {
      const double d = in_.read_double();
      k.is_index = d >= 0 && d <= max_array_index &&
                   static_cast<double>(static_cast<std::uint32_t>(d)) == d;
      if (k.is_index)
        k.index = static_cast<std::uint32_t>(d);
      else
        k.name = js_number_to_string(d);
      break;
    }
    default: cursor::fail_at(at, "invalid property key (not a string or a number)");
    }
    return k;
  }

  // Fails when two properties share a key (V8 refuses to define a property twice).
  void check_unique(const std::vector<js::property_map::entry>& entries) const {
    if (entries.size() <= 16) {
      for (std::size_t i = 0; i < entries.size(); ++i)
        for (std::size_t j = i + 1; j < entries.size(); ++j)
          if (entries[i].first == entries[j].first)
            in_.fail("duplicate property key");
      return;
    }
    std::vector<std::string_view> keys;
    keys.reserve(entries.size());
    for (const auto& e : entries)
      keys.emplace_back(e.first);
    std::sort(keys.begin(), keys.end());
    if (std::adjacent_find(keys.begin(), keys.end()) != keys.end())
      in_.fail("duplicate property key");
  }

  void check_count(std::uint64_t actual, std::uint32_t expected, const char* what) const {
    if (actual != expected)
      in_.fail(std::string(what) + " holds " + std::to_string(actual) +
               " entries but its end tag says " + std::to_string(expected));
  }

  // Reads a property key of a plain object and adds a property of that name (an index key is
  // named by its decimal digits, as JavaScript names it) holding `undefined`; returns its value.
  value& add_property(std::vector<js::property_map::entry>& entries) {
    const auto add = [&entries](auto&& name) -> value& {
      return entries
          .emplace_back(std::piecewise_construct,
                        std::forward_as_tuple(std::forward<decltype(name)>(name)),
                        std::forward_as_tuple())
          .second;
    };
    const std::size_t at = in_.offset();
    const std::uint8_t t = read_tag_skipping_counts();
    switch (t) {
    case tag::one_byte_string:
    case tag::two_byte_string:
    case tag::utf8_string: {
      value* added = nullptr;
      read_string_body(t, [&](auto&& name) { added = &add(std::forward<decltype(name)>(name)); });
      return *added;
    }
    case tag::int32: return add(std::to_string(in_.read_zigzag()));
    case tag::uint32: return add(std::to_string(in_.read_varint<std::uint32_t>()));
    case tag::number: {
      const double d = in_.read_double();
      const bool is_index = d >= 0 && d <= max_array_index &&
                            static_cast<double>(static_cast<std::uint32_t>(d)) == d;
      return add(is_index ? std::to_string(static_cast<std::uint32_t>(d)) : js_number_to_string(d));
    }
    default: cursor::fail_at(at, "invalid property key (not a string or a number)");
    }
  }

  void read_object(value& out) {
    depth_guard guard(*this);
    const std::uint32_t id = new_id();
    auto node = std::make_shared<js::object>();
    auto& entries = node_access::entries(*node);
    entries.reserve(std::min<std::size_t>(8, in_.remaining() / 3)); // >= 3 bytes a property
    node_access::set_node(out, std::move(node));
    set_id(id, out, id_state::open);
    while (in_.peek_tag() != tag::end_object)
      read_value(add_property(entries));
    in_.read_tag();
    check_count(entries.size(), in_.read_varint<std::uint32_t>(), "object");
    check_unique(entries);
    close_id(id);
  }

  // Named properties after the elements of an array, up to `end`.
  void read_array_properties(js::array& node, std::uint8_t end) {
    auto& entries = node_access::entries(node.properties());
    while (in_.peek_tag() != end) {
      const std::size_t at = in_.offset();
      key k = read_key();
      if (k.is_index)
        cursor::fail_at(at, "array element key after the named properties");
      if (k.name == "length")
        cursor::fail_at(at, "array property 'length'");
      value item = read_value();
      entries.emplace_back(std::move(k.name), std::move(item));
    }
    in_.read_tag();
    check_unique(entries);
  }

  void read_dense_array(value& out) {
    const auto length = in_.read_varint<std::uint32_t>();
    if (length > in_.remaining())
      in_.fail("dense array length " + std::to_string(length) + " exceeds the bytes left");
    depth_guard guard(*this);
    const std::uint32_t id = new_id();
    auto node = std::make_shared<js::array>();
    js::array& array = *node;
    node_access::set_node(out, std::move(node));
    set_id(id, out, id_state::open);
    auto& items = node_access::items(array);
    items.reserve(length);
    for (std::uint32_t i = 0; i < length; ++i) {
      value& item = items.emplace_back();
      if (in_.peek_tag() == tag::the_hole) {
        in_.read_tag();
        node_access::set_hole(item);
      } else {
        read_value(item);
      }
    }
    node_access::set_length(array, length);
    read_array_properties(array, tag::end_dense_array);
    check_count(array.properties().size(), in_.read_varint<std::uint32_t>(), "dense array");
    if (in_.read_varint<std::uint32_t>() != length)
      in_.fail("dense array length differs from its end tag");
    close_id(id);
  }

  value read_sparse_array() {
    const auto length = in_.read_varint<std::uint32_t>();
    depth_guard guard(*this);
    const std::uint32_t id = new_id();
    auto node = std::make_shared<js::array>();
    value result = node_access::strong(node);
    set_id(id, result, id_state::open);
    auto& items = node_access::items(*node);
    auto& far = node_access::far(*node);
    auto& properties = node_access::entries(node->properties());
    std::uint64_t count = 0;
    std::uint64_t next_index = 0; // elements must come in ascending order, before names
    while (in_.peek_tag() != tag::end_sparse_array) {
      const std::size_t at = in_.offset();
      key k = read_key();
      value item = read_value();
      ++count;
      if (!k.is_index) {
        if (k.name == "length")
          cursor::fail_at(at, "array property 'length'");
        properties.emplace_back(std::move(k.name), std::move(item));
        next_index = std::uint64_t{max_array_index} + 1;
        continue;
      }
      if (k.index < next_index)
        cursor::fail_at(at, "sparse array element keys out of order");
      next_index = std::uint64_t{k.index} + 1;
      if (far.empty() && k.index - items.size() <= node_access::dense_gap) {
        items.resize(k.index, value::hole());
        items.push_back(std::move(item));
      } else {
        far.emplace_hint(far.end(), k.index, std::move(item));
      }
    }
    in_.read_tag();
    check_count(count, in_.read_varint<std::uint32_t>(), "sparse array");
    if (in_.read_varint<std::uint32_t>() != length)
      in_.fail("sparse array length differs from its end tag");
    check_unique(properties);
    std::uint32_t actual_length = length;
    if (!far.empty())
      actual_length = std::max(actual_length, far.rbegin()->first + 1);
    actual_length = std::max(actual_length, static_cast<std::uint32_t>(items.size()));
    node_access::set_length(*node, actual_length);
    set_id(id, result, id_state::done);
    return result;
  }

  value read_map() {
    depth_guard guard(*this);
    const std::uint32_t id = new_id();
    auto node = std::make_shared<js::map>();
    value result = node_access::strong(node);
    set_id(id, result, id_state::open);
    auto& entries = node_access::entries(*node);
    while (in_.peek_tag() != tag::end_map) {
      value k = js::positive_zero(read_value()); // Map.prototype.set's rule
      value item = read_value();
      entries.emplace_back(std::move(k), std::move(item));
    }
    in_.read_tag();
    check_count(std::uint64_t{entries.size()} * 2, in_.read_varint<std::uint32_t>(), "Map");
    set_id(id, result, id_state::done);
    return result;
  }

  value read_set() {
    depth_guard guard(*this);
    const std::uint32_t id = new_id();
    auto node = std::make_shared<js::set>();
    value result = node_access::strong(node);
    set_id(id, result, id_state::open);
    auto& items = node_access::items(*node);
    while (in_.peek_tag() != tag::end_set)
      items.push_back(js::positive_zero(read_value()));
    in_.read_tag();
    check_count(items.size(), in_.read_varint<std::uint32_t>(), "Set");
    set_id(id, result, id_state::done);
    return result;
  }

  value read_primitive_wrapper(std::uint8_t t) {
    // new Boolean/Number/BigInt/String(...) objects: kept as their primitive values.
    const std::uint32_t id = new_id();
    value v;
    switch (t) {
    case tag::true_object: v = true; break;
    case tag::false_object: v = false; break;
    case tag::number_object: v = in_.read_double(); break;
    case tag::bigint_object: v = read_bigint(); break;
    default: v = read_string(); break;
    }
    set_id(id, v, id_state::done);
    return v;
  }

  value read_regexp() {
    const std::uint32_t id = new_id();
    std::string pattern = read_string();
    const std::size_t at = in_.offset();
    const auto bits = in_.read_varint<std::uint32_t>();
    if ((bits & ~regexp_flag::all) != 0 || (bits & regexp_flag::linear) != 0 ||
        ((bits & regexp_flag::unicode) != 0 && (bits & regexp_flag::unicode_sets) != 0))
      cursor::fail_at(at, "invalid RegExp flags " + std::to_string(bits));
    static constexpr std::pair<std::uint32_t, char> letters[] = {
        {regexp_flag::has_indices, 'd'},  {regexp_flag::global, 'g'},
        {regexp_flag::ignore_case, 'i'},  {regexp_flag::multiline, 'm'},
        {regexp_flag::dot_all, 's'},      {regexp_flag::unicode, 'u'},
        {regexp_flag::unicode_sets, 'v'}, {regexp_flag::sticky, 'y'}};
    std::string flags;
    for (const auto& [bit, letter] : letters)
      if ((bits & bit) != 0)
        flags.push_back(letter);
    value v = node_access::strong(std::make_shared<js::regexp>(std::move(pattern),
                                                               std::move(flags)));
    set_id(id, v, id_state::done);
    return v;
  }

  value read_array_buffer(bool resizable) {
    const std::uint32_t id = new_id();
    const auto length = in_.read_varint<std::uint32_t>();
    std::uint32_t max_length = length;
    if (resizable) {
      max_length = in_.read_varint<std::uint32_t>();
      if (length > max_length)
        in_.fail("resizable ArrayBuffer longer than its maximum");
    }
    const std::uint8_t* p = in_.read_bytes(length);
    auto node = std::make_shared<js::array_buffer>(byte_pool::copy(p, length));
    if (resizable)
      node->max_byte_length = max_length;
    value v = node_access::strong(std::move(node));
    set_id(id, v, id_state::done);
    return v;
  }

  // V8's own view encoding (`V` after an ArrayBuffer); the view gets a copy of its bytes.
  value read_view(const value& buffer_value) {
    const js::array_buffer& buffer = buffer_value.as_array_buffer();
    const std::size_t at = in_.offset();
    const auto subtag = in_.read_varint<std::uint8_t>();
    const auto offset = in_.read_varint<std::uint32_t>();
    const auto length = in_.read_varint<std::uint32_t>();
    if (offset > buffer.bytes.size() || length > buffer.bytes.size() - offset)
      cursor::fail_at(at, "view outside its ArrayBuffer");
    std::uint32_t flags = 0;
    if (version_ >= 14)
      flags = in_.read_varint<std::uint32_t>();
    const std::uint32_t id = new_id();
    js::typed_array_kind kind{};
    switch (subtag) {
    case view_tag::int8: kind = js::typed_array_kind::int8; break;
    case view_tag::uint8: kind = js::typed_array_kind::uint8; break;
    case view_tag::uint8_clamped: kind = js::typed_array_kind::uint8_clamped; break;
    case view_tag::int16: kind = js::typed_array_kind::int16; break;
    case view_tag::uint16: kind = js::typed_array_kind::uint16; break;
    case view_tag::int32: kind = js::typed_array_kind::int32; break;
    case view_tag::uint32: kind = js::typed_array_kind::uint32; break;
    case view_tag::float32: kind = js::typed_array_kind::float32; break;
    case view_tag::float64: kind = js::typed_array_kind::float64; break;
    case view_tag::bigint64: kind = js::typed_array_kind::bigint64; break;
    case view_tag::biguint64: kind = js::typed_array_kind::biguint64; break;
    case view_tag::data_view: kind = js::typed_array_kind::data_view; break;
    default: cursor::fail_at(at, "unknown view type " + std::to_string(subtag));
    }
    const std::size_t element = js::element_size(kind);
    if (offset % element != 0 || length % element != 0)
      cursor::fail_at(at, "misaligned view");
    const bool tracking = (flags & view_flag::length_tracking) != 0;
    const bool on_resizable = (flags & view_flag::backed_by_resizable) != 0;
    const bool resizable = buffer.max_byte_length.has_value();
    if (((tracking || on_resizable) && !resizable) || (resizable && !on_resizable))
      cursor::fail_at(at, "view flags do not match its ArrayBuffer");
    const std::uint8_t* p = buffer.bytes.data() + offset;
    value v = node_access::strong(std::make_shared<js::typed_array>(kind,
                                                                    byte_pool::copy(p, length)));
    set_id(id, v, id_state::done);
    return v;
  }

  // Node 20's V8 reads the sub-tags of an Error in any order until `.` (and writes them as
  // prototype, message, cause, stack). The Error's id is taken first but only names it once it
  // is complete, so a reference to it from its own cause is refused, as Node 20 refuses it.
  value read_error() {
    const std::uint32_t id = new_id();
    auto node = std::make_shared<js::error>();
    value result = node_access::strong(node);
    for (;;) {
      const std::size_t at = in_.offset();
      const auto t = in_.read_varint<std::uint8_t>();
      switch (t) {
      case error_tag::eval_error: node->name = "EvalError"; break;
      case error_tag::range_error: node->name = "RangeError"; break;
      case error_tag::reference_error: node->name = "ReferenceError"; break;
      case error_tag::syntax_error: node->name = "SyntaxError"; break;
      case error_tag::type_error: node->name = "TypeError"; break;
      case error_tag::uri_error: node->name = "URIError"; break;
      case error_tag::message: node->message = read_string(); break;
      case error_tag::stack: node->stack = read_string(); break;
      case error_tag::cause: {
        depth_guard guard(*this);
        node->cause = read_value();
        break;
      }
      case error_tag::end: set_id(id, result, id_state::done); return result;
      default: cursor::fail_at(at, "unknown Error sub-tag " + std::to_string(t));
      }
    }
  }

  // Node's ChildProcessDeserializer: varint 0 and an ArrayBufferView as DefaultDeserializer
  // reads it, or varint 1 and any value (a host object sent as a plain copy).
  value read_host_object() {
    const std::uint32_t id = new_id();
    const std::size_t at = in_.offset();
    const auto host = in_.read_varint<std::uint32_t>();
    if (host == host_tag::array_buffer_view) {
      const auto type_index = in_.read_varint<std::uint32_t>();
      const auto length = in_.read_varint<std::uint32_t>();
      const std::uint8_t* p = in_.read_bytes(length);
      if (type_index > last_host_type_index)
        cursor::fail_at(at, "unknown host object typeIndex " + std::to_string(type_index));
      const auto kind = static_cast<js::typed_array_kind>(type_index);
      // Node makes `new ctor(buffer, offset, byteLength / BYTES_PER_ELEMENT)`: a partial
      // trailing element is dropped.
      const std::size_t kept = length - length % js::element_size(kind);
      value v = node_access::strong(std::make_shared<js::typed_array>(kind,
                                                                      byte_pool::copy(p, kept)));
      set_id(id, v, id_state::done);
      return v;
    }
    if (host == host_tag::plain_copy) {
      depth_guard guard(*this);
      value inner = read_value();
      if (!inner.is_node())
        cursor::fail_at(at, "host object copy is not an object");
      set_id(id, inner, id_state::done);
      return inner;
    }
    cursor::fail_at(at, "unknown host object tag " + std::to_string(host));
  }

  cursor in_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  std::uint32_t version_ = 0;
  std::vector<object_id> ids_;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_READER_HPP
