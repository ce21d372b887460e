// The `json` policy's fast reader and writer against nlohmann's own parser and serializer, which
// define what they must do: same values of the same types, same bytes, same refusals.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <cocluster.hpp>

namespace {

using nlohmann::json;

// Equal values with equal types all the way down (nlohmann's == says 1u == 1.0).
bool same(const json& a, const json& b) {
  if (a.type() != b.type())
    return false;
  if (a.is_array()) {
    if (a.size() != b.size())
      return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i]))
        return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size())
      return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !same(*it, *other))
        return false;
    }
    return true;
  }
  if (a.is_number_float()) {
    const double x = a.get<double>();
    const double y = b.get<double>();
    return (x == y && std::signbit(x) == std::signbit(y)) || (x != x && y != y);
  }
  return a == b;
}

enum class verdict { same_value, left_to_nlohmann, disagreement };

// The property: when the fast reader answers, nlohmann accepts the text and builds the same value.
verdict check_reader(std::string_view text) {
  json fast;
  const bool answered =
      cocluster::detail::json_fast_reader<json>(text, cocluster::json::max_depth).read(fast);
  json reference;
  bool accepted = true;
  try {
    reference = json::parse(text);
  } catch (const json::exception&) {
    accepted = false;
  }
  if (!answered)
    return verdict::left_to_nlohmann;
  return accepted && same(fast, reference) ? verdict::same_value : verdict::disagreement;
}

std::string fast_text(const json& value) {
  std::string out;
  REQUIRE(cocluster::detail::write_json_fast(value, out));
  return out;
}

// Random values over the cases that differ between writers: escapes, UTF-8, number kinds.
json random_value(std::mt19937_64& rng, int depth) {
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const auto random_string = [&] {
    static const std::vector<std::string> pieces = {"a",
                                                    "Z",
                                                    " ",
                                                    "\"",
                                                    "\\",
                                                    "/",
                                                    "\b",
                                                    "\f",
                                                    "\n",
                                                    "\r",
                                                    "\t",
                                                    std::string(1, '\0'),
                                                    "\x01",
                                                    "\x1f",
                                                    "\x7f",
                                                    "\xc3\xa9",
                                                    "\xe2\x82\xac",
                                                    "\xf0\x9f\x98\x80",
                                                    "\xed\x9f\xbf",
                                                    "\xef\xbf\xbf",
                                                    "key",
                                                    "u00e9"};
    std::string s;
    for (int i = pick(6); i > 0; --i)
      s += pieces[static_cast<std::size_t>(pick(static_cast<int>(pieces.size())))];
    return s;
  };
  const int kind = depth > 3 ? pick(7) : pick(9);
  switch (kind) {
  case 0: return nullptr;
  case 1: return pick(2) == 0;
  case 2: return static_cast<std::int64_t>(rng()) >> pick(64);
  case 3: return static_cast<std::uint64_t>(rng() >> pick(64));
  case 4: {
    static const std::vector<double> specials = {0.0,       -0.0,         0.1,
                                                 1.5,       100.0,        1e21,
                                                 1e-7,      5e-324,       1.7976931348623157e308,
                                                 -2.5e-300, 123456789.125};
    if (pick(2) == 0)
      return specials[static_cast<std::size_t>(pick(static_cast<int>(specials.size())))];
    std::uniform_real_distribution<double> mantissa(-10.0, 10.0);
    return std::ldexp(mantissa(rng), pick(200) - 100);
  }
  case 5:
  case 6: return random_string();
  case 7: {
    json a = json::array();
    for (int i = pick(5); i > 0; --i)
      a.push_back(random_value(rng, depth + 1));
    return a;
  }
  default: {
    json o = json::object();
    for (int i = pick(5); i > 0; --i)
      o[random_string()] = random_value(rng, depth + 1);
    return o;
  }
  }
}

} // namespace

TEST_CASE("The fast JSON reader builds what nlohmann builds, or leaves the text to it") {
  const std::vector<std::string> answered = {
      R"({"type":"ping","id":12345,"name":"worker-1","tags":["a","b","c"],"ok":true})",
      "0",
      "-0",
      "1",
      "-1",
      "18446744073709551615",
      "-9223372036854775808",
      "true",
      "false",
      "null",
      R"("")",
      R"("\"\\\/\b\f\n\r\t")",
      R"("\u00e9\u20AC\ud83d\ude00\u0000")",
      "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
      " \t\r\n[ 1 , { \"a\" : [ ] } ] \r",
      R"({"a":1,"a":2})",
      R"({"b":1,"a":2,"b":3,"c":4,"a":5})",
      R"({"a":1,"\u0061":2})",
      R"({"\u0062":1,"a":2,"b":3})",
      R"({"b":{},"a":[[],{}]})",
      R"([1,2,3,[4,[5,[6]]]])",
  };
  for (const auto& text : answered) {
    CAPTURE(text);
    CHECK(check_reader(text) == verdict::same_value);
  }
  // Numbers with a fraction or an exponent: the fast reader's where the standard library has a
  // floating-point std::from_chars (libstdc++), nlohmann's where it has not (libc++ 19).
  const std::vector<std::string> floats = {"1.5",
                                           "-0.0",
                                           "1e5",
                                           "1E+5",
                                           "2.5e-3",
                                           "5e-324",
                                           "1.7976931348623157e308",
                                           "0.1",
                                           "[0.5,{\"a\":-2e3}]"};
  const auto expected = cocluster::detail::from_chars_parses_floats<double>
                            ? verdict::same_value
                            : verdict::left_to_nlohmann;
  for (const auto& text : floats) {
    CAPTURE(text);
    CHECK(check_reader(text) == expected);
  }
}

TEST_CASE("The fast JSON reader refuses what nlohmann refuses and leaves odd numbers to it") {
  const std::vector<std::string> left = {
      "",
      " ",
      "[",
      "]",
      "{",
      R"({"a")",
      R"({"a":})",
      R"({"a":1,})",
      "[1,]",
      "[1 2]",
      "01",
      "1.",
      ".5",
      "-",
      "+1",
      "1e",
      "1e+",
      "0x10",
      "NaN",
      "Infinity",
      "tru",
      "nul",
      "truex",
      R"("abc)",
      "\"a\x01\"",
      R"("\x")",
      R"("\u12")",
      R"("\ud800")",
      R"("\udc00")",
      R"("\ud800\u0041")",
      "\"\xc3\"",
      "\"\xc0\x80\"",
      "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "\"\xff\"",
      "1 2",
      "[1]x",
      "18446744073709551616",
      "-9223372036854775809",
      "1e400",
      "1e-400",
      "{'a':1}",
      "[1,/*c*/2]",
      std::string(200, '[') + std::string(200, ']'),
  };
  for (const auto& text : left) {
    CAPTURE(text);
    CHECK(check_reader(text) == verdict::left_to_nlohmann);
  }
}

TEST_CASE("The fast JSON reader agrees with nlohmann on random values and on mangled text") {
  std::mt19937_64 rng(20261122);
  int answered = 0;
  for (int round = 0; round < 3000; ++round) {
    const std::string text = random_value(rng, 0).dump();
    CAPTURE(text);
    const auto clean = check_reader(text);
    CHECK(clean != verdict::disagreement);
    answered += clean == verdict::same_value;
    // Truncated, a byte changed, a byte inserted: wrong or not, the reader must not disagree.
    std::string mangled = text;
    switch (rng() % 3) {
    case 0: mangled.resize(rng() % (text.size() + 1)); break;
    case 1: mangled[rng() % text.size()] = static_cast<char>(rng()); break;
    default: mangled.insert(rng() % (text.size() + 1), 1, "\",:[]{}\\u0e-.9 \x80\xc3"[rng() % 18]);
    }
    CAPTURE(mangled);
    CHECK(check_reader(mangled) != verdict::disagreement);
  }
  // What nlohmann writes, the fast reader takes; a sixth of the values hold a double, which
  // needs a floating-point std::from_chars.
  CHECK(answered > (cocluster::detail::from_chars_parses_floats<double> ? 2900 : 2000));
}

TEST_CASE("The fast JSON writer writes the bytes nlohmann's dump writes") {
  std::mt19937_64 rng(112026);
  for (int round = 0; round < 3000; ++round) {
    const json value = random_value(rng, 0);
    const std::string expected = value.dump();
    CAPTURE(expected);
    CHECK(fast_text(value) == expected);
    const nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(expected);
    CHECK(fast_text(ordered) == ordered.dump());
  }
  CHECK(fast_text(json(std::numeric_limits<double>::infinity())) == "null");
  CHECK(fast_text(json(std::nan(""))) == "null");
}

TEST_CASE("The fast JSON writer leaves invalid UTF-8 and binary values to nlohmann") {
  // What the output held before is left as it was.
  std::string out = "kept";
  CHECK_FALSE(cocluster::detail::write_json_fast(json("\xc3"), out));
  CHECK(out == "kept");
  CHECK_FALSE(cocluster::detail::write_json_fast(json{{"\xff", 1}}, out));
  CHECK(out == "kept");
  CHECK_FALSE(
      cocluster::detail::write_json_fast(json{{"a", json::array({1, json::binary({1, 2})})}}, out));
  CHECK(out == "kept");
  CHECK_FALSE(cocluster::detail::write_json_fast(json::binary({1, 2}), out));
  CHECK(out == "kept");
  // Through the policy, the same values are refused with nlohmann's reason or written its way.
  std::string refused;
  CHECK_THROWS_WITH_AS(cocluster::json::encode(json("\xc3"), refused), doctest::Contains("UTF-8"),
                       std::system_error);
  std::string frame;
  cocluster::json::encode(json::binary({1, 2}), frame);
  CHECK(frame == json::binary({1, 2}).dump());
}

TEST_CASE("JSON text nested to the depth limit parses and one level more is refused") {
  const auto nested = [](std::size_t levels, char open, char close) {
    return std::string(levels, open) + std::string(levels, close);
  };
  const std::size_t limit = cocluster::json::max_depth;
  // Too deep for the fast reader too: nlohmann's parser, with the bound, decides these.
  CHECK(cocluster::json::decode(nested(limit, '[', ']')).is_array());
  CHECK_THROWS_WITH_AS(cocluster::json::decode(nested(limit + 1, '[', ']')),
                       doctest::Contains("nesting deeper than 1000"), std::system_error);
  std::string objects;
  for (std::size_t i = 0; i < limit; ++i)
    objects += "{\"k\":";
  objects += "1" + std::string(limit, '}');
  CHECK(cocluster::json::decode(objects).is_object());
  CHECK_THROWS_WITH_AS(cocluster::json::decode("[" + objects + "]"),
                       doctest::Contains("nesting deeper than 1000"), std::system_error);
  // Malformed text past the bound is still nlohmann's error, not the nesting one.
  CHECK_THROWS_WITH_AS(cocluster::json::decode(nested(10, '[', ']') + "x"),
                       doctest::Contains("parse error"), std::system_error);
}
