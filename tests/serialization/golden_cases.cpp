// The C++ values of the golden cases; each mirrors the case of the same name in v8_vectors.js.
#include "golden_cases.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

namespace sertest {
namespace {

using cocluster::value;
using cocluster::js::bigint;
using cocluster::js::typed_array_kind;

constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr double infinity = std::numeric_limits<double>::infinity();

// The bytes of `items` in host order, as a typed array holds them.
template <class T>
std::vector<std::uint8_t> bytes_of(std::initializer_list<T> items) {
  std::vector<std::uint8_t> out(items.size() * sizeof(T));
  std::memcpy(out.data(), items.begin(), out.size());
  return out;
}

std::vector<std::uint8_t> counting(std::size_t n, std::uint8_t first = 0) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<std::uint8_t>(first + i);
  return out;
}

value error_with(const char* name, std::optional<std::string> message, std::string stack) {
  value e = value::error("", name);
  e.as_error().message = std::move(message);
  e.as_error().stack = std::move(stack);
  return e;
}

value sparse(std::initializer_list<std::pair<std::size_t, value>> elements) {
  value a = value::array();
  for (const auto& [index, item] : elements)
    a[index] = item;
  return a;
}

std::vector<golden_case> make_cases() {
  std::vector<golden_case> cases = {
      {"undefined", [] { return value(); }},
      {"null", [] { return value(nullptr); }},
      {"true", [] { return value(true); }},
      {"false", [] { return value(false); }},
      {"int32_zero", [] { return value(0); }},
      {"int32_small", [] { return value(42); }},
      {"int32_negative", [] { return value(-123456); }},
      {"int32_max", [] { return value(2147483647); }},
      {"int32_min", [] { return value(std::numeric_limits<std::int32_t>::min()); }},
      {"double_fraction", [] { return value(1.5); }},
      {"double_beyond_int32", [] { return value(2147483648.0); }},
      {"double_negative_zero", [] { return value(-0.0); }},
      {"double_nan", [] { return value(nan); }},
      {"double_infinity", [] { return value(infinity); }},
      {"double_negative_infinity", [] { return value(-infinity); }},
      {"double_max", [] { return value(std::numeric_limits<double>::max()); }},
      {"double_min", [] { return value(std::numeric_limits<double>::denorm_min()); }},
      {"bigint_zero", [] { return value(bigint()); }},
      {"bigint_one", [] { return value(bigint(1)); }},
      {"bigint_minus_one", [] { return value(bigint(-1)); }},
      {"bigint_2_64", [] { return value(bigint::from_magnitude(false, {0, 1})); }},
      {"bigint_above_2_64", [] { return value(bigint::parse("18446744073709551621")); }},
      {"bigint_negative_large",
       [] { return value(bigint::from_magnitude(true, {12345, std::uint64_t{1} << 36})); }},
      {"bigint_int64_min", [] { return value(bigint(std::numeric_limits<std::int64_t>::min())); }},
      {"string_empty", [] { return value(""); }},
      {"string_ascii", [] { return value("hello world"); }},
      {"string_latin1", [] { return value("caf\xc3\xa9 \xc3\xbf"); }},
      {"string_two_byte",
       [] {
         return value("a\xe2\x82\xac"
                      "b");
       }},
      {"string_emoji", [] { return value("I \xf0\x9f\x98\x80 you"); }},
      {"string_lone_high", [] { return value(std::u16string(u"\xd800")); }},
      {"string_lone_low", [] { return value(std::u16string(u"x\xdc00y")); }},
      {"string_reversed_pair", [] { return value(std::u16string(u"\xdc00\xd800")); }},
      {"string_cjk", [] { return value("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"); }},
      {"string_long",
       [] {
         std::string s;
         for (int i = 0; i < 100; ++i)
           s += "abc";
         return value(s);
       }},
      {"string_two_byte_padded", [] { return value::array({"x", "\xe2\x82\xac"}); }},
      {"object_empty", [] { return value::object(); }},
      {"object_simple",
       [] {
         return value::object({{"a", 1}, {"b", "x"}, {"c", true}, {"d", nullptr}, {"e", value()}});
       }},
      {"object_nested",
       [] {
         return value::object(
             {{"outer",
               value::object(
                   {{"inner",
                     value::object({{"deep", value::array({1, value::object({{"x", 2}})})}})}})}});
       }},
      {"object_integer_keys",
       [] { return value::object({{"b", 1}, {"2", "x"}, {"1", "y"}, {"a", 0}}); }},
      {"object_large_index_keys",
       [] {
         return value::object(
             {{"4294967294", 1}, {"4294967295", 2}, {"2147483648", 3}, {"2147483647", 4}});
       }},
      {"object_two_byte_key",
       [] { return value::object({{"\xe2\x82\xacuro", 1}, {"\xc3\x9f", 2}}); }},
      {"object_empty_key", [] { return value::object({{"", 1}}); }},
      {"object_negative_zero_value", [] { return value::object({{"z", -0.0}}); }},
      {"array_empty", [] { return value::array(); }},
      {"array_dense", [] { return value::array({1, "a", nullptr, true}); }},
      {"array_doubles", [] { return value::array({1.5, 2.0}); }},
      {"array_nested",
       [] { return value::array({value::array({1, 2}), value::array({3, value::array({4})})}); }},
      {"array_holey", [] { return sparse({{0, 1}, {2, 3}}); }},
      {"array_leading_holes", [] { return sparse({{2, "x"}}); }},
      {"array_sparse_far", [] { return sparse({{1000000, "far"}}); }},
      {"array_max_length",
       [] {
         value a = value::array();
         a.as_array().resize(4294967295u);
         return a;
       }},
      {"array_max_index", [] { return sparse({{4294967294u, "end"}}); }},
      {"array_with_undefined", [] { return value::array({value(), 1}); }},
      {"array_with_property",
       [] {
         value a = value::array({1, 2});
         a.as_array().properties()["tag"] = "t";
         return a;
       }},
      {"array_holey_with_property",
       [] {
         value a = sparse({{0, 1}, {2, 3}});
         a.as_array().properties()["tag"] = "t";
         return a;
       }},
      {"map_empty", [] { return value::map(); }},
      {"map_primitives", [] { return value::map({{1, "one"}, {"two", 2}, {nullptr, value()}}); }},
      {"map_object_keys",
       [] {
         value k = value::object({{"id", 1}});
         value l = value::array({1});
         return value::map({{k, "object"}, {l, k}});
       }},
      {"map_nan_key", [] { return value::map({{nan, "nan"}}); }},
      {"set_empty", [] { return value::set(); }},
      {"set_mixed", [] { return value::set({1, "a", bigint(2), nullptr}); }},
      {"set_objects",
       [] {
         value o = value::object();
         return value::set({o, value::array({o})});
       }},
      {"date_epoch", [] { return value::date(0.0); }},
      {"date_recent", [] { return value::date(1700000000123.0); }},
      {"date_negative", [] { return value::date(-86400001.0); }},
      {"date_invalid", [] { return value::date(nan); }},
      {"date_far", [] { return value::date(8.64e15); }},
      {"regexp_simple", [] { return value::regexp("ab+c"); }},
      {"regexp_all_flags", [] { return value::regexp("x", "dgimsuy"); }},
      {"regexp_unicode_sets", [] { return value::regexp("[\\p{L}--[a-z]]", "v"); }},
      {"regexp_escaped_slash", [] { return value::regexp("a\\/b"); }},
      {"regexp_two_byte", [] { return value::regexp("\xe2\x82\xac+", "u"); }},
      {"regexp_empty", [] { return value::regexp("(?:)"); }},
      {"array_buffer_empty", [] { return value::array_buffer({}); }},
      {"array_buffer", [] { return value::array_buffer(counting(16)); }},
      {"array_buffer_resizable",
       [] {
         value b = value::array_buffer({1, 2, 3, 4});
         b.as_array_buffer().max_byte_length = 16;
         return b;
       }},
      {"typed_int8",
       [] {
         return value::typed_array(typed_array_kind::int8, bytes_of<std::int8_t>({-128, 0, 127}));
       }},
      {"typed_uint8",
       [] {
         return value::typed_array(typed_array_kind::uint8, bytes_of<std::uint8_t>({0, 255}));
       }},
      {"typed_uint8_clamped",
       [] {
         return value::typed_array(typed_array_kind::uint8_clamped,
                                   bytes_of<std::uint8_t>({0, 128, 255}));
       }},
      {"typed_int16",
       [] {
         return value::typed_array(typed_array_kind::int16,
                                   bytes_of<std::int16_t>({-32768, 1, 32767}));
       }},
      {"typed_uint16",
       [] {
         return value::typed_array(typed_array_kind::uint16, bytes_of<std::uint16_t>({0, 65535}));
       }},
      {"typed_int32",
       [] {
         return value::typed_array(typed_array_kind::int32,
                                   bytes_of<std::int32_t>({std::numeric_limits<std::int32_t>::min(),
                                                           2147483647}));
       }},
      {"typed_uint32",
       [] {
         return value::typed_array(typed_array_kind::uint32,
                                   bytes_of<std::uint32_t>({0, 4294967295u}));
       }},
      {"typed_float32",
       [] {
         return value::typed_array(typed_array_kind::float32,
                                   bytes_of<float>({1.5f, -0.0f,
                                                    std::numeric_limits<float>::quiet_NaN()}));
       }},
      {"typed_float64",
       [] {
         return value::typed_array(typed_array_kind::float64,
                                   bytes_of<double>({3.141592653589793, -infinity}));
       }},
      {"typed_bigint64",
       [] {
         return value::typed_array(typed_array_kind::bigint64,
                                   bytes_of<std::int64_t>({-1, std::int64_t{1} << 62}));
       }},
      {"typed_biguint64",
       [] {
         return value::typed_array(typed_array_kind::biguint64,
                                   bytes_of<std::uint64_t>({~std::uint64_t{0}}));
       }},
      {"typed_empty", [] { return value::typed_array(typed_array_kind::float64, {}); }},
      {"typed_subview", [] { return value::typed_array(typed_array_kind::uint16, {3, 4, 5, 6}); }},
      {"data_view", [] { return value::typed_array(typed_array_kind::data_view, {1, 2, 3, 4}); }},
      {"buffer", [] { return value::buffer(std::vector<std::uint8_t>{1, 2, 3}); }},
      {"buffer_empty", [] { return value::buffer(std::vector<std::uint8_t>{}); }},
      {"buffer_text", [] { return value::buffer(std::string_view("hello")); }},
      {"error_plain", [] { return error_with("Error", "boom", "Error: boom\n    at test"); }},
      {"error_range",
       [] { return error_with("RangeError", "out of range", "RangeError: out of range"); }},
      {"error_with_cause",
       [] {
         value e = error_with("TypeError", "bad", "TypeError: bad");
         e.as_error().cause = value::object({{"code", 42}});
         return e;
       }},
      {"error_no_message", [] { return error_with("Error", std::nullopt, "Error"); }},
      {"error_kinds",
       [] {
         return value::array(
             {error_with("EvalError", "e", "E"), error_with("ReferenceError", "r", "R"),
              error_with("SyntaxError", "s", "S"), error_with("URIError", "u", "U")});
       }},
      {"circular_object",
       [] {
         value o = value::object({{"name", "root"}});
         o["self"] = value::weak_ref(o);
         return o;
       }},
      {"circular_array",
       [] {
         value a = value::array({1});
         a.push_back(value::weak_ref(a));
         return a;
       }},
      {"circular_nested",
       [] {
         value root = value::object({{"child", value::object()}});
         value child = root["child"];
         child["parent"] = value::weak_ref(root);
         child["list"] = value::array({value::weak_ref(root), value::weak_ref(child)});
         return root;
       }},
      {"shared_object",
       [] {
         value o = value::object({{"v", 1}});
         return value::object({{"x", o}, {"y", o}, {"z", value::array({o})}});
       }},
      {"circular_map",
       [] {
         value m = value::map();
         m.as_map().set("me", value::weak_ref(m));
         m.as_map().set(value::weak_ref(m), "key");
         return m;
       }},
      {"circular_set",
       [] {
         value s = value::set();
         s.as_set().add(value::weak_ref(s));
         return s;
       }},
      {"shared_date",
       [] {
         value d = value::date(1.0);
         return value::array({d, d});
       }},
      {"shared_buffer",
       [] {
         value b = value::buffer(std::vector<std::uint8_t>{9});
         return value::array({b, b});
       }},
      {"shared_regexp",
       [] {
         value r = value::regexp("r", "g");
         return value::object({{"a", r}, {"b", r}});
       }},
      {"internal_online",
       [] { return value::object({{"cmd", "NODE_CLUSTER"}, {"act", "online"}, {"seq", 0}}); }},
      {"internal_handle",
       [] {
         return value::object(
             {{"cmd", "NODE_HANDLE"},
              {"type", "net.Native"},
              {"msg", value::object(
                          {{"cmd", "NODE_CLUSTER"}, {"act", "newconn"}, {"key", 0}, {"seq", 3}})}});
       }},
      {"handle_envelope",
       [] {
         value inner = value::object({{"big", bigint::parse("12345678901234567890")}});
         inner["m"] = value::map();
         inner["m"].as_map().set(1, "a");
         inner["buf"] = value::buffer(std::vector<std::uint8_t>{1, 2});
         inner["self"] = value::weak_ref(inner);
         return value::object({{"cmd", "NODE_HANDLE"}, {"type", "net.Socket"}, {"msg", inner}});
       }},
      {"mixed_message",
       [] {
         return value::object({{"n", 1},
                               {"s", "str"},
                               {"big", bigint(10)},
                               {"date", value::date(5.0)},
                               {"re", value::regexp("x", "g")},
                               {"map", value::map({{"k", value::set({1})}})},
                               {"buf", value::buffer(std::string_view("ab"))},
                               {"nested", value::array({value::object(), value::array()})}});
       }},
      {"nested_deep_100",
       [] {
         value v = "bottom";
         for (int i = 0; i < 100; ++i)
           v = value::array({v});
         return v;
       }},
  };
  // Node 20 writes an Error whose cause refers back to it, and cannot read it.
  cases.push_back({"error_self_cause",
                   [] {
                     value e = error_with("Error", "self", "Error: self");
                     e.as_error().cause = value::weak_ref(e);
                     return e;
                   },
                   false, false, true});
  // Wrapper objects: Node writes them, cocluster reads their primitive values.
  cases.push_back({"wrapper_string", [] { return value("s"); }, false, false});
  cases.push_back({"wrapper_number", [] { return value(1.5); }, false, false});
  cases.push_back({"wrapper_boolean", [] { return value(true); }, false, false});
  cases.push_back({"wrapper_bigint", [] { return value(bigint(5)); }, false, false});
  cases.push_back({"wrappers_shared", [] { return value::array({"s", "s"}); }, false, false});
  return cases;
}

} // namespace

const std::vector<golden_case>& golden_cases() {
  static const std::vector<golden_case> cases = make_cases();
  return cases;
}

} // namespace sertest
