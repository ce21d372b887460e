/// @file
/// The node classes of `cocluster::value` (`js::object`, `js::array`, `js::map`, `js::set`,
/// `js::date`, `js::regexp`, `js::array_buffer`, `js::typed_array`, `js::error`) and the codec's
/// access to their internals. Included by `cocluster/value.hpp`, which is the header to use.

// value.hpp includes this file in its middle, once `value` is complete; including this file
// first includes value.hpp, which includes it back at the right place.
#include "cocluster/value.hpp"

#ifndef COCLUSTER_DETAIL_V8_NODES_HPP
#define COCLUSTER_DETAIL_V8_NODES_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cocluster/detail/v8/byte_pool.hpp"
#include "cocluster/detail/v8/iso_date.hpp"
#include "cocluster/detail/v8/number_text.hpp"
#include "cocluster/detail/v8/teardown.hpp"

namespace cocluster {

namespace js {

/// Items kept in a vector, in their order, with what `property_map`, `map` and `set` share:
/// size, iteration and removal of everything. Lookups are linear.
template <class Item>
class ordered_items {
public:
  /// Iterator over the items.
  using iterator = typename std::vector<Item>::iterator;
  /// Iterator over the items.
  using const_iterator = typename std::vector<Item>::const_iterator;

  /// Number of items.
  std::size_t size() const noexcept { return items_.size(); }
  /// True when there are none.
  bool empty() const noexcept { return items_.empty(); }
  /// First item.
  iterator begin() noexcept { return items_.begin(); }
  /// Past the last item.
  iterator end() noexcept { return items_.end(); }
  /// First item.
  const_iterator begin() const noexcept { return items_.begin(); }
  /// Past the last item.
  const_iterator end() const noexcept { return items_.end(); }
  /// Removes every item.
  void clear() noexcept { items_.clear(); }

protected:
  ordered_items() = default;
  ~ordered_items() = default;

  // The first item that `matches`, or null.
  template <class Match>
  Item* find_first(Match matches) noexcept {
    for (auto& item : items_)
      if (matches(item))
        return &item;
    return nullptr;
  }

  // Removes the first item that `matches`; true when there was one.
  template <class Match>
  bool erase_first(Match matches) {
    for (auto it = items_.begin(); it != items_.end(); ++it)
      if (matches(*it)) {
        items_.erase(it);
        return true;
      }
    return false;
  }

  std::vector<Item> items_;
};

/// An ordered list of string-keyed properties in JavaScript order: canonical array-index keys
/// (`"0"` to `"4294967294"`) first in ascending order, then other keys in insertion order.
/// Lookups are linear. Do not change keys through iterators.
class property_map : public ordered_items<std::pair<std::string, value>> {
public:
  /// One property.
  using entry = std::pair<std::string, value>;

  /// The value of `key`, or null.
  value* find(std::string_view key) noexcept {
    entry* found = find_first([key](const entry& e) { return e.first == key; });
    return found != nullptr ? &found->second : nullptr;
  }
  /// The value of `key`, or null.
  const value* find(std::string_view key) const noexcept {
    return const_cast<property_map*>(this)->find(key);
  }
  /// True when `key` is present.
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  /// The value of `key`, inserted as `undefined` (in JavaScript order) when missing.
  value& operator[](std::string_view key) {
    if (value* v = find(key))
      return *v;
    const auto at = items_.insert(items_.begin() + insert_position(key),
                                    entry(std::string(key), value()));
    return at->second;
  }
  /// The value of `key`; throws `value_error` when missing.
  value& at(std::string_view key) {
    if (value* v = find(key))
      return *v;
    throw value_error("cocluster::value: no property '" + std::string(key) + "'");
  }
  /// The value of `key`; throws `value_error` when missing.
  const value& at(std::string_view key) const { return const_cast<property_map*>(this)->at(key); }
  /// Sets `key` to `v`; returns true when the key was new.
  bool insert_or_assign(std::string key, value v) {
    if (value* existing = find(key)) {
      *existing = std::move(v);
      return false;
    }
    const auto position = insert_position(key);
    items_.insert(items_.begin() + position, entry(std::move(key), std::move(v)));
    return true;
  }
  /// Removes `key`; returns true when it was present.
  bool erase(std::string_view key) {
    return erase_first([key](const entry& e) { return e.first == key; });
  }
  /// Reserves room for `n` properties.
  void reserve(std::size_t n) { items_.reserve(n); }

protected:
  property_map() = default;
  ~property_map() = default;

private:
  std::ptrdiff_t insert_position(std::string_view key) const noexcept {
    std::uint32_t index = 0;
    if (!detail::v8::parse_array_index(key, index))
      return static_cast<std::ptrdiff_t>(items_.size());
    std::size_t i = 0;
    std::uint32_t other = 0;
    while (i < items_.size() && detail::v8::parse_array_index(items_[i].first, other) &&
           other < index)
      ++i;
    return static_cast<std::ptrdiff_t>(i);
  }

  friend struct cocluster::detail::v8::node_access;
  friend class array;
};

/// A plain JavaScript object: string-keyed properties (see `property_map` for the order).
class object final : public node_base, public property_map {
public:
  /// An empty object.
  object() noexcept : node_base(value_kind::object) {}
  ~object();
};

/// A JavaScript array: `size()` is its `length`; elements may be absent (holes, distinct from
/// `undefined`), and named (non-index) properties live in `properties()`. Elements are stored
/// densely, except those far beyond the last dense one, which are kept sparsely, so that
/// `a[4294967294] = x` costs one element.
class array final : public node_base {
public:
  /// An empty array.
  array() noexcept : node_base(value_kind::array) {}
  /// A dense array of `items`.
  explicit array(std::vector<value> items)
      : node_base(value_kind::array), items_(std::move(items)),
        length_(static_cast<std::uint32_t>(items_.size())) {
    if (items_.size() > max_length)
      throw value_error("cocluster::value: array longer than 2^32 - 1");
  }
  ~array();

  /// The largest JavaScript array length.
  static constexpr std::size_t max_length = 0xFFFFFFFFu;

  /// The array's `length`.
  std::size_t size() const noexcept { return length_; }
  /// True when `length` is 0.
  bool empty() const noexcept { return length_ == 0; }
  /// True when element `index` is present (not a hole).
  bool has(std::size_t index) const noexcept {
    if (index < items_.size())
      return !items_[index].is_hole();
    return index <= 0xFFFFFFFEu && far_.count(static_cast<std::uint32_t>(index)) != 0;
  }
  /// Element `index`, or a hole.
  const value& operator[](std::size_t index) const noexcept {
    if (index < items_.size())
      return items_[index];
    if (index <= 0xFFFFFFFEu) {
      const auto it = far_.find(static_cast<std::uint32_t>(index));
      if (it != far_.end())
        return it->second;
    }
    return hole_value();
  }
  /// Element `index`, created as `undefined` if absent (extending `length`). Throws
  /// `value_error` beyond index 2^32 - 2.
  value& operator[](std::size_t index);
  /// Element `index`; throws `value_error` when it is absent.
  const value& at(std::size_t index) const {
    if (!has(index))
      throw value_error("cocluster::value: no element " + std::to_string(index));
    return (*this)[index];
  }
  /// Appends `item` at index `length`.
  void push_back(value item) { (*this)[length_] = std::move(item); }
  /// Sets `length`: elements at or beyond it are removed; growing adds holes.
  void resize(std::size_t length);
  /// Removes every element and named property.
  void clear() noexcept {
    items_.clear();
    far_.clear();
    length_ = 0;
    properties_.clear();
  }
  /// Number of present elements (holes excluded).
  std::size_t count() const noexcept {
    std::size_t n = far_.size();
    for (const auto& item : items_)
      n += item.is_hole() ? std::size_t{0} : std::size_t{1};
    return n;
  }
  /// True when no element is a hole.
  bool is_dense() const noexcept {
    if (!far_.empty() || items_.size() != length_)
      return false;
    for (const auto& item : items_)
      if (item.is_hole())
        return false;
    return true;
  }
  /// Calls `f(index, element)` for each present element, in index order.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < items_.size(); ++i)
      if (!items_[i].is_hole())
        f(i, items_[i]);
    for (const auto& [index, item] : far_)
      f(static_cast<std::size_t>(index), item);
  }
  /// Calls `f(index, element)` for each present element, in index order.
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < items_.size(); ++i)
      if (!items_[i].is_hole())
        f(i, items_[i]);
    for (auto& [index, item] : far_)
      f(static_cast<std::size_t>(index), item);
  }
  /// Named (non-index) properties, such as `a.tag = 1` in JavaScript.
  property_map& properties() noexcept { return properties_; }
  /// Named (non-index) properties.
  const property_map& properties() const noexcept { return properties_; }

private:
  class named_properties final : public property_map {};

  static const value& hole_value() noexcept;
  void absorb_far() {
    while (!far_.empty() && far_.begin()->first == items_.size()) {
      items_.push_back(std::move(far_.begin()->second));
      far_.erase(far_.begin());
    }
  }

  // How many holes a write past the dense part may add before the element goes sparse.
  static constexpr std::size_t dense_gap = 8;

  std::vector<value> items_;               // indices [0, items_.size()); may hold holes
  std::map<std::uint32_t, value> far_;     // present elements beyond items_, sorted
  std::uint32_t length_ = 0;               // >= items_.size(), > every far_ key
  named_properties properties_;
  friend struct cocluster::detail::v8::node_access;
};

/// `v`, except that -0 becomes +0 (Map keys and Set values are normalized so).
inline value positive_zero(value v) {
  if (v.is_double() && v.as_double() == 0)
    return value(0.0);
  return v;
}

/// A JavaScript Map: entries in insertion order, keys compared with SameValueZero.
class map final : public node_base, public ordered_items<std::pair<value, value>> {
public:
  /// One entry.
  using entry = std::pair<value, value>;

  /// An empty Map.
  map() noexcept : node_base(value_kind::map) {}
  ~map();
  /// The value stored under `key`, or null.
  value* find(const value& key) noexcept {
    entry* found = find_first([&key](const entry& e) { return same_value_zero(e.first, key); });
    return found != nullptr ? &found->second : nullptr;
  }
  /// The value stored under `key`, or null.
  const value* find(const value& key) const noexcept { return const_cast<map*>(this)->find(key); }
  /// True when `key` is present.
  bool contains(const value& key) const noexcept { return find(key) != nullptr; }
  /// `Map.prototype.set`: replaces the value of an existing key, or appends (a -0 key is
  /// stored as +0, as JavaScript does).
  void set(value key, value v) {
    if (value* existing = find(key))
      *existing = std::move(v);
    else
      items_.emplace_back(positive_zero(std::move(key)), std::move(v));
  }
  /// The value of `key`, appended as `undefined` when missing.
  value& operator[](const value& key) {
    if (value* existing = find(key))
      return *existing;
    return items_.emplace_back(positive_zero(key), value()).second;
  }
  /// Removes `key`; returns true when it was present.
  bool erase(const value& key) {
    return erase_first([&key](const entry& e) { return same_value_zero(e.first, key); });
  }

private:
  friend struct cocluster::detail::v8::node_access;
};

/// A JavaScript Set: values in insertion order, compared with SameValueZero.
class set final : public node_base, public ordered_items<value> {
  // Matches the values that are `item` under SameValueZero.
  static auto same_as(const value& item) noexcept {
    return [&item](const value& v) { return same_value_zero(v, item); };
  }

public:
  /// An empty Set.
  set() noexcept : node_base(value_kind::set) {}
  ~set();
  /// True when `item` is present.
  bool contains(const value& item) const noexcept {
    return const_cast<set*>(this)->find_first(same_as(item)) != nullptr;
  }
  /// `Set.prototype.add`: appends `item` unless present (-0 as +0, as JavaScript does);
  /// returns true when appended.
  bool add(value item) {
    if (contains(item))
      return false;
    items_.push_back(positive_zero(std::move(item)));
    return true;
  }
  /// Removes `item`; returns true when it was present.
  bool erase(const value& item) { return erase_first(same_as(item)); }

private:
  friend struct cocluster::detail::v8::node_access;
};

/// A JavaScript Date.
class date final : public node_base {
public:
  /// The Date at `time_value` ms after the epoch (NaN: an invalid date); not clipped here, see
  /// `value::date`.
  explicit date(double time_value = std::numeric_limits<double>::quiet_NaN()) noexcept
      : node_base(value_kind::date), time(time_value) {}
  /// Milliseconds after 1970-01-01T00:00:00Z, or NaN for an invalid date.
  double time;
  /// False for an invalid date.
  bool valid() const noexcept { return !std::isnan(time); }
  /// `toISOString()`; an empty string for an invalid date.
  std::string iso_string() const {
    return valid() ? detail::v8::iso_date_string(time) : std::string();
  }
  /// The time as a `system_clock` time point (milliseconds); throws `value_error` when invalid.
  std::chrono::system_clock::time_point time_point() const {
    if (!valid())
      throw value_error("cocluster::value: invalid date");
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::milliseconds(static_cast<std::int64_t>(time))));
  }
};

/// A JavaScript RegExp.
class regexp final : public node_base {
public:
  /// `/pattern/flags`.
  regexp(std::string source, std::string flag_letters)
      : node_base(value_kind::regexp), pattern(std::move(source)), flags(std::move(flag_letters)) {}
  /// The `source` (WTF-8), as V8 reports it (`a\/b` for `new RegExp('a/b')`).
  std::string pattern;
  /// The flag letters, any of `dgimsuvy` (written in that order by the decoder).
  std::string flags;
};

/// A JavaScript ArrayBuffer.
class array_buffer final : public node_base {
public:
  /// An ArrayBuffer holding `contents`.
  explicit array_buffer(std::vector<std::uint8_t> contents = {}) noexcept
      : node_base(value_kind::array_buffer), bytes(std::move(contents)) {}
  // Gives large contents back to the decoder's cache (see detail::v8::byte_pool).
  ~array_buffer() { detail::v8::byte_pool::recycle(bytes); }
  /// The contents.
  std::vector<std::uint8_t> bytes;
  /// Set for a resizable ArrayBuffer (`new ArrayBuffer(n, {maxByteLength})`).
  std::optional<std::uint32_t> max_byte_length;
};

/// A typed array, DataView or Node Buffer, with its own copy of the bytes it views (Node's IPC
/// serializer sends only the viewed bytes, not the whole underlying ArrayBuffer).
class typed_array final : public node_base {
public:
  /// A view of `kind` over `contents`.
  typed_array(typed_array_kind view_kind, std::vector<std::uint8_t> contents) noexcept
      : node_base(value_kind::typed_array), kind(view_kind), bytes(std::move(contents)) {}
  // Gives large contents back to the decoder's cache (see detail::v8::byte_pool).
  ~typed_array() { detail::v8::byte_pool::recycle(bytes); }
  /// The element type.
  typed_array_kind kind;
  /// The viewed bytes (host byte order), a multiple of `element_size()` to be encodable.
  std::vector<std::uint8_t> bytes;
  /// Bytes per element.
  std::size_t element_size() const noexcept { return js::element_size(kind); }
  /// Number of elements.
  std::size_t length() const noexcept { return bytes.size() / element_size(); }
};

/// A JavaScript Error, as V8 serializes it: the prototype (by `name`), `message`, `stack` and
/// `cause`. Other properties are not carried by V8.
class error final : public node_base {
public:
  /// An Error of `error_name` (see `value::error`).
  explicit error(std::string error_name = "Error") noexcept
      : node_base(value_kind::error), name(std::move(error_name)) {}
  ~error();
  /// Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError or URIError.
  std::string name;
  /// The own `message` property, if any.
  std::optional<std::string> message;
  /// The `stack` string, if any.
  std::optional<std::string> stack;
  /// The own `cause` property, if any.
  std::optional<value> cause;
};

} // namespace js

namespace detail::v8 {

/// Access to the internals of values and nodes for the codec and the algorithms in
/// `cocluster/detail/v8/`.
struct node_access {
  /// Node pointer type.
  using node_ptr = std::shared_ptr<js::node_base>;

  /// A strong value for `node`.
  static value strong(node_ptr node) noexcept { return value::from_node(std::move(node)); }
  /// A weak value for `node`.
  static value weak(const node_ptr& node) {
    node->weak_target_ = true;
    value v;
    v.data_ = value::weak_t{node, node.get()};
    return v;
  }
  /// Makes `v` null.
  static void set_null(value& v) noexcept { v.data_.emplace<value::null_t>(); }
  /// Makes `v` an array hole.
  static void set_hole(value& v) noexcept { v.data_.emplace<value::hole_t>(); }
  /// Makes `v` the boolean `b`.
  static void set_bool(value& v, bool b) noexcept { v.data_.emplace<bool>(b); }
  /// Makes `v` the number `n`.
  static void set_number(value& v, std::int32_t n) noexcept { v.data_.emplace<std::int32_t>(n); }
  /// Makes `v` the number `n` (an int32 when it fits, as `value(n)` does).
  static void set_number(value& v, std::uint32_t n) noexcept {
    if (n <= 0x7FFFFFFFu)
      v.data_.emplace<std::int32_t>(static_cast<std::int32_t>(n));
    else
      v.data_.emplace<double>(static_cast<double>(n));
  }
  /// Makes `v` the number `x`.
  static void set_number(value& v, double x) noexcept { v.data_.emplace<double>(x); }
  /// Makes `v` the string `text`.
  static void set_string(value& v, std::string_view text) {
    // Constructed first: variant::emplace would otherwise build a temporary variant (the
    // constructor may throw) and move-assign it.
    std::string s(text);
    v.data_.emplace<std::string>(std::move(s));
  }
  /// Makes `v` the string `text`.
  static void set_string(value& v, std::string&& text) noexcept {
    v.data_.emplace<std::string>(std::move(text));
  }
  /// Makes `v` hold `node` strongly.
  static void set_node(value& v, node_ptr&& node) noexcept {
    v.data_.emplace<node_ptr>(std::move(node));
  }
  /// The node `v` refers to (strongly, or weakly and alive), or null.
  static js::node_base* node(const value& v) noexcept { return v.node(); }
  /// The strong pointer held by `v`, or null for other values.
  static const node_ptr* strong_ptr(const value& v) noexcept {
    return std::get_if<node_ptr>(&v.data_);
  }
  /// A shared pointer to the node `v` refers to (or null).
  static node_ptr share(const value& v) noexcept {
    if (const auto* p = std::get_if<node_ptr>(&v.data_))
      return *p;
    if (const auto* w = std::get_if<value::weak_t>(&v.data_))
      return w->ptr.lock();
    return nullptr;
  }
  /// True when the encoder must track the identity of the node `v` strongly holds (someone
  /// else may hold it too) or weakly holds.
  static bool maybe_shared(const value& v) noexcept {
    if (const auto* p = std::get_if<node_ptr>(&v.data_))
      return p->use_count() > 1 || (*p)->weak_target_;
    return true;
  }
  /// Hands the node `child` strongly holds to the teardown queue.
  static void defer(teardown_queue& queue, value& child) noexcept {
    if (auto* p = std::get_if<node_ptr>(&child.data_); p != nullptr && *p)
      queue.defer(std::move(*p));
  }
  /// The raw entries of an object.
  static std::vector<js::property_map::entry>& entries(js::property_map& m) noexcept {
    return m.items_;
  }
  /// The raw entries of a Map.
  static std::vector<js::map::entry>& entries(js::map& m) noexcept { return m.items_; }
  /// The raw values of a Set.
  static std::vector<value>& items(js::set& s) noexcept { return s.items_; }
  /// The dense part of an array (may hold holes).
  static std::vector<value>& items(js::array& a) noexcept { return a.items_; }
  /// The sparse part of an array.
  static std::map<std::uint32_t, value>& far(js::array& a) noexcept { return a.far_; }
  /// Sets an array's length without touching elements (the caller keeps the invariants).
  static void set_length(js::array& a, std::uint32_t length) noexcept { a.length_ = length; }
  /// The dense-gap limit of arrays.
  static constexpr std::size_t dense_gap = js::array::dense_gap;
};

} // namespace detail::v8

// ---- nodes: out-of-line definitions ----

namespace js {

inline object::~object() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& e : items_)
    detail::v8::node_access::defer(queue, e.second);
  queue.drain();
}

inline const value& array::hole_value() noexcept {
  static const value instance = value::hole();
  return instance;
}

inline value& array::operator[](std::size_t index) {
  if (index > 0xFFFFFFFEu)
    throw value_error("cocluster::value: array index " + std::to_string(index) +
                      " beyond 2^32 - 2");
  const auto i32 = static_cast<std::uint32_t>(index);
  if (index >= length_)
    length_ = i32 + 1;
  if (index < items_.size()) {
    if (items_[index].is_hole())
      items_[index] = value(); // a hole becomes a present element
    return items_[index];
  }
  if (auto it = far_.find(i32); it != far_.end())
    return it->second;
  const bool next_to_dense = index - items_.size() <= dense_gap &&
                             (far_.empty() || i32 < far_.begin()->first);
  if (next_to_dense) {
    items_.resize(index, value::hole());
    items_.emplace_back();
    absorb_far();
    return items_[index];
  }
  return far_[i32];
}

inline void array::resize(std::size_t length) {
  if (length > max_length)
    throw value_error("cocluster::value: array length beyond 2^32 - 1");
  if (length < items_.size())
    items_.resize(length);
  far_.erase(far_.lower_bound(static_cast<std::uint32_t>(std::min<std::size_t>(length, 0xFFFFFFFFu))),
             far_.end());
  length_ = static_cast<std::uint32_t>(length);
}

inline array::~array() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& item : items_)
    detail::v8::node_access::defer(queue, item);
  for (auto& [index, item] : far_)
    detail::v8::node_access::defer(queue, item);
  for (auto& e : properties_.items_)
    detail::v8::node_access::defer(queue, e.second);
  queue.drain();
}

inline map::~map() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& [key, item] : items_) {
    detail::v8::node_access::defer(queue, key);
    detail::v8::node_access::defer(queue, item);
  }
  queue.drain();
}

inline set::~set() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& item : items_)
    detail::v8::node_access::defer(queue, item);
  queue.drain();
}

inline error::~error() {
  auto& queue = detail::v8::teardown_queue::local();
  if (cause)
    detail::v8::node_access::defer(queue, *cause);
  queue.drain();
}

} // namespace js
} // namespace cocluster

#endif // COCLUSTER_DETAIL_V8_NODES_HPP
