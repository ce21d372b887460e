/// @file
/// `cocluster::value`: a dynamic value that holds everything Node's `advanced` serialization
/// carries (the V8 structured-clone data model), for the `cocluster::advanced` policy.
///
/// Model, in JavaScript terms:
/// - primitives are held by value: `undefined`, `null`, booleans, numbers (an int32 and a double
///   alternative, kept apart so that what V8 wrote as `I` or `N` is written back the same way;
///   `-0` and NaN are kept), BigInts (`js::bigint`) and strings;
/// - strings are WTF-8 `std::string`s: UTF-8, where a lone UTF-16 surrogate (which JavaScript
///   strings may hold) is kept as its 3-byte form, so every JavaScript string round-trips;
/// - objects, arrays, Maps, Sets, Dates, RegExps, ArrayBuffers, typed arrays (including Node's
///   Buffer and DataView) and Errors are *nodes*, shared by reference like JavaScript objects:
///   copying a `value` copies the reference, and `clone()` copies the graph. A node reached twice
///   is written once and then referred to, as V8 does, so shared and circular structures
///   round-trip with their identity;
/// - a reference that closes a cycle is held *weakly* (`is_weak()`), so that circular graphs are
///   freed with their last outside owner. The decoder makes exactly the back-edges weak; build
///   cycles yourself with `value::weak_ref`. A weak reference whose target is gone reads as
///   `undefined`;
/// - array elements that are absent (holes) read as `value_kind::hole`, which is distinct from
///   `undefined`.
///
/// Freeing, copying and comparing values never recurses on the graph's depth, so values decoded
/// from hostile input cannot overflow the stack.
#ifndef COCLUSTER_VALUE_HPP
#define COCLUSTER_VALUE_HPP

#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "cocluster/detail/v8/bigint.hpp"
#include "cocluster/detail/v8/iso_date.hpp"
#include "cocluster/detail/v8/number_text.hpp"
#include "cocluster/detail/v8/teardown.hpp"
#include "cocluster/detail/v8/wtf8.hpp"

namespace cocluster {

/// The kind of a `value`.
enum class value_kind : std::uint8_t {
  undefined,    ///< JavaScript `undefined` (also a default-constructed value).
  null,         ///< `null`.
  boolean,      ///< `true` or `false`.
  int32,        ///< A number V8 held as a small integer (written with tag `I`).
  number,       ///< A number held as a double (tag `N`), including -0, NaN and infinities.
  bigint,       ///< A BigInt.
  string,       ///< A string (WTF-8).
  object,       ///< A plain object.
  array,        ///< An array, dense or sparse.
  map,          ///< A Map.
  set,          ///< A Set.
  date,         ///< A Date.
  regexp,       ///< A RegExp.
  array_buffer, ///< An ArrayBuffer (possibly resizable).
  typed_array,  ///< A typed array, a DataView or a Node Buffer.
  error,        ///< An Error (or one of its six standard subclasses).
  hole,         ///< An absent array element; only meaningful inside an array.
};

/// The lowercase name of a kind, for messages.
inline std::string_view kind_name(value_kind kind) noexcept {
  switch (kind) {
  case value_kind::undefined: return "undefined";
  case value_kind::null: return "null";
  case value_kind::boolean: return "boolean";
  case value_kind::int32: return "int32";
  case value_kind::number: return "number";
  case value_kind::bigint: return "bigint";
  case value_kind::string: return "string";
  case value_kind::object: return "object";
  case value_kind::array: return "array";
  case value_kind::map: return "map";
  case value_kind::set: return "set";
  case value_kind::date: return "date";
  case value_kind::regexp: return "regexp";
  case value_kind::array_buffer: return "array_buffer";
  case value_kind::typed_array: return "typed_array";
  case value_kind::error: return "error";
  case value_kind::hole: return "hole";
  }
  return "unknown";
}

/// Thrown when a value is used as a kind it is not (`as_string()` on a number, `at()` on a
/// missing key, a failed `get<T>()`).
class value_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class value;

namespace detail::v8 {
struct node_access;
/// The deepest nesting of objects, arrays, Maps, Sets and Errors that the codec and the
/// recursive algorithms (printing, JSON conversion) accept.
inline constexpr std::size_t max_nesting = 1000;
} // namespace detail::v8

/// Node classes and JavaScript helper types used by `value`.
namespace js {

/// The element type of a typed array. The numbers are Node's `typeIndex` on the wire.
enum class typed_array_kind : std::uint8_t {
  int8 = 0,          ///< Int8Array
  uint8 = 1,         ///< Uint8Array
  uint8_clamped = 2, ///< Uint8ClampedArray
  int16 = 3,         ///< Int16Array
  uint16 = 4,        ///< Uint16Array
  int32 = 5,         ///< Int32Array
  uint32 = 6,        ///< Uint32Array
  float32 = 7,       ///< Float32Array
  float64 = 8,       ///< Float64Array
  data_view = 9,     ///< DataView
  buffer = 10,       ///< Node's Buffer (a Uint8Array subclass)
  bigint64 = 11,     ///< BigInt64Array
  biguint64 = 12,    ///< BigUint64Array
};

/// Bytes per element of a typed array kind (1 for DataView and Buffer).
inline std::size_t element_size(typed_array_kind kind) noexcept {
  switch (kind) {
  case typed_array_kind::int16:
  case typed_array_kind::uint16: return 2;
  case typed_array_kind::int32:
  case typed_array_kind::uint32:
  case typed_array_kind::float32: return 4;
  case typed_array_kind::float64:
  case typed_array_kind::bigint64:
  case typed_array_kind::biguint64: return 8;
  default: return 1;
  }
}

/// The JavaScript constructor name of a typed array kind (`"Int16Array"`, `"Buffer"`, ...).
inline std::string_view type_name(typed_array_kind kind) noexcept {
  switch (kind) {
  case typed_array_kind::int8: return "Int8Array";
  case typed_array_kind::uint8: return "Uint8Array";
  case typed_array_kind::uint8_clamped: return "Uint8ClampedArray";
  case typed_array_kind::int16: return "Int16Array";
  case typed_array_kind::uint16: return "Uint16Array";
  case typed_array_kind::int32: return "Int32Array";
  case typed_array_kind::uint32: return "Uint32Array";
  case typed_array_kind::float32: return "Float32Array";
  case typed_array_kind::float64: return "Float64Array";
  case typed_array_kind::data_view: return "DataView";
  case typed_array_kind::buffer: return "Buffer";
  case typed_array_kind::bigint64: return "BigInt64Array";
  case typed_array_kind::biguint64: return "BigUint64Array";
  }
  return "TypedArray";
}

/// The common part of every node (object-like value): its kind. Nodes are not copyable; use
/// `value::clone()` to copy a graph.
class node_base {
public:
  /// The kind of value this node is.
  value_kind kind() const noexcept { return kind_; }
  node_base(const node_base&) = delete;
  node_base& operator=(const node_base&) = delete;

protected:
  /// A node of kind `kind`.
  explicit node_base(value_kind kind) noexcept : kind_(kind) {}
  ~node_base() = default;

private:
  value_kind kind_;
  // Set once a weak reference to this node exists: the encoder must then track its identity
  // even when only one strong owner is left.
  mutable bool weak_target_ = false;
  friend struct cocluster::detail::v8::node_access;
};

class property_map;
class object;
class array;
class map;
class set;
class date;
class regexp;
class array_buffer;
class typed_array;
class error;

} // namespace js

namespace detail::v8 {

/// Types that `value` constructs from directly (its own constructors).
template <class T>
concept native_value =
    std::same_as<T, bool> || std::is_arithmetic_v<T> || std::same_as<T, std::nullptr_t> ||
    std::same_as<T, std::string> || std::same_as<T, std::string_view> ||
    std::same_as<T, const char*> || std::same_as<T, char*> || std::same_as<T, js::bigint> ||
    std::same_as<T, std::u16string> || std::same_as<T, std::u16string_view>;

/// Types with a `to_value(value&, const T&)` found by argument-dependent lookup (the library's
/// own overloads for standard types are in namespace `cocluster`).
template <class T>
concept has_to_value = requires(value& v, const T& x) { to_value(v, x); };

/// Class types that only nlohmann::json knows how to convert (a `to_json`): they go through
/// JSON.
template <class T>
concept has_json_only = std::is_class_v<T> && !has_to_value<T> &&
                        requires(nlohmann::json& j, const T& x) {
                          nlohmann::adl_serializer<T>::to_json(j, x);
                        };

/// Types `value` can be built from.
template <class T>
concept convertible_to_value = native_value<T> || has_to_value<T> || has_json_only<T>;

} // namespace detail::v8

/// A JavaScript value as Node's `advanced` serialization carries it. See the file comment for
/// the model. Construction mirrors nlohmann::json: `value v = {{"cmd", "hi"}, {"n", 1}};` is an
/// object, `value v = {1, 2, 3};` an array (a braced list of two-element lists whose first
/// element is a string is an object; use `value::array` to force an array).
class value {
public:
  // ---- construction ----

  /// `undefined`.
  value() noexcept = default;
  /// `null`.
  value(std::nullptr_t) noexcept : data_(null_t{}) {}
  /// A boolean (only `bool` itself: pointers do not become booleans).
  template <class B>
    requires std::same_as<B, bool>
  value(B b) noexcept : data_(b) {}
  /// A number: an int32 when the integer fits, otherwise a double (precision beyond 2^53 is
  /// lost, as in JavaScript).
  template <class I>
    requires(std::integral<I> && !std::same_as<I, bool>)
  value(I n) noexcept : data_(from_integer(n)) {}
  /// A double number.
  template <class F>
    requires std::floating_point<F>
  value(F x) noexcept : data_(static_cast<double>(x)) {}
  /// A string (WTF-8); a null pointer gives `null`.
  value(const char* text) : data_(text ? storage(std::string(text)) : storage(null_t{})) {}
  /// A string (WTF-8).
  value(std::string text) noexcept : data_(std::move(text)) {}
  /// A string (WTF-8).
  value(std::string_view text) : data_(std::string(text)) {}
  /// A string given in UTF-16 (lone surrogates are kept).
  value(std::u16string_view text)
      : data_(detail::v8::wtf8_from_utf16(reinterpret_cast<const unsigned char*>(text.data()),
                                          text.size())) {}
  /// A string given in UTF-16 (lone surrogates are kept).
  value(const std::u16string& text) : value(std::u16string_view(text)) {}
  /// A BigInt.
  value(js::bigint b) noexcept : data_(std::move(b)) {}
  /// An object or an array, with nlohmann::json's rule (see the class comment).
  value(std::initializer_list<value> items);
  /// A user type, through `to_value(value&, const T&)` found by argument-dependent lookup, or
  /// through nlohmann's `to_json` when there is no `to_value`. nlohmann::json itself converts
  /// as `from_json` documents.
  template <class T>
    requires(!std::same_as<std::remove_cvref_t<T>, value> &&
             !detail::v8::native_value<std::remove_cvref_t<T>> &&
             detail::v8::convertible_to_value<std::remove_cvref_t<T>>)
  value(const T& x);

  /// `undefined`.
  static value undefined() noexcept { return value(); }
  /// `null`.
  static value null() noexcept { return value(nullptr); }
  /// An array hole (for building sparse arrays element by element).
  static value hole() noexcept {
    value v;
    v.data_ = hole_t{};
    return v;
  }
  /// A plain object with these properties (in JavaScript key order: array-index keys first,
  /// ascending, then the others in insertion order; a repeated key keeps its last value).
  static value object(std::initializer_list<std::pair<std::string, value>> entries = {});
  /// A dense array.
  static value array(std::initializer_list<value> items = {});
  /// A dense array.
  static value array(std::vector<value> items);
  /// A Map (keys are compared as JavaScript's SameValueZero does: objects by identity).
  static value map(std::initializer_list<std::pair<value, value>> entries = {});
  /// A Set.
  static value set(std::initializer_list<value> items = {});
  /// A Date, `time` milliseconds after 1970-01-01T00:00:00Z, clipped as JavaScript does
  /// (truncated; NaN, an invalid date, beyond +-8.64e15).
  static value date(double time);
  /// A Date at `time` (millisecond precision).
  static value date(std::chrono::system_clock::time_point time);
  /// A RegExp `/pattern/flags`; `pattern` is its `source`. Flags are checked when encoding.
  static value regexp(std::string pattern, std::string flags = {});
  /// An ArrayBuffer holding `bytes`.
  static value array_buffer(std::vector<std::uint8_t> bytes);
  /// A typed array of `kind` whose contents are `bytes` (host byte order).
  static value typed_array(js::typed_array_kind kind, std::vector<std::uint8_t> bytes);
  /// A Node Buffer holding `bytes`.
  static value buffer(std::vector<std::uint8_t> bytes);
  /// A Node Buffer holding a copy of `bytes`.
  static value buffer(std::string_view bytes);
  /// An Error (`name` is one of Error, EvalError, RangeError, ReferenceError, SyntaxError,
  /// TypeError, URIError; other names travel as Error).
  static value error(std::string message, std::string name = "Error");
  /// A weak reference to the node `target` holds (for building cycles that can be freed).
  /// Throws `value_error` when `target` is not a node.
  static value weak_ref(const value& target);
  /// The value of a JSON document; see `to_json` for the reverse mapping.
  template <class BasicJson>
  static value from_json(const BasicJson& json);

  // ---- kind ----

  /// The kind (a weak reference reports its target's kind, or `undefined` once it is gone).
  value_kind kind() const noexcept;
  /// `undefined` (or an expired weak reference).
  bool is_undefined() const noexcept { return kind() == value_kind::undefined; }
  /// `null`.
  bool is_null() const noexcept { return kind() == value_kind::null; }
  /// A boolean.
  bool is_boolean() const noexcept { return kind() == value_kind::boolean; }
  /// An int32 number.
  bool is_int32() const noexcept { return kind() == value_kind::int32; }
  /// A double number.
  bool is_double() const noexcept { return kind() == value_kind::number; }
  /// A number of either representation.
  bool is_number() const noexcept { return is_int32() || is_double(); }
  /// A BigInt.
  bool is_bigint() const noexcept { return kind() == value_kind::bigint; }
  /// A string.
  bool is_string() const noexcept { return kind() == value_kind::string; }
  /// A plain object.
  bool is_object() const noexcept { return kind() == value_kind::object; }
  /// An array.
  bool is_array() const noexcept { return kind() == value_kind::array; }
  /// A Map.
  bool is_map() const noexcept { return kind() == value_kind::map; }
  /// A Set.
  bool is_set() const noexcept { return kind() == value_kind::set; }
  /// A Date.
  bool is_date() const noexcept { return kind() == value_kind::date; }
  /// A RegExp.
  bool is_regexp() const noexcept { return kind() == value_kind::regexp; }
  /// An ArrayBuffer.
  bool is_array_buffer() const noexcept { return kind() == value_kind::array_buffer; }
  /// A typed array, DataView or Buffer.
  bool is_typed_array() const noexcept { return kind() == value_kind::typed_array; }
  /// A Node Buffer.
  bool is_buffer() const noexcept;
  /// An Error.
  bool is_error() const noexcept { return kind() == value_kind::error; }
  /// An array hole.
  bool is_hole() const noexcept { return kind() == value_kind::hole; }
  /// A node (object-like value) rather than a primitive.
  bool is_node() const noexcept { return node() != nullptr; }
  /// A weak reference (see `weak_ref`).
  bool is_weak() const noexcept { return std::holds_alternative<weak_t>(data_); }

  // ---- access ----

  /// The boolean; throws `value_error` for other kinds.
  bool as_bool() const { return get_alternative<bool>(value_kind::boolean); }
  /// The int32; throws `value_error` for other kinds (see `as_number`).
  std::int32_t as_int32() const { return get_alternative<std::int32_t>(value_kind::int32); }
  /// The double; throws `value_error` for other kinds (see `as_number`).
  double as_double() const { return get_alternative<double>(value_kind::number); }
  /// The number, of either representation; throws `value_error` for other kinds.
  double as_number() const;
  /// The BigInt; throws `value_error` for other kinds.
  const js::bigint& as_bigint() const { return get_alternative<js::bigint>(value_kind::bigint); }
  /// The string (WTF-8); throws `value_error` for other kinds.
  const std::string& as_string() const {
    return get_alternative<std::string>(value_kind::string);
  }
  /// The string (WTF-8); throws `value_error` for other kinds.
  std::string& as_string() {
    return const_cast<std::string&>(std::as_const(*this).as_string());
  }
  /// The string in UTF-16; throws `value_error` for other kinds.
  std::u16string as_utf16() const { return detail::v8::utf16_string_from_wtf8(as_string()); }
  /// The object node; throws `value_error` for other kinds.
  js::object& as_object() const { return node_as<js::object>(value_kind::object); }
  /// The array node; throws `value_error` for other kinds.
  js::array& as_array() const { return node_as<js::array>(value_kind::array); }
  /// The Map node; throws `value_error` for other kinds.
  js::map& as_map() const { return node_as<js::map>(value_kind::map); }
  /// The Set node; throws `value_error` for other kinds.
  js::set& as_set() const { return node_as<js::set>(value_kind::set); }
  /// The Date node; throws `value_error` for other kinds.
  js::date& as_date() const { return node_as<js::date>(value_kind::date); }
  /// The RegExp node; throws `value_error` for other kinds.
  js::regexp& as_regexp() const { return node_as<js::regexp>(value_kind::regexp); }
  /// The ArrayBuffer node; throws `value_error` for other kinds.
  js::array_buffer& as_array_buffer() const {
    return node_as<js::array_buffer>(value_kind::array_buffer);
  }
  /// The typed array node; throws `value_error` for other kinds.
  js::typed_array& as_typed_array() const {
    return node_as<js::typed_array>(value_kind::typed_array);
  }
  /// The Error node; throws `value_error` for other kinds.
  js::error& as_error() const { return node_as<js::error>(value_kind::error); }

  /// The property `key` of an object, inserted as `undefined` if missing; an `undefined` value
  /// first becomes an empty object. Throws `value_error` for other kinds.
  value& operator[](std::string_view key);
  /// The property `key` of an object (or a named property of an array), or `undefined`.
  const value& operator[](std::string_view key) const noexcept;
  /// Element `index` of an array, created (as `undefined`, extending the length) if absent; an
  /// `undefined` value first becomes an empty array. Throws `value_error` for other kinds.
  value& operator[](std::size_t index);
  /// Element `index` of an array: a hole when absent; `undefined` for other kinds.
  const value& operator[](std::size_t index) const noexcept;
  /// The property `key` of an object, or null when absent or not an object.
  value* find(std::string_view key) const noexcept;
  /// True when an object has property `key`.
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  /// Object properties, array length, Map/Set entries, string bytes, typed array elements or
  /// ArrayBuffer bytes; 0 for other kinds.
  std::size_t size() const noexcept;
  /// `size() == 0`.
  bool empty() const noexcept { return size() == 0; }
  /// Appends to an array; an `undefined` value first becomes an empty array.
  void push_back(value item);

  /// The same node held strongly (a weak reference's target, or `undefined` if it is gone);
  /// other values are returned as they are.
  value strong() const;
  /// A deep copy of the graph that keeps its sharing and cycles.
  value clone() const;
  /// A JavaScript-like rendering for logs and test failures (`{"a": 1, "b": [1, <hole>]}`).
  std::string to_string() const;
  /// The value as JSON. JSON-shaped values map one to one; the rest is documented in
  /// `cocluster/detail/v8/value_json.hpp`. Never throws for cycles or depth (they become null).
  template <class BasicJson = nlohmann::json>
  BasicJson to_json() const;
  /// Converts to `T` through `from_value(const value&, T&)` found by argument-dependent lookup,
  /// or through nlohmann's `from_json` when there is none. Throws `value_error`.
  template <class T>
  T get() const;

  /// Deep equality: same kinds and contents, recursively; numbers compare as JavaScript's
  /// SameValue (an int32 equals the double of the same value, NaN equals NaN, -0 differs from
  /// 0); graphs with the same shape (including cycles) are equal; object keys and Map/Set
  /// entries compare in order.
  friend bool operator==(const value& a, const value& b);

  /// JavaScript's SameValueZero: primitives by value (NaN equals NaN, -0 equals 0), nodes by
  /// identity. This is how Maps and Sets find keys.
  friend bool same_value_zero(const value& a, const value& b) noexcept;

private:
  struct undefined_t {};
  struct null_t {};
  struct hole_t {};
  struct weak_t {
    std::weak_ptr<js::node_base> ptr;
    js::node_base* raw = nullptr;
  };
  using node_ptr = std::shared_ptr<js::node_base>;
  using storage = std::variant<undefined_t, null_t, bool, std::int32_t, double, js::bigint,
                               std::string, node_ptr, weak_t, hole_t>;

  template <class I>
  static storage from_integer(I n) noexcept {
    if constexpr (std::is_signed_v<I>) {
      const auto wide = static_cast<std::int64_t>(n);
      if (wide >= std::numeric_limits<std::int32_t>::min() &&
          wide <= std::numeric_limits<std::int32_t>::max())
        return static_cast<std::int32_t>(n);
    } else {
      if (static_cast<std::uint64_t>(n) <= 0x7FFFFFFFu)
        return static_cast<std::int32_t>(n);
    }
    return static_cast<double>(n);
  }

  /// The node this value refers to (strongly or weakly), or null.
  js::node_base* node() const noexcept {
    if (const auto* p = std::get_if<node_ptr>(&data_))
      return p->get();
    if (const auto* w = std::get_if<weak_t>(&data_))
      return w->ptr.expired() ? nullptr : w->raw;
    return nullptr;
  }

  [[noreturn]] void wrong_kind(value_kind wanted) const {
    throw value_error("cocluster::value: expected " + std::string(kind_name(wanted)) + ", got " +
                      std::string(kind_name(kind())));
  }

  template <class T>
  const T& get_alternative(value_kind wanted) const {
    if (const auto* p = std::get_if<T>(&data_))
      return *p;
    wrong_kind(wanted);
  }

  template <class Node>
  Node& node_as(value_kind wanted) const {
    js::node_base* n = node();
    if (n == nullptr || n->kind() != wanted)
      wrong_kind(wanted);
    return static_cast<Node&>(*n);
  }

  static value from_node(node_ptr node) noexcept {
    value v;
    v.data_ = std::move(node);
    return v;
  }

  storage data_;
  friend struct detail::v8::node_access;
};

namespace js {

/// An ordered list of string-keyed properties in JavaScript order: canonical array-index keys
/// (`"0"` to `"4294967294"`) first in ascending order, then other keys in insertion order.
/// Lookups are linear. Do not change keys through iterators.
class property_map {
public:
  /// One property.
  using entry = std::pair<std::string, value>;
  /// Iterator over properties.
  using iterator = std::vector<entry>::iterator;
  /// Iterator over properties.
  using const_iterator = std::vector<entry>::const_iterator;

  /// Number of properties.
  std::size_t size() const noexcept { return entries_.size(); }
  /// True when there are no properties.
  bool empty() const noexcept { return entries_.empty(); }
  /// First property.
  iterator begin() noexcept { return entries_.begin(); }
  /// Past the last property.
  iterator end() noexcept { return entries_.end(); }
  /// First property.
  const_iterator begin() const noexcept { return entries_.begin(); }
  /// Past the last property.
  const_iterator end() const noexcept { return entries_.end(); }

  /// The value of `key`, or null.
  value* find(std::string_view key) noexcept {
    for (auto& e : entries_)
      if (e.first == key)
        return &e.second;
    return nullptr;
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
    const auto at = entries_.insert(entries_.begin() + insert_position(key),
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
    entries_.insert(entries_.begin() + position, entry(std::move(key), std::move(v)));
    return true;
  }
  /// Removes `key`; returns true when it was present.
  bool erase(std::string_view key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->first == key) {
        entries_.erase(it);
        return true;
      }
    return false;
  }
  /// Removes every property.
  void clear() noexcept { entries_.clear(); }
  /// Reserves room for `n` properties.
  void reserve(std::size_t n) { entries_.reserve(n); }

protected:
  property_map() = default;
  ~property_map() = default;

  std::vector<entry> entries_;

private:
  std::ptrdiff_t insert_position(std::string_view key) const noexcept {
    std::uint32_t index = 0;
    if (!detail::v8::parse_array_index(key, index))
      return static_cast<std::ptrdiff_t>(entries_.size());
    std::size_t i = 0;
    std::uint32_t other = 0;
    while (i < entries_.size() && detail::v8::parse_array_index(entries_[i].first, other) &&
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
class map final : public node_base {
public:
  /// One entry.
  using entry = std::pair<value, value>;
  /// Iterator over entries.
  using iterator = std::vector<entry>::iterator;
  /// Iterator over entries.
  using const_iterator = std::vector<entry>::const_iterator;

  /// An empty Map.
  map() noexcept : node_base(value_kind::map) {}
  ~map();
  /// Number of entries.
  std::size_t size() const noexcept { return entries_.size(); }
  /// True when empty.
  bool empty() const noexcept { return entries_.empty(); }
  /// First entry.
  iterator begin() noexcept { return entries_.begin(); }
  /// Past the last entry.
  iterator end() noexcept { return entries_.end(); }
  /// First entry.
  const_iterator begin() const noexcept { return entries_.begin(); }
  /// Past the last entry.
  const_iterator end() const noexcept { return entries_.end(); }
  /// The value stored under `key`, or null.
  value* find(const value& key) noexcept {
    for (auto& e : entries_)
      if (same_value_zero(e.first, key))
        return &e.second;
    return nullptr;
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
      entries_.emplace_back(positive_zero(std::move(key)), std::move(v));
  }
  /// The value of `key`, appended as `undefined` when missing.
  value& operator[](const value& key) {
    if (value* existing = find(key))
      return *existing;
    return entries_.emplace_back(positive_zero(key), value()).second;
  }
  /// Removes `key`; returns true when it was present.
  bool erase(const value& key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (same_value_zero(it->first, key)) {
        entries_.erase(it);
        return true;
      }
    return false;
  }
  /// Removes every entry.
  void clear() noexcept { entries_.clear(); }

private:
  std::vector<entry> entries_;
  friend struct cocluster::detail::v8::node_access;
};

/// A JavaScript Set: values in insertion order, compared with SameValueZero.
class set final : public node_base {
public:
  /// Iterator over values.
  using iterator = std::vector<value>::iterator;
  /// Iterator over values.
  using const_iterator = std::vector<value>::const_iterator;

  /// An empty Set.
  set() noexcept : node_base(value_kind::set) {}
  ~set();
  /// Number of values.
  std::size_t size() const noexcept { return items_.size(); }
  /// True when empty.
  bool empty() const noexcept { return items_.empty(); }
  /// First value.
  iterator begin() noexcept { return items_.begin(); }
  /// Past the last value.
  iterator end() noexcept { return items_.end(); }
  /// First value.
  const_iterator begin() const noexcept { return items_.begin(); }
  /// Past the last value.
  const_iterator end() const noexcept { return items_.end(); }
  /// True when `item` is present.
  bool contains(const value& item) const noexcept {
    for (const auto& v : items_)
      if (same_value_zero(v, item))
        return true;
    return false;
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
  bool erase(const value& item) {
    for (auto it = items_.begin(); it != items_.end(); ++it)
      if (same_value_zero(*it, item)) {
        items_.erase(it);
        return true;
      }
    return false;
  }
  /// Removes every value.
  void clear() noexcept { items_.clear(); }

private:
  std::vector<value> items_;
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
    return m.entries_;
  }
  /// The raw entries of a Map.
  static std::vector<js::map::entry>& entries(js::map& m) noexcept { return m.entries_; }
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

// ---- value: out-of-line definitions ----

inline value::value(std::initializer_list<value> items) {
  bool is_object = items.size() > 0;
  for (const auto& item : items) {
    if (!item.is_array() || item.as_array().size() != 2 ||
        !std::as_const(item.as_array())[0].is_string()) {
      is_object = false;
      break;
    }
  }
  if (is_object) {
    auto node = std::make_shared<js::object>();
    for (const auto& item : items) {
      const js::array& pair = std::as_const(item.as_array());
      node->insert_or_assign(pair[0].as_string(), pair[1]);
    }
    data_ = node_ptr(std::move(node));
  } else {
    data_ = node_ptr(std::make_shared<js::array>(std::vector<value>(items)));
  }
}

inline value value::object(std::initializer_list<std::pair<std::string, value>> entries) {
  auto node = std::make_shared<js::object>();
  for (const auto& [key, item] : entries)
    node->insert_or_assign(key, item);
  return from_node(std::move(node));
}

inline value value::array(std::initializer_list<value> items) {
  return from_node(std::make_shared<js::array>(std::vector<value>(items)));
}

inline value value::array(std::vector<value> items) {
  return from_node(std::make_shared<js::array>(std::move(items)));
}

inline value value::map(std::initializer_list<std::pair<value, value>> entries) {
  auto node = std::make_shared<js::map>();
  for (const auto& [key, item] : entries)
    node->set(key, item);
  return from_node(std::move(node));
}

inline value value::set(std::initializer_list<value> items) {
  auto node = std::make_shared<js::set>();
  for (const auto& item : items)
    node->add(item);
  return from_node(std::move(node));
}

inline value value::date(double time) {
  return from_node(std::make_shared<js::date>(detail::v8::time_clip(time)));
}

inline value value::date(std::chrono::system_clock::time_point time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  return date(static_cast<double>(ms));
}

inline value value::regexp(std::string pattern, std::string flags) {
  return from_node(std::make_shared<js::regexp>(std::move(pattern), std::move(flags)));
}

inline value value::array_buffer(std::vector<std::uint8_t> bytes) {
  return from_node(std::make_shared<js::array_buffer>(std::move(bytes)));
}

inline value value::typed_array(js::typed_array_kind kind, std::vector<std::uint8_t> bytes) {
  return from_node(std::make_shared<js::typed_array>(kind, std::move(bytes)));
}

inline value value::buffer(std::vector<std::uint8_t> bytes) {
  return typed_array(js::typed_array_kind::buffer, std::move(bytes));
}

inline value value::buffer(std::string_view bytes) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  return buffer(std::vector<std::uint8_t>(p, p + bytes.size()));
}

inline value value::error(std::string message, std::string name) {
  auto node = std::make_shared<js::error>(std::move(name));
  node->message = std::move(message);
  return from_node(std::move(node));
}

inline value value::weak_ref(const value& target) {
  node_ptr node = detail::v8::node_access::share(target);
  if (!node)
    throw value_error("cocluster::value: weak_ref needs an object-like value, got " +
                      std::string(kind_name(target.kind())));
  return detail::v8::node_access::weak(node);
}

inline value_kind value::kind() const noexcept {
  switch (data_.index()) {
  case 0: return value_kind::undefined;
  case 1: return value_kind::null;
  case 2: return value_kind::boolean;
  case 3: return value_kind::int32;
  case 4: return value_kind::number;
  case 5: return value_kind::bigint;
  case 6: return value_kind::string;
  case 7:
  case 8: {
    const js::node_base* n = node();
    return n ? n->kind() : value_kind::undefined;
  }
  default: return value_kind::hole;
  }
}

inline bool value::is_buffer() const noexcept {
  return is_typed_array() && as_typed_array().kind == js::typed_array_kind::buffer;
}

inline double value::as_number() const {
  if (const auto* i = std::get_if<std::int32_t>(&data_))
    return *i;
  if (const auto* d = std::get_if<double>(&data_))
    return *d;
  wrong_kind(value_kind::number);
}

inline value& value::operator[](std::string_view key) {
  if (std::holds_alternative<undefined_t>(data_))
    data_ = node_ptr(std::make_shared<js::object>());
  return as_object()[key];
}

namespace detail::v8 {
/// A shared `undefined` to return by reference.
inline const value& undefined_value() noexcept {
  static const value instance;
  return instance;
}
} // namespace detail::v8

inline const value& value::operator[](std::string_view key) const noexcept {
  const js::node_base* n = node();
  if (n != nullptr && n->kind() == value_kind::object)
    if (const value* v = static_cast<const js::object*>(n)->find(key))
      return *v;
  if (n != nullptr && n->kind() == value_kind::array)
    if (const value* v = static_cast<const js::array*>(n)->properties().find(key))
      return *v;
  return detail::v8::undefined_value();
}

inline value& value::operator[](std::size_t index) {
  if (std::holds_alternative<undefined_t>(data_))
    data_ = node_ptr(std::make_shared<js::array>());
  return as_array()[index];
}

inline const value& value::operator[](std::size_t index) const noexcept {
  const js::node_base* n = node();
  if (n != nullptr && n->kind() == value_kind::array)
    return (*static_cast<const js::array*>(n))[index];
  return detail::v8::undefined_value();
}

inline value* value::find(std::string_view key) const noexcept {
  js::node_base* n = node();
  if (n == nullptr || n->kind() != value_kind::object)
    return nullptr;
  return static_cast<js::object*>(n)->find(key);
}

inline std::size_t value::size() const noexcept {
  switch (kind()) {
  case value_kind::object: return as_object().size();
  case value_kind::array: return as_array().size();
  case value_kind::map: return as_map().size();
  case value_kind::set: return as_set().size();
  case value_kind::string: return std::get<std::string>(data_).size();
  case value_kind::array_buffer: return as_array_buffer().bytes.size();
  case value_kind::typed_array: return as_typed_array().length();
  default: return 0;
  }
}

inline void value::push_back(value item) {
  if (std::holds_alternative<undefined_t>(data_))
    data_ = node_ptr(std::make_shared<js::array>());
  as_array().push_back(std::move(item));
}

inline value value::strong() const {
  if (!is_weak())
    return *this;
  node_ptr node = detail::v8::node_access::share(*this);
  return node ? from_node(std::move(node)) : value();
}

inline bool same_value_zero(const value& a, const value& b) noexcept {
  const value_kind ka = a.kind();
  const value_kind kb = b.kind();
  const bool number_a = ka == value_kind::int32 || ka == value_kind::number;
  const bool number_b = kb == value_kind::int32 || kb == value_kind::number;
  if (number_a && number_b) {
    const double x = a.as_number();
    const double y = b.as_number();
    return x == y || (std::isnan(x) && std::isnan(y));
  }
  if (ka != kb)
    return false;
  switch (ka) {
  case value_kind::undefined:
  case value_kind::null:
  case value_kind::hole: return true;
  case value_kind::boolean: return a.as_bool() == b.as_bool();
  case value_kind::bigint: return a.as_bigint() == b.as_bigint();
  case value_kind::string: return a.as_string() == b.as_string();
  default: return a.node() == b.node();
  }
}

// ---- nodes: out-of-line definitions ----

namespace js {

inline object::~object() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& e : entries_)
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
  if (index < items_.size())
    return items_[index];
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
  for (auto& e : properties_.entries_)
    detail::v8::node_access::defer(queue, e.second);
  queue.drain();
}

inline map::~map() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& [key, item] : entries_) {
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

#include "cocluster/detail/v8/value_clone.hpp"
#include "cocluster/detail/v8/value_convert.hpp"
#include "cocluster/detail/v8/value_equal.hpp"
#include "cocluster/detail/v8/value_format.hpp"
#include "cocluster/detail/v8/value_json.hpp"

#endif // COCLUSTER_VALUE_HPP
