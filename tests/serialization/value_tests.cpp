// cocluster::value as a C++ type: construction, access, sharing, equality, conversions.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "allocation_probe.hpp"
#include "support.hpp"

using namespace sertest;
using cocluster::value_error;
using cocluster::value_kind;
using cocluster::js::bigint;
using cocluster::js::typed_array_kind;

namespace demo {

struct point {
  int x = 0;
  int y = 0;
};

void to_value(cocluster::value& v, const point& p) { v = {{"x", p.x}, {"y", p.y}}; }
void from_value(const cocluster::value& v, point& p) {
  p.x = v["x"].get<int>();
  p.y = v["y"].get<int>();
}

// A type that only nlohmann::json knows.
struct legacy {
  std::string name;
  int count = 0;
};

void to_json(nlohmann::json& j, const legacy& l) { j = {{"name", l.name}, {"count", l.count}}; }
void from_json(const nlohmann::json& j, legacy& l) {
  l.name = j.at("name").get<std::string>();
  l.count = j.at("count").get<int>();
}

} // namespace demo

TEST_CASE("Braced lists become objects or arrays with nlohmann::json's rule") {
  const value object = {{"cmd", "hi"}, {"n", 1}};
  CHECK(object.is_object());
  CHECK(object["cmd"] == value("hi"));
  const value array = {1, 2, 3};
  CHECK(array.is_array());
  CHECK(array.size() == 3);
  const value pairs = value::array({value::array({"a", 1})});
  CHECK(pairs.is_array());
  CHECK(pairs[std::size_t{0}].is_array());
}

TEST_CASE("Integers become int32 numbers when they fit and doubles otherwise") {
  CHECK(value(7).is_int32());
  CHECK(value(std::int64_t{1} << 40).is_double());
  CHECK(value(std::uint32_t{0xFFFFFFFFu}).is_double());
  CHECK(value(std::uint8_t{200}).as_int32() == 200);
  CHECK(value(1.0).is_double());
  CHECK(value(1.0) == value(1)); // the same JavaScript number
  CHECK(value(-0.0) != value(0));
  CHECK(value(std::numeric_limits<double>::quiet_NaN()) ==
        value(std::numeric_limits<double>::quiet_NaN()));
}

TEST_CASE("Pointers do not become booleans, and a null C string is null") {
  const char* text = "abc";
  CHECK(value(text).is_string());
  const char* none = nullptr;
  CHECK(value(none).is_null());
  CHECK(value(true).is_boolean());
}

TEST_CASE("Object keys keep JavaScript order: array indices first, ascending, then insertion") {
  value o = value::object();
  o["b"] = 1;
  o["10"] = 2;
  o["a"] = 3;
  o["2"] = 4;
  o["01"] = 5; // not a canonical index
  std::vector<std::string> keys;
  for (const auto& [key, item] : o.as_object())
    keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"2", "10", "b", "a", "01"});
  CHECK(o.as_object().erase("a"));
  CHECK(!o.contains("a"));
  CHECK_THROWS_AS(o.as_object().at("a"), value_error);
}

TEST_CASE("Array holes are distinct from undefined and read as holes") {
  value a = value::array({value(), 1});
  a[3] = "x";
  CHECK(a.size() == 4);
  CHECK(a[std::size_t{0}].is_undefined());
  CHECK(std::as_const(a)[std::size_t{2}].is_hole());
  CHECK(!a.as_array().has(2));
  CHECK(a.as_array().has(0));
  CHECK(a.as_array().count() == 3);
  CHECK(!a.as_array().is_dense());
  a.as_array().resize(2);
  CHECK(a.size() == 2);
  CHECK(a.as_array().is_dense());
  a.as_array().resize(3);
  CHECK(!a.as_array().has(2));
  CHECK(a[std::size_t{2}].is_undefined()); // non-const access makes the element present
  CHECK(a.as_array().has(2));
}

TEST_CASE("Writing far past the end of an array stores one element, not the holes") {
  value a = value::array();
  a[4000000000u] = 1;
  CHECK(a.size() == 4000000001u);
  CHECK(a.as_array().count() == 1);
  a.push_back(2);
  CHECK(a.size() == 4000000002u);
  CHECK_THROWS_AS(a[std::size_t{0xFFFFFFFFu}], value_error);
  std::vector<std::size_t> indices;
  a.as_array().for_each([&](std::size_t index, const value&) { indices.push_back(index); });
  CHECK(indices == std::vector<std::size_t>{4000000000u, 4000000001u});
}

TEST_CASE("Copies share nodes as JavaScript references do; clone copies the graph") {
  value a = value::object({{"n", 1}});
  value b = a;
  b["n"] = 2;
  CHECK(a["n"] == value(2));
  CHECK(same_value_zero(a, b));
  value shared = value::object();
  value holder = value::array({shared, shared});
  value copy = holder.clone();
  CHECK(copy == holder);
  CHECK(!same_value_zero(copy[std::size_t{0}], holder[std::size_t{0}]));
  CHECK(same_value_zero(copy[std::size_t{0}], copy[std::size_t{1}])); // sharing kept
  copy[std::size_t{0}]["x"] = 1;
  CHECK(!holder[std::size_t{0}].contains("x"));
}

TEST_CASE("Equal cyclic graphs compare equal and different ones do not") {
  const auto make = [](int tag) {
    value o = value::object({{"tag", tag}});
    o["self"] = value::weak_ref(o);
    o["list"] = value::array({value::weak_ref(o), 1});
    return o;
  };
  CHECK(make(1) == make(1));
  CHECK(make(1) != make(2));
  CHECK(value::map({{1, 2}}) != value::map({{2, 1}}));
  CHECK(value::set({1, 2}) != value::set({2, 1})); // entries compare in order
  CHECK(value::buffer(std::string_view("a")) != value::typed_array(typed_array_kind::uint8, {'a'}));
}

TEST_CASE("A weak reference reads as its target, and as undefined once the target is freed") {
  value weak;
  {
    value target = value::object({{"k", 1}});
    weak = value::weak_ref(target);
    CHECK(weak.is_object());
    CHECK(weak["k"] == value(1));
    CHECK(weak.strong().is_object());
    CHECK(!weak.strong().is_weak());
  }
  CHECK(weak.is_weak());
  CHECK(weak.is_undefined());
  CHECK(weak.strong().is_undefined());
  CHECK_THROWS_AS(value::weak_ref(value(1)), value_error);
}

TEST_CASE("Circular graphs built with weak back-references are freed with their owner") {
  value root_observer;
  value child_observer;
  {
    value o = value::object();
    o["self"] = value::weak_ref(o);
    o["child"] = value::object({{"parent", value::weak_ref(o)}});
    root_observer = value::weak_ref(o);
    child_observer = value::weak_ref(o["child"]);
    CHECK(root_observer.is_object());
    CHECK(child_observer["parent"].is_object());
  }
  CHECK(root_observer.is_undefined()); // a strong cycle would have kept both alive
  CHECK(child_observer.is_undefined());
}

TEST_CASE("Decoded cycles hold their back-references weakly and are freed with the value") {
  value root_observer;
  value map_observer;
  {
    const value root = advanced::decode(golden_vectors().at("circular_nested"));
    CHECK(root["child"]["parent"].is_weak());
    CHECK(!root["child"].is_weak());
    root_observer = value::weak_ref(root);
    const value m = advanced::decode(golden_vectors().at("circular_map"));
    map_observer = value::weak_ref(m);
    CHECK(map_observer.is_map());
  }
  CHECK(root_observer.is_undefined());
  CHECK(map_observer.is_undefined());
}

TEST_CASE("Maps and Sets find keys with SameValueZero: objects by identity, NaN equal, -0 is 0") {
  value key = value::object();
  value m = value::map();
  m.as_map().set(key, "object");
  m.as_map().set(std::numeric_limits<double>::quiet_NaN(), "nan");
  m.as_map().set(-0.0, "zero");
  CHECK(m.as_map().find(key) != nullptr);
  CHECK(m.as_map().find(value::object()) == nullptr);
  CHECK(*m.as_map().find(std::numeric_limits<double>::quiet_NaN()) == value("nan"));
  CHECK(*m.as_map().find(0) == value("zero"));
  m.as_map().set(0, "replaced");
  CHECK(m.size() == 3);
  CHECK(!std::signbit(m.as_map().begin()[2].first.as_number())); // -0 is stored as +0
  CHECK(!std::signbit(value::set({-0.0}).as_set().begin()->as_number()));
  value s = value::set({1, 1.0, "1"});
  CHECK(s.size() == 2);
}

TEST_CASE("Wrong-kind access throws value_error") {
  const value n = 1;
  CHECK_THROWS_AS(n.as_string(), value_error);
  CHECK_THROWS_AS(n.as_object(), value_error);
  CHECK_THROWS_AS(n.as_double(), value_error);
  CHECK(n.as_number() == 1.0);
  value s = "text";
  CHECK_THROWS_AS(s["key"], value_error);
  CHECK(std::as_const(s)["key"].is_undefined());
}

TEST_CASE("Strings keep lone surrogates and convert to and from UTF-16") {
  const std::u16string text = u"a\xd800"
                              u"b\xdc00\xd83d\xde00";
  const value v(text);
  CHECK(v.as_utf16() == text);
  CHECK(v.as_string() == "a\xed\xa0\x80"
                         "b\xed\xb0\x80\xf0\x9f\x98\x80");
  CHECK(advanced::decode(encode(v)).as_utf16() == text);
}

TEST_CASE("Strings that are not UTF-8 cannot be encoded") {
  std::string out = "unchanged";
  try {
    advanced::encode(value(std::string("\xff")), out);
    FAIL("encoded invalid UTF-8");
  } catch (const std::system_error& e) {
    CHECK(e.code() == cocluster::errc::unencodable_value);
    CHECK(std::string(e.what()).find("not valid UTF-8") != std::string::npos);
  }
  CHECK(out == "unchanged");
}

TEST_CASE("Values the encoder refuses are refused with unencodable_value and no output") {
  const std::vector<value> refused = {
      value::hole(),
      value::typed_array(typed_array_kind::int16, {1, 2, 3}),
      value::regexp("a", "gg"),
      value::regexp("a", "x"),
      value::regexp("a", "uv"),
      [] {
        value a = value::array({1});
        a.as_array().properties()["0"] = 2;
        return a;
      }(),
      [] {
        value a = value::array({1});
        a.as_array().properties()["length"] = 2;
        return a;
      }(),
      [] {
        value b = value::array_buffer({1, 2, 3});
        b.as_array_buffer().max_byte_length = 2;
        return b;
      }(),
      [] {
        value v = 0;
        for (std::size_t i = 0; i <= advanced::max_depth; ++i)
          v = value::array({v});
        return v;
      }(),
  };
  for (const auto& v : refused) {
    std::string out = "x";
    try {
      advanced::encode(v, out);
      FAIL_CHECK("encoded ", v.to_string().substr(0, 80));
    } catch (const std::system_error& e) {
      CHECK(e.code() == cocluster::errc::unencodable_value);
    }
    CHECK(out == "x");
  }
}

TEST_CASE("A value nested to the depth limit encodes, and decodes to the same value") {
  value v = 0;
  for (std::size_t i = 0; i < advanced::max_depth; ++i)
    v = value::array({v});
  std::string out;
  CHECK_NOTHROW(advanced::encode(v, out));
  CHECK(advanced::decode(out) == v);
}

TEST_CASE("A million-deep value is freed, copied, compared and printed without recursion") {
  value deep = 0;
  value innermost; // weak observers: undefined once their node is freed
  for (int i = 0; i < 1000000; ++i) {
    deep = value::array({deep});
    if (i == 0)
      innermost = value::weak_ref(deep);
  }
  const value outermost = value::weak_ref(deep);
  const value copy = deep.clone();
  CHECK(copy == deep);
  CHECK(deep.to_string().find("...") != std::string::npos);
  CHECK(deep.to_json().is_array());
  std::string out;
  CHECK_THROWS_AS(advanced::encode(deep, out), std::system_error);
  REQUIRE(innermost.is_array());
  deep = value();
  // Every level was freed, down to the innermost (a recursive teardown would have exhausted the
  // stack); the copy shares none of them.
  CHECK(outermost.is_undefined());
  CHECK(innermost.is_undefined());
  CHECK(copy.is_array());
}

TEST_CASE("to_string renders values in a JavaScript-like form") {
  value v = value::object({{"a", 1},
                           {"b", value::array({1.5, value::hole(), "x"})},
                           {"m", value::map({{1, value()}})},
                           {"d", value::date(0.0)},
                           {"r", value::regexp("a+", "g")},
                           {"buf", value::buffer(std::string_view("\x01\x02"))},
                           {"big", bigint(-5)},
                           {"z", -0.0}});
  v["self"] = value::weak_ref(v);
  CHECK(v.to_string() ==
        "<ref *1> {\"a\": 1, \"b\": [1.5, <hole>, \"x\"], \"m\": Map(1) {1 => undefined}, "
        "\"d\": Date(1970-01-01T00:00:00.000Z), \"r\": /a+/g, \"buf\": Buffer(2) <01 02>, "
        "\"big\": -5n, \"z\": -0, \"self\": [Ref *1]}");
}

TEST_CASE("Dates are clipped as JavaScript clips them and convert to time points") {
  CHECK(value::date(1.9).as_date().time == 1.0);
  CHECK(std::isnan(value::date(8.64e15 + 1).as_date().time));
  const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now());
  const value d = value::date(now);
  CHECK(d.as_date().time_point() == now);
  CHECK(d.get<std::chrono::system_clock::time_point>() == now);
  CHECK(value::date(-1.0).as_date().iso_string() == "1969-12-31T23:59:59.999Z");
  CHECK(value::date(-62198755200000.0).as_date().iso_string() == "-000001-01-01T00:00:00.000Z");
}

TEST_CASE("BigInts parse and print in decimal and hexadecimal") {
  const bigint b = bigint::parse("-340282366920938463463374607431768211457");
  CHECK(b.is_negative());
  CHECK(b.magnitude().size() == 3);
  CHECK(b.to_string() == "-340282366920938463463374607431768211457");
  CHECK(bigint::parse("0xff").to_uint64() == 255u);
  CHECK(bigint::parse("-0").is_zero());
  CHECK(!bigint::parse("-0").is_negative());
  CHECK(bigint(-1).to_string(16) == "-0x1");
  CHECK(bigint(std::numeric_limits<std::int64_t>::min()).to_int64() ==
        std::numeric_limits<std::int64_t>::min());
  CHECK_THROWS_AS(bigint::parse("12a"), std::invalid_argument);
}

TEST_CASE("User types convert through to_value and from_value found by argument lookup") {
  const value v = demo::point{3, 4};
  CHECK(v == value::object({{"x", 3}, {"y", 4}}));
  const auto p = v.get<demo::point>();
  CHECK(p.x == 3);
  CHECK(p.y == 4);
  CHECK(advanced::to_value(demo::point{1, 2})["y"] == value(2));
  CHECK(advanced::from_value<demo::point>(v).x == 3);
  const value list = std::vector<demo::point>{{1, 2}, {3, 4}};
  CHECK(list.get<std::vector<demo::point>>()[1].y == 4);
}

TEST_CASE("Types with only nlohmann to_json and from_json convert through JSON") {
  const value v = demo::legacy{"n", 3};
  CHECK(v == value::object({{"count", 3}, {"name", "n"}}));
  const auto back = v.get<demo::legacy>();
  CHECK(back.name == "n");
  CHECK(back.count == 3);
  CHECK_THROWS_AS(value(1).get<demo::legacy>(), value_error);
}

TEST_CASE("Standard containers convert to arrays, objects, Maps, Sets and Buffers") {
  CHECK(value(std::vector<int>{1, 2}) == value::array({1, 2}));
  CHECK(value(std::map<std::string, int>{{"a", 1}}) == value::object({{"a", 1}}));
  CHECK(value(std::map<int, std::string>{{1, "a"}}) == value::map({{1, "a"}}));
  CHECK(value(std::set<int>{2, 1}) == value::set({1, 2}));
  CHECK(value(std::optional<int>()) == value(nullptr));
  CHECK(value(std::vector<std::byte>{std::byte{1}}) == value::buffer(std::vector<std::uint8_t>{1}));
  CHECK(value(std::pair<int, std::string>{1, "a"}) == value::array({1, "a"}));
  CHECK((value::map({{1, "a"}}).get<std::map<int, std::string>>() ==
         std::map<int, std::string>{{1, "a"}}));
  CHECK(value::set({1, 2}).get<std::set<int>>() == std::set<int>{1, 2});
  CHECK(value(nullptr).get<std::optional<int>>() == std::nullopt);
  CHECK(value::buffer(std::string_view("ab")).get<std::vector<std::byte>>().size() == 2);
  CHECK_THROWS_AS(value::array({1, value::hole()}).get<std::vector<int>>(), value_error);
}

TEST_CASE("Numbers convert to C++ integers only when integral and in range") {
  CHECK(value(300).get<int>() == 300);
  CHECK(value(3.0).get<int>() == 3);
  CHECK_THROWS_AS(value(300).get<std::uint8_t>(), value_error);
  CHECK_THROWS_AS(value(1.5).get<int>(), value_error);
  CHECK_THROWS_AS(value(-1).get<unsigned>(), value_error);
  CHECK_THROWS_AS(value("1").get<int>(), value_error);
  CHECK(value(bigint::parse("18446744073709551615")).get<std::uint64_t>() ==
        std::numeric_limits<std::uint64_t>::max());
  CHECK_THROWS_AS(value(bigint::parse("18446744073709551616")).get<std::uint64_t>(), value_error);
  CHECK(value(9007199254740992.0).get<std::int64_t>() == 9007199254740992);
  CHECK_THROWS_AS(value(9223372036854775808.0).get<std::int64_t>(), value_error);
  CHECK(value(1).get<double>() == 1.0);
  CHECK(value(true).get<bool>());
  CHECK_THROWS_AS(value(1).get<bool>(), value_error);
}

TEST_CASE(
    "A frame is appended after what the output holds, the same bytes wherever its room runs out") {
  // Many small writes around one large string and one large Buffer: the encoder makes room a
  // little at a time and appends large blocks directly, from any starting size and capacity.
  value v = value::array();
  for (int i = 0; i < 60; ++i)
    v.push_back(value{{"i", i}, {"s", std::string(static_cast<std::size_t>(i % 7), 'x')}});
  v.push_back(std::string(700, 'y'));
  v.push_back(value::buffer(std::vector<std::uint8_t>(300, 7)));
  v.push_back(value{{"after", true}});
  std::string alone;
  advanced::encode(v, alone);
  for (std::size_t prefix = 0; prefix < 600; prefix += 37) {
    for (const std::size_t spare :
         {std::size_t{0}, std::size_t{10}, std::size_t{300}, alone.size()}) {
      std::string out(prefix, 'p');
      out.reserve(prefix + spare);
      advanced::encode(v, out);
      CHECK(out.size() == prefix + alone.size());
      CHECK(out.compare(0, prefix, std::string(prefix, 'p')) == 0);
      CHECK(out.compare(prefix, std::string::npos, alone) == 0);
    }
  }
  CHECK(advanced::decode(alone) == v);
}

TEST_CASE("A large Buffer is copied once into the decoded value and once into the output") {
  const std::size_t size = std::size_t{8} << 20;
  const value buffer = value::buffer(std::vector<std::uint8_t>(size, 0x5a));
  std::string frame;
  frame.reserve(size + 64);
  {
    allocation_probe probe(size / 2);
    advanced::encode(buffer, frame);
    CHECK(probe.large_allocations() == 0); // straight into the reserved output
  }
  CHECK(frame.size() == size + 9);
  {
    allocation_probe probe(size / 2);
    const value decoded = advanced::decode(frame);
    CHECK(probe.large_allocations() == 1); // the Buffer's own bytes, nothing in between
    CHECK(decoded.as_typed_array().bytes.size() == size);
    CHECK(decoded.as_typed_array().bytes[size - 1] == 0x5a);
  }
}
