// SPDX-License-Identifier: MIT
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
///
/// This header defines the class; its members that need the node classes (in `cocluster/js/`)
/// are defined in `cocluster/value/definitions.hpp`. Include `cocluster/value.hpp`, which has
/// them all.
#ifndef COCLUSTER_VALUE_VALUE_HPP
#define COCLUSTER_VALUE_VALUE_HPP

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "cocluster/detail/v8/value_concepts.hpp"
#include "cocluster/detail/v8/wtf8.hpp"
#include "cocluster/js/bigint.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/typed_array_kind.hpp"
#include "cocluster/value/error.hpp"
#include "cocluster/value/kind.hpp"

namespace cocluster {

/// A JavaScript value as Node's `advanced` serialization carries it. See the file comment for
/// the model. Construction mirrors nlohmann::json: `value v = {{"cmd", "hi"}, {"n", 1}};` is an
/// object, `value v = {1, 2, 3};` an array (a braced list of two-element lists whose first
/// element is a string is an object; use `value::array` to force an array).
///
/// @par Example
/// @code
/// cocluster::value v = {{"cmd", "hi"}, {"n", 1}}; // an object
/// v["tags"] = cocluster::value::set({"a", "b"});
/// v["head"] = cocluster::value::buffer(std::string_view("GET / HTTP/1.1\r\n"));
/// worker.send(v); // with cocluster::advanced serialization
/// int n = v["n"].get<int>();
/// @endcode
class value {
public:
  // ---- construction ----

  /// `undefined`.
  value() noexcept = default;
  /// `null`.
  value(std::nullptr_t) noexcept : data_(null_t{}) {}
  /// A boolean (only `bool` itself: pointers do not become booleans).
  /// @param b the boolean.
  template <class B>
    requires std::same_as<B, bool>
  value(B b) noexcept : data_(b) {}
  /// A number: an int32 when the integer fits, otherwise a double (precision beyond 2^53 is
  /// lost, as in JavaScript).
  /// @param n any integer; an int32 outside [-2^31, 2^31 - 1] becomes a double.
  template <class I>
    requires(std::integral<I> && !std::same_as<I, bool>)
  value(I n) noexcept : data_(from_integer(n)) {}
  /// A double number.
  /// @param x the number (NaN, infinities and -0 are kept), stored as a double.
  template <class F>
    requires std::floating_point<F>
  value(F x) noexcept : data_(static_cast<double>(x)) {}
  /// A string (WTF-8); a null pointer gives `null`.
  /// @param text a NUL-terminated WTF-8 string, copied; null gives `null`.
  value(const char* text) : data_(text ? storage(std::string(text)) : storage(null_t{})) {}
  /// A string (WTF-8).
  /// @param text the string, moved in; not checked (`encode` refuses what is not WTF-8).
  value(std::string text) noexcept : data_(std::move(text)) {}
  /// A string (WTF-8).
  /// @param text the string, copied; not checked.
  value(std::string_view text) : data_(std::string(text)) {}
  /// A string given in UTF-16 (lone surrogates are kept).
  /// @param text the UTF-16 code units, converted to WTF-8.
  value(std::u16string_view text)
      : data_(detail::v8::wtf8_from_utf16(reinterpret_cast<const unsigned char*>(text.data()),
                                          text.size())) {}
  /// A string given in UTF-16 (lone surrogates are kept).
  /// @param text the UTF-16 code units, converted to WTF-8.
  value(const std::u16string& text) : value(std::u16string_view(text)) {}
  /// A BigInt.
  /// @param b the BigInt, moved in.
  value(js::bigint b) noexcept : data_(std::move(b)) {}
  /// An object or an array, with nlohmann::json's rule (see the class comment).
  /// @param items an object's `{key, value}` pairs, or an array's elements.
  value(std::initializer_list<value> items);
  /// A user type, through `to_value(value&, const T&)` found by argument-dependent lookup, or
  /// through nlohmann's `to_json` when there is no `to_value`. nlohmann::json itself converts
  /// as `from_json` documents.
  /// @param x the user value, converted now (a copy, not a reference to it).
  template <class T>
    requires(!std::same_as<std::remove_cvref_t<T>, value> &&
             !detail::v8::native_value<std::remove_cvref_t<T>> &&
             detail::v8::convertible_to_value<std::remove_cvref_t<T>>)
  value(const T& x);

  /// `undefined`.
  /// @return `value()`.
  static value undefined() noexcept { return value(); }
  /// `null`.
  /// @return `value(nullptr)`.
  static value null() noexcept { return value(nullptr); }
  /// An array hole (for building sparse arrays element by element).
  /// @return a value of kind `value_kind::hole`; only meaningful as an array element.
  static value hole() noexcept {
    value v;
    v.data_ = hole_t{};
    return v;
  }
  /// A plain object with these properties (in JavaScript key order: array-index keys first,
  /// ascending, then the others in insertion order; a repeated key keeps its last value).
  /// @param entries the properties, `{"key", value}` pairs.
  /// @return a new object node.
  static value object(std::initializer_list<std::pair<std::string, value>> entries = {});
  /// A dense array.
  /// @param items the elements, index 0 first.
  /// @return a new array node.
  static value array(std::initializer_list<value> items = {});
  /// A dense array.
  /// @param items the elements, index 0 first, moved in; more than 2^32 - 1 throws `value_error`.
  /// @return a new array node.
  static value array(std::vector<value> items);
  /// A Map (keys are compared as JavaScript's SameValueZero does: objects by identity).
  /// @param entries the `{key, value}` entries in insertion order; a repeated key keeps its last
  ///   value (in the first one's place), and a -0 key becomes +0.
  /// @return a new Map node.
  static value map(std::initializer_list<std::pair<value, value>> entries = {});
  /// A Set.
  /// @param items the values in insertion order; a repeated one is kept once.
  /// @return a new Set node.
  static value set(std::initializer_list<value> items = {});
  /// A Date, `time` milliseconds after 1970-01-01T00:00:00Z, clipped as JavaScript does
  /// (truncated; NaN, an invalid date, beyond +-8.64e15).
  /// @param time milliseconds after the epoch; NaN for an invalid date.
  /// @return a new Date node.
  static value date(double time);
  /// A Date at `time` (millisecond precision).
  /// @param time the time, truncated to whole milliseconds.
  /// @return a new Date node (invalid beyond +-8.64e15 ms).
  static value date(std::chrono::system_clock::time_point time);
  /// A RegExp `/pattern/flags`; `pattern` is its `source`. Flags are checked when encoding.
  /// @param pattern the `source`, without slashes (WTF-8).
  /// @param flags any of `dgimsuvy`; "" for none.
  /// @return a new RegExp node.
  static value regexp(std::string pattern, std::string flags = {});
  /// An ArrayBuffer holding `bytes`.
  /// @param bytes the contents, moved in.
  /// @return a new ArrayBuffer node.
  static value array_buffer(std::vector<std::uint8_t> bytes);
  /// A typed array of `kind` whose contents are `bytes` (host byte order).
  /// @param kind the element type (`typed_array_kind::data_view` for a DataView).
  /// @param bytes the contents, host byte order, moved in; a size that is not a multiple of the
  ///   element size is refused when encoding.
  /// @return a new typed array node.
  static value typed_array(js::typed_array_kind kind, std::vector<std::uint8_t> bytes);
  /// A Node Buffer holding `bytes`.
  /// @param bytes the contents, moved in.
  /// @return a new typed array node of kind `typed_array_kind::buffer`.
  static value buffer(std::vector<std::uint8_t> bytes);
  /// A Node Buffer holding a copy of `bytes`.
  /// @param bytes the contents, copied (any bytes, not only text).
  /// @return a new typed array node of kind `typed_array_kind::buffer`.
  static value buffer(std::string_view bytes);
  /// An Error (`name` is one of Error, EvalError, RangeError, ReferenceError, SyntaxError,
  /// TypeError, URIError; other names travel as Error).
  /// @param message the `message` property.
  /// @param name the prototype's name (default "Error").
  /// @return a new Error node, without stack or cause.
  static value error(std::string message, std::string name = "Error");
  /// A weak reference to the node `target` holds (for building cycles that can be freed).
  /// Throws `value_error` when `target` is not a node.
  /// @param target a node (object, array, Map, ...); it must be held strongly elsewhere, or the
  ///   reference reads as `undefined` at once.
  /// @return a weak reference to it.
  static value weak_ref(const value& target);
  /// The value of a JSON document; see `to_json` for the reverse mapping.
  /// @param json a nlohmann JSON value (`nlohmann::json`, `ordered_json`, ...).
  /// @return the value: numbers that fit an int32 as int32, other numbers as doubles, objects,
  ///   arrays, strings, booleans and null as themselves.
  template <class BasicJson>
  static value from_json(const BasicJson& json);

  // ---- kind ----

  /// The kind (a weak reference reports its target's kind, or `undefined` once it is gone).
  /// @return the kind; `value_kind::int32` and `value_kind::number` are the two number kinds.
  value_kind kind() const noexcept;
  /// `undefined` (or an expired weak reference).
  /// @return whether `kind()` is `value_kind::undefined`.
  bool is_undefined() const noexcept { return kind() == value_kind::undefined; }
  /// `null`.
  /// @return whether `kind()` is `value_kind::null`.
  bool is_null() const noexcept { return kind() == value_kind::null; }
  /// A boolean.
  /// @return whether `kind()` is `value_kind::boolean`.
  bool is_boolean() const noexcept { return kind() == value_kind::boolean; }
  /// An int32 number.
  /// @return whether `kind()` is `value_kind::int32`.
  bool is_int32() const noexcept { return kind() == value_kind::int32; }
  /// A double number.
  /// @return whether `kind()` is `value_kind::number` (a double, whatever its value).
  bool is_double() const noexcept { return kind() == value_kind::number; }
  /// A number of either representation.
  /// @return whether it is an int32 or a double.
  bool is_number() const noexcept { return is_int32() || is_double(); }
  /// A BigInt.
  /// @return whether `kind()` is `value_kind::bigint`.
  bool is_bigint() const noexcept { return kind() == value_kind::bigint; }
  /// A string.
  /// @return whether `kind()` is `value_kind::string`.
  bool is_string() const noexcept { return kind() == value_kind::string; }
  /// A plain object.
  /// @return whether `kind()` is `value_kind::object` (not for arrays, Maps and the other nodes).
  bool is_object() const noexcept { return kind() == value_kind::object; }
  /// An array.
  /// @return whether `kind()` is `value_kind::array`.
  bool is_array() const noexcept { return kind() == value_kind::array; }
  /// A Map.
  /// @return whether `kind()` is `value_kind::map`.
  bool is_map() const noexcept { return kind() == value_kind::map; }
  /// A Set.
  /// @return whether `kind()` is `value_kind::set`.
  bool is_set() const noexcept { return kind() == value_kind::set; }
  /// A Date.
  /// @return whether `kind()` is `value_kind::date`.
  bool is_date() const noexcept { return kind() == value_kind::date; }
  /// A RegExp.
  /// @return whether `kind()` is `value_kind::regexp`.
  bool is_regexp() const noexcept { return kind() == value_kind::regexp; }
  /// An ArrayBuffer.
  /// @return whether `kind()` is `value_kind::array_buffer`.
  bool is_array_buffer() const noexcept { return kind() == value_kind::array_buffer; }
  /// A typed array, DataView or Buffer.
  /// @return whether `kind()` is `value_kind::typed_array` (a Buffer and a DataView included).
  bool is_typed_array() const noexcept { return kind() == value_kind::typed_array; }
  /// A Node Buffer.
  /// @return whether it is a typed array of kind `typed_array_kind::buffer`.
  bool is_buffer() const noexcept;
  /// An Error.
  /// @return whether `kind()` is `value_kind::error`.
  bool is_error() const noexcept { return kind() == value_kind::error; }
  /// An array hole.
  /// @return whether `kind()` is `value_kind::hole`.
  bool is_hole() const noexcept { return kind() == value_kind::hole; }
  /// A node (object-like value) rather than a primitive.
  /// @return true for objects, arrays, Maps, Sets, Dates, RegExps, ArrayBuffers, typed arrays and
  ///   Errors (held strongly, or weakly with the target alive).
  bool is_node() const noexcept { return node() != nullptr; }
  /// A weak reference (see `weak_ref`).
  /// @return whether this value is a weak reference, expired or not.
  bool is_weak() const noexcept { return std::holds_alternative<weak_t>(data_); }

  // ---- access ----

  /// The boolean; throws `value_error` for other kinds.
  /// @return the boolean.
  bool as_bool() const { return get_alternative<bool>(value_kind::boolean); }
  /// The int32; throws `value_error` for other kinds (see `as_number`).
  /// @return the int32 (a double of an integral value is not one).
  std::int32_t as_int32() const { return get_alternative<std::int32_t>(value_kind::int32); }
  /// The double; throws `value_error` for other kinds (see `as_number`).
  /// @return the double (an int32 is not one).
  double as_double() const { return get_alternative<double>(value_kind::number); }
  /// The number, of either representation; throws `value_error` for other kinds.
  /// @return the number as a double.
  double as_number() const;
  /// The BigInt; throws `value_error` for other kinds.
  /// @return the BigInt, valid while this value holds it.
  const js::bigint& as_bigint() const { return get_alternative<js::bigint>(value_kind::bigint); }
  /// The string (WTF-8); throws `value_error` for other kinds.
  /// @return the string, valid while this value holds it.
  const std::string& as_string() const { return get_alternative<std::string>(value_kind::string); }
  /// The string (WTF-8); throws `value_error` for other kinds.
  /// @return the string, which may be changed in place.
  std::string& as_string() { return const_cast<std::string&>(std::as_const(*this).as_string()); }
  /// The string in UTF-16; throws `value_error` for other kinds.
  /// @return a UTF-16 copy (lone surrogates kept).
  std::u16string as_utf16() const { return detail::v8::utf16_string_from_wtf8(as_string()); }
  /// The object node; throws `value_error` for other kinds.
  /// @return the node, shared with every copy of this value.
  js::object& as_object() const;
  /// The array node; throws `value_error` for other kinds.
  /// @return the node, shared with every copy of this value.
  js::array& as_array() const;
  /// The Map node; throws `value_error` for other kinds.
  /// @return the node, shared with every copy of this value.
  js::map& as_map() const;
  /// The Set node; throws `value_error` for other kinds.
  /// @return the node, shared with every copy of this value.
  js::set& as_set() const;
  /// The Date node; throws `value_error` for other kinds.
  /// @return the node, shared with every copy of this value.
  js::date& as_date() const;
  /// The RegExp node; throws `value_error` for other kinds.
  /// @return the node, shared with every copy of this value.
  js::regexp& as_regexp() const;
  /// The ArrayBuffer node; throws `value_error` for other kinds.
  /// @return the node, shared with every copy of this value.
  js::array_buffer& as_array_buffer() const;
  /// The typed array node; throws `value_error` for other kinds.
  /// @return the node, shared with every copy of this value.
  js::typed_array& as_typed_array() const;
  /// The Error node; throws `value_error` for other kinds.
  /// @return the node, shared with every copy of this value.
  js::error& as_error() const;

  /// The property `key` of an object, inserted as `undefined` if missing; an `undefined` value
  /// first becomes an empty object. Throws `value_error` for other kinds.
  /// @param key the property's name.
  /// @return the property's value, valid until the object changes.
  value& operator[](std::string_view key);
  /// The property `key` of an object (or a named property of an array), or `undefined`.
  /// @param key the property's name.
  /// @return the property's value, or a shared `undefined` (for another kind too).
  const value& operator[](std::string_view key) const noexcept;
  /// Element `index` of an array, created (as `undefined`, extending the length) if absent; an
  /// `undefined` value first becomes an empty array. Throws `value_error` for other kinds.
  /// @param index the element's index, at most 2^32 - 2.
  /// @return the element, valid until the array changes.
  value& operator[](std::size_t index);
  /// Element `index` of an array: a hole when absent; `undefined` for other kinds.
  /// @param index the element's index.
  /// @return the element, a shared hole, or a shared `undefined`.
  const value& operator[](std::size_t index) const noexcept;
  /// The property `key` of an object, or null when absent or not an object.
  /// @param key the property's name.
  /// @return a pointer to the property's value, valid until the object changes, or null.
  value* find(std::string_view key) const noexcept;
  /// True when an object has property `key`.
  /// @param key the property's name.
  /// @return whether `find(key)` finds it (false for other kinds).
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  /// Object properties, array length, Map/Set entries, string bytes, typed array elements or
  /// ArrayBuffer bytes; 0 for other kinds.
  /// @return the size of this kind (string size in bytes, not characters).
  std::size_t size() const noexcept;
  /// `size() == 0`.
  /// @return whether `size()` is 0 (true for a number, a boolean and the other unsized kinds).
  bool empty() const noexcept { return size() == 0; }
  /// Appends to an array; an `undefined` value first becomes an empty array.
  /// @param item the new last element (moved in). Throws `value_error` for other kinds, or an
  ///   array already at the largest length.
  void push_back(value item);

  /// The same node held strongly (a weak reference's target, or `undefined` if it is gone);
  /// other values are returned as they are.
  /// @return a strong reference to a weak reference's target, `undefined` when it is gone, or
  ///   this value.
  value strong() const;
  /// A deep copy of the graph that keeps its sharing and cycles.
  /// @return the copy: new nodes, shared and circular references kept among them.
  value clone() const;
  /// A JavaScript-like rendering for logs and test failures (`{"a": 1, "b": [1, <hole>]}`).
  /// @return the rendering, on one line; never throws for cycles or depth.
  std::string to_string() const;
  /// The value as JSON. JSON-shaped values map one to one; the rest is documented in
  /// `cocluster/value/json.hpp`. Never throws for cycles or depth (they become null).
  /// @tparam BasicJson the JSON type made (`nlohmann::json`, `nlohmann::ordered_json`, ...).
  /// @return the JSON value.
  template <class BasicJson = nlohmann::json>
  BasicJson to_json() const;
  /// Converts to `T` through `from_value(const value&, T&)` found by argument-dependent lookup,
  /// or through nlohmann's `from_json` when there is none. Throws `value_error`.
  /// @tparam T the type made.
  /// @return the converted value.
  template <class T>
  T get() const;

  /// Deep equality: same kinds and contents, recursively; numbers compare as JavaScript's
  /// SameValue (an int32 equals the double of the same value, NaN equals NaN, -0 differs from
  /// 0); graphs with the same shape (including cycles) are equal; object keys and Map/Set
  /// entries compare in order.
  /// @param a one value.
  /// @param b the other.
  /// @return whether they are deeply equal.
  friend bool operator==(const value& a, const value& b);

  /// JavaScript's SameValueZero: primitives by value (NaN equals NaN, -0 equals 0), nodes by
  /// identity. This is how Maps and Sets find keys.
  /// @param a one value.
  /// @param b the other.
  /// @return whether they are the same under SameValueZero.
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
  friend struct detail::v8::value_access;
};

// ---- members that need no node class ----

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

inline double value::as_number() const {
  if (const auto* i = std::get_if<std::int32_t>(&data_))
    return *i;
  if (const auto* d = std::get_if<double>(&data_))
    return *d;
  wrong_kind(value_kind::number);
}

} // namespace cocluster

#endif // COCLUSTER_VALUE_VALUE_HPP
