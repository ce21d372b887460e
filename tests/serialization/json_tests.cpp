// Conversions between cocluster::value and nlohmann::json, and the policy's JSON entry points
// (internal messages).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include <cocluster/serialization/json.hpp>

#include "support.hpp"

using namespace sertest;
using cocluster::js::bigint;
using cocluster::js::typed_array_kind;
using nlohmann::json;

namespace {

// The number of JSON values in `j`, itself included.
std::size_t json_value_count(const json& j) {
  std::size_t count = 1;
  if (j.is_structured())
    for (const auto& item : j)
      count += json_value_count(item);
  return count;
}

} // namespace

TEST_CASE("JSON documents become values of the same shape, with keys in JavaScript order") {
  const json j = json::parse(R"({"b": [1, 2.5, "x", null, true], "2": {}, "1": -3000000000})");
  const value v = value::from_json(j);
  CHECK(v == value::object({{"1", -3000000000.0},
                            {"2", value::object()},
                            {"b", value::array({1, 2.5, "x", nullptr, true})}}));
  CHECK(v["b"][std::size_t{0}].is_int32());
  CHECK(v["1"].is_double());
  CHECK(value::from_json(json(3.0)).is_int32()); // what JSON.parse gives V8
  CHECK(value::from_json(json(-0.0)).is_double());
  CHECK(value::from_json(json::binary({1, 2})) == value::buffer(std::vector<std::uint8_t>{1, 2}));
  const value implicit = json{{"k", 1}};
  CHECK(implicit["k"] == value(1));
}

TEST_CASE("JSON-shaped values become the same JSON") {
  const value v = value::object(
      {{"s", "text"}, {"n", 1}, {"d", 1.5}, {"a", value::array({true, nullptr})}});
  CHECK(v.to_json() == json::parse(R"({"s": "text", "n": 1, "d": 1.5, "a": [true, null]})"));
  const auto ordered = v.to_json<nlohmann::ordered_json>();
  CHECK(ordered.begin().key() == "s");
  json converted = v;
  CHECK(converted["n"] == 1);
}

TEST_CASE("Non-JSON kinds map to JSON as documented") {
  value v = value::object();
  v["undefined"] = value();
  v["nan"] = std::numeric_limits<double>::quiet_NaN();
  v["integral"] = 4.0;
  v["negative_zero"] = -0.0;
  v["small_bigint"] = bigint(-5);
  v["big_bigint"] = bigint::parse("123456789012345678901234567890");
  v["lone"] = value(std::u16string(u"a\xd800"));
  v["holes"] = value::array({1, value::hole(), 3});
  v["map"] = value::map({{1, "one"}});
  v["set"] = value::set({"a"});
  v["date"] = value::date(0.0);
  v["bad_date"] = value::date(std::numeric_limits<double>::quiet_NaN());
  v["regexp"] = value::regexp("a+", "g");
  v["buffer"] = value::buffer(std::string_view("\x01\x02"));
  v["u16"] = value::typed_array(typed_array_kind::uint16, {1, 0, 2, 0});
  v["ab"] = value::array_buffer({7});
  v["error"] = value::error("boom", "TypeError");
  const json j = v.to_json();
  CHECK(!j.contains("undefined"));
  CHECK(j["nan"].is_null());
  CHECK(j["integral"].is_number_integer());
  CHECK(j["negative_zero"].is_number_float());
  CHECK(j["small_bigint"] == -5);
  CHECK(j["big_bigint"] == "123456789012345678901234567890");
  CHECK(j["lone"] == "a\xef\xbf\xbd");
  CHECK(j["holes"] == json::parse("[1, null, 3]"));
  CHECK(j["map"] == json::parse(R"([[1, "one"]])"));
  CHECK(j["set"] == json::parse(R"(["a"])"));
  CHECK(j["date"] == "1970-01-01T00:00:00.000Z");
  CHECK(j["bad_date"].is_null());
  CHECK(j["regexp"] == json::parse(R"({"source": "a+", "flags": "g"})"));
  CHECK(j["buffer"] == json::parse(R"({"type": "Buffer", "data": [1, 2]})"));
  CHECK(j["u16"] == json::parse("[1, 2]"));
  CHECK(j["ab"] == json::parse(R"({"type": "ArrayBuffer", "data": [7]})"));
  CHECK(j["error"] == json::parse(R"({"name": "TypeError", "message": "boom"})"));
}

TEST_CASE("Cycles become null in JSON and very sparse arrays become objects") {
  value o = value::object({{"name", "root"}});
  o["self"] = value::weak_ref(o);
  CHECK(o.to_json() == json::parse(R"({"name": "root", "self": null})"));
  value sparse = value::array();
  sparse[4294967294u] = 1;
  const json j = sparse.to_json();
  CHECK(j == json::parse(R"({"4294967294": 1})"));
}

TEST_CASE("Shared nodes are copied into JSON within a budget, so repeats cannot explode") {
  // 64 levels of [x, x]: 2^64 leaves if every repeat were copied.
  value v = "leaf";
  for (int i = 0; i < 64; ++i)
    v = value::array({v, v});
  const json j = v.to_json(); // were repeats copied in full, this would not end (the test's limit)
  CHECK(j.is_array());
  CHECK(j.size() == 2);
  // What was built is bounded by the repeat budget (about 2^20 values, after the first
  // occurrences), and the budget was spent on copies before repeats became null.
  const std::size_t built = json_value_count(j);
  MESSAGE(built, " JSON values built");
  CHECK(built <= (std::size_t{1} << 21));
  CHECK(built >= (std::size_t{1} << 19));
  // The first occurrence of every node is converted in full.
  const json* first = &j;
  for (int i = 0; i < 64; ++i)
    first = &(*first)[0];
  CHECK(*first == "leaf");
  // A modest repeat is copied, not dropped.
  const value small = value::array({value::array({1}), value::array({1})});
  value twice = value::array({1});
  CHECK(value::array({twice, twice}).to_json() == json::parse("[[1], [1]]"));
  CHECK(small.to_json() == json::parse("[[1], [1]]"));
}

TEST_CASE("Internal messages are taken out as JSON, user messages are left alone") {
  value internal = value::object({{"cmd", "NODE_CLUSTER"}, {"act", "online"}, {"seq", 0}});
  const auto taken = advanced::take_internal(internal);
  REQUIRE(taken);
  CHECK(*taken == json::parse(R"({"cmd": "NODE_CLUSTER", "act": "online", "seq": 0})"));
  for (value user : {value::object({{"cmd", "NODE_"}}), value::object({{"cmd", "HELLO_WORLD"}}),
                     value::object({{"cmd", 5}}), value::array({"NODE_CLUSTER"}), value("NODE_X"),
                     value::object({{"command", "NODE_CLUSTER"}})}) {
    const value before = user;
    CHECK_FALSE(advanced::take_internal(user));
    CHECK(user == before);
  }
}

TEST_CASE("Internal messages decoded from Node are taken out as JSON") {
  value decoded = advanced::decode(golden_vectors().at("internal_handle"));
  const auto taken = advanced::take_internal(decoded);
  REQUIRE(taken);
  CHECK((*taken)["msg"]["act"] == "newconn");
  CHECK((*taken)["type"] == "net.Native");
}

TEST_CASE("Internal messages are written from JSON in their key order, as Node writes them") {
  nlohmann::ordered_json handle;
  handle["cmd"] = "NODE_HANDLE";
  handle["type"] = "net.Native";
  handle["msg"] = {{"cmd", "NODE_CLUSTER"}, {"act", "newconn"}, {"key", 0}, {"seq", 3}};
  std::string out = "prefix";
  advanced::encode_internal(handle, out);
  CHECK(out.substr(0, 6) == "prefix");
  CHECK(hex(out.substr(6)) == hex(golden_vectors().at("internal_handle")));
  // Key order is kept, numbers are written as JSON.parse leaves them in V8.
  nlohmann::ordered_json odd;
  odd["z"] = 1.0;
  odd["a"] = 4294967296;
  odd["m"] = json::array({-0.0, 0.5});
  std::string bytes;
  advanced::encode_internal(odd, bytes);
  const value v = advanced::decode(bytes);
  CHECK(v.as_object().begin()->first == "z");
  CHECK(v["z"].is_int32());
  CHECK(v["a"].is_double());
  CHECK(std::signbit(v["m"][std::size_t{0}].as_double()));
}

TEST_CASE("Internal messages that cannot be encoded leave the output unchanged") {
  nlohmann::ordered_json bad = {{"cmd", "NODE_X"}, {"text", std::string("\xff")}};
  std::string out = "kept";
  CHECK_THROWS_AS(advanced::encode_internal(bad, out), std::system_error);
  CHECK(out == "kept");
}

TEST_CASE("An envelope's payload is taken whole and written back byte for byte as Node writes it") {
  value decoded = advanced::decode(golden_vectors().at("handle_envelope"));
  const auto payload = advanced::take_payload(decoded);
  REQUIRE(payload);
  CHECK((*payload)["big"].is_bigint()); // not flattened to JSON
  CHECK((*payload)["m"].is_map());
  CHECK(decoded.find("msg") == nullptr); // taken out of the envelope
  const auto head = advanced::take_internal(decoded);
  REQUIRE(head);
  CHECK(*head == json::parse(R"({"cmd": "NODE_HANDLE", "type": "net.Socket"})"));
  nlohmann::ordered_json envelope;
  envelope["cmd"] = "NODE_HANDLE";
  envelope["type"] = "net.Socket";
  std::string out = "prefix";
  advanced::encode_envelope(envelope, *payload, out);
  CHECK(out.substr(0, 6) == "prefix");
  // The payload's reference to itself is object 1: the envelope is object 0.
  CHECK(hex(out.substr(6)) == hex(golden_vectors().at("handle_envelope")));
}

TEST_CASE("A user message that merely has a msg field keeps it") {
  value user = value::object({{"cmd", "HELLO"}, {"msg", 1}});
  CHECK_FALSE(advanced::take_payload(user));
  CHECK(user["msg"] == value(1));
  json plain = {{"msg", 1}};
  CHECK_FALSE(cocluster::json::take_payload(plain));
  CHECK(plain == json{{"msg", 1}});
}

TEST_CASE("A json envelope is Node's NODE_HANDLE line with msg last") {
  nlohmann::ordered_json head;
  head["cmd"] = "NODE_HANDLE";
  head["type"] = "net.Server";
  std::string out;
  cocluster::json::encode_envelope(head, json{{"a", 1}}, out);
  CHECK(out == R"({"cmd":"NODE_HANDLE","type":"net.Server","msg":{"a":1}})");
  json decoded = json::parse(out);
  const auto payload = cocluster::json::take_payload(decoded);
  REQUIRE(payload);
  CHECK(*payload == json{{"a", 1}});
  CHECK(decoded == json{{"cmd", "NODE_HANDLE"}, {"type", "net.Server"}});
  std::string kept = "kept";
  CHECK_THROWS_AS(cocluster::json::encode_envelope(head, json(std::string("\xff")), kept),
                  std::system_error);
  CHECK(kept == "kept");
}

TEST_CASE("A NODE_HANDLE payload arrives through from_json as a value") {
  const value v = advanced::from_json(json::parse(R"({"hello": [1, "x"]})"));
  CHECK(v == value::object({{"hello", value::array({1, "x"})}}));
}

TEST_CASE("JSON nested beyond the limit is refused") {
  json deep = 1;
  for (std::size_t i = 0; i <= advanced::max_depth; ++i)
    deep = json::array({deep});
  CHECK_THROWS_AS(value::from_json(deep), cocluster::value_error);
}

TEST_CASE("The policy names its mode and framing as Node does") {
  CHECK(advanced::mode_name == "advanced");
  CHECK(advanced::frame_format == cocluster::framing::length_prefixed);
  CHECK(cocluster::serialization_policy<advanced>);
}
