// Round-trip properties over generated values: encode then decode gives an equal value, encoding
// is stable, and Node reads our bytes back to the same value.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

using namespace sertest;
using cocluster::js::bigint;
using cocluster::js::typed_array_kind;

namespace {

// Generates random value graphs with every kind, shared nodes and cycles. Map keys and Set
// values are distinct under SameValueZero, as in any real Map or Set.
class value_generator {
public:
  explicit value_generator(std::uint64_t seed) : rng_(seed) {}

  value make() {
    open_.clear();
    done_.clear();
    return any(0);
  }

private:
  std::uint64_t next(std::uint64_t bound) { return rng_() % bound; }
  bool chance(unsigned percent) { return next(100) < percent; }

  std::string text() {
    std::u16string units;
    const std::size_t length = next(12);
    for (std::size_t i = 0; i < length; ++i) {
      switch (next(6)) {
      case 0: units.push_back(static_cast<char16_t>(0x20 + next(0x5F))); break;
      case 1: units.push_back(static_cast<char16_t>(0xA0 + next(0x60))); break;
      case 2: units.push_back(static_cast<char16_t>(0x100 + next(0xD700))); break;
      case 3: // a lone surrogate
        units.push_back(static_cast<char16_t>(0xD800 + next(0x800)));
        break;
      case 4: // a pair
        units.push_back(static_cast<char16_t>(0xD800 + next(0x400)));
        units.push_back(static_cast<char16_t>(0xDC00 + next(0x400)));
        break;
      default: units.push_back(static_cast<char16_t>('a' + next(26))); break;
      }
    }
    return value(units).as_string();
  }

  std::string key() {
    switch (next(4)) {
    case 0: return std::to_string(next(5));
    case 1: return std::to_string(next(0xFFFFFFFFull + 1));
    case 2: return text();
    default: return std::string(1, static_cast<char>('a' + next(26)));
    }
  }

  std::string name_key() {
    std::string k = key();
    return cocluster::detail::v8::is_array_index(k) || k == "length" ? "n" + k : k;
  }

  double number() {
    switch (next(6)) {
    case 0: return -0.0;
    case 1: return std::numeric_limits<double>::quiet_NaN();
    case 2: return std::numeric_limits<double>::infinity();
    case 3: return static_cast<double>(next(1000));
    default: {
      double d;
      const std::uint64_t bits = rng_();
      std::memcpy(&d, &bits, sizeof d);
      return std::isnan(d) ? 0.25 : d;
    }
    }
  }

  std::vector<std::uint8_t> bytes(std::size_t n) {
    std::vector<std::uint8_t> out(n);
    for (auto& b : out)
      b = static_cast<std::uint8_t>(rng_());
    return out;
  }

  value primitive() {
    switch (next(8)) {
    case 0: return value();
    case 1: return nullptr;
    case 2: return chance(50);
    case 3: return static_cast<std::int32_t>(static_cast<std::uint32_t>(rng_()));
    case 4: return number();
    case 5: {
      std::vector<std::uint64_t> limbs(next(4));
      for (auto& limb : limbs)
        limb = rng_();
      return bigint::from_magnitude(chance(50), limbs);
    }
    default: return text();
    }
  }

  // A node seen before: an ancestor (weakly, closing a cycle) or a finished node.
  std::optional<value> reuse() {
    if (!open_.empty() && chance(30))
      return value::weak_ref(open_[next(open_.size())]);
    if (!done_.empty())
      return done_[next(done_.size())];
    return std::nullopt;
  }

  value any(std::size_t depth) {
    if (depth > 4 || chance(45))
      return primitive();
    if (chance(12))
      if (auto again = reuse())
        return *again;
    value v;
    bool opened = true; // containers are ancestors of what they hold while being filled
    switch (next(11)) {
    case 0: {
      v = value::object();
      open_.push_back(v);
      for (std::size_t i = next(5); i > 0; --i)
        v.as_object().insert_or_assign(key(), any(depth + 1));
      break;
    }
    case 1: {
      v = value::array();
      open_.push_back(v);
      const std::size_t length = next(6);
      for (std::size_t i = 0; i < length; ++i)
        if (!chance(20))
          v[i] = any(depth + 1);
      if (chance(20))
        v[next(0xFFFFFFFFull)] = any(depth + 1);
      if (chance(20) && v.size() < 0xFFFFFFF0u)
        v.as_array().resize(v.size() + next(3));
      if (chance(20))
        v.as_array().properties()[name_key()] = any(depth + 1);
      break;
    }
    case 2: {
      v = value::map();
      open_.push_back(v);
      for (std::size_t i = next(4); i > 0; --i)
        v.as_map().set(any(depth + 1), any(depth + 1));
      break;
    }
    case 3: {
      v = value::set();
      open_.push_back(v);
      for (std::size_t i = next(4); i > 0; --i)
        v.as_set().add(any(depth + 1));
      break;
    }
    case 4:
      opened = false;
      v = value::date(chance(10) ? std::numeric_limits<double>::quiet_NaN()
                                 : static_cast<double>(rng_() % 100000000000000ull) - 5e13);
      break;
    case 5: {
      opened = false;
      static const char* patterns[] = {"a+", "(?:)", "[a-z]*", "\\/x", "\xe2\x82\xac+", "^$"};
      static const char* flags[] = {"", "g", "dgimsuy", "v", "iy"};
      v = value::regexp(patterns[next(6)], flags[next(5)]);
      break;
    }
    case 6: {
      opened = false;
      v = value::array_buffer(bytes(next(10)));
      if (chance(30))
        v.as_array_buffer().max_byte_length = static_cast<std::uint32_t>(v.size() + next(10));
      break;
    }
    case 7: {
      opened = false;
      const auto kind = static_cast<typed_array_kind>(next(13));
      v = value::typed_array(kind, bytes(next(4) * cocluster::js::element_size(kind)));
      break;
    }
    case 8: {
      opened = false;
      static const char* names[] = {"Error",       "EvalError", "RangeError", "ReferenceError",
                                    "SyntaxError", "TypeError", "URIError"};
      v = value::error(text(), names[next(7)]);
      if (chance(30))
        v.as_error().message.reset();
      if (chance(50))
        v.as_error().stack = text();
      if (chance(40))
        v.as_error().cause = any(depth + 1); // never a reference back to the Error itself
      break;
    }
    case 9:
      opened = false;
      v = value::buffer(bytes(next(6)));
      break;
    default: v = primitive(); return v;
    }
    if (opened)
      open_.pop_back();
    done_.push_back(v);
    return v;
  }

  std::mt19937_64 rng_;
  std::vector<value> open_;
  std::vector<value> done_;
};

} // namespace

TEST_CASE("Generated values round-trip through encode and decode, with stable bytes") {
  value_generator generate(7);
  int round_tripped = 0;
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    const value v = generate.make();
    std::string bytes;
    try {
      advanced::encode(v, bytes);
    } catch (const std::system_error& e) {
      // The generator may put a cause that refers back to its Error through a shared node: the
      // one refusal allowed.
      CHECK(e.code() == cocluster::errc::unencodable_value);
      CHECK_MESSAGE(std::string(e.what()).find("cause refers back") != std::string::npos, e.what());
      ++refused;
      continue;
    }
    REQUIRE(bytes.size() >= 3); // a header and a value
    const value back = advanced::decode(bytes);
    CHECK_MESSAGE(back == v, v.to_string(), " came back as ", back.to_string());
    CHECK(hex(encode(back)) == hex(bytes));
    CHECK(back.clone() == back);
    ++round_tripped;
  }
  // Nearly every value was encoded and came back: an encoder that refused them would pass the
  // loop above.
  MESSAGE(round_tripped, " round-tripped, ", refused, " refused");
  CHECK(round_tripped + refused == 3000);
  CHECK(refused <= 60);
}

TEST_CASE("Generated values survive a round trip through Node") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  value_generator generate(11);
  std::vector<value> sent;
  std::string input;
  for (int attempt = 0; attempt < 1000 && sent.size() < 400; ++attempt) {
    value v = generate.make();
    std::string bytes;
    try {
      advanced::encode(v, bytes);
    } catch (const std::system_error& e) {
      CHECK_MESSAGE(std::string(e.what()).find("cause refers back") != std::string::npos, e.what());
      continue;
    }
    input += "v" + std::to_string(sent.size()) + " " + hex(bytes) + "\n";
    sent.push_back(std::move(v));
  }
  REQUIRE(sent.size() == 400); // the encoder took nearly every generated value
  const node_run run = run_node_script(*node, "echo", input);
  REQUIRE(run.status == 0);
  std::istringstream lines(run.output);
  std::string name;
  std::string text;
  std::size_t index = 0;
  while (lines >> name >> text) {
    REQUIRE(index < sent.size());
    CHECK(name == "v" + std::to_string(index));
    if (text == "ERROR") {
      std::string rest;
      std::getline(lines, rest);
      FAIL_CHECK("Node could not read ", sent[index].to_string(), ": ", rest);
    } else {
      const value back = decode_hex(text);
      CHECK_MESSAGE(back == sent[index], sent[index].to_string(), " came back from Node as ",
                    back.to_string());
    }
    ++index;
  }
  CHECK(index == sent.size());
}
