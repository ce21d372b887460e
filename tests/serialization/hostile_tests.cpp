// Hostile input: every malformed frame is a clean std::system_error with
// errc::malformed_message naming an offset, never a crash, a huge allocation or deep recursion.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "allocation_probe.hpp"
#include "support.hpp"

using namespace sertest;
using cocluster::errc;

namespace {

const std::string header = unhex("ff0f");

// Decoding `bytes` fails with malformed_message and a message naming an offset.
void check_malformed(const std::string& bytes, const std::string& reason_part = {}) {
  const std::string message = decode_message(bytes);
  INFO("frame: ", hex(bytes), " message: ", message);
  CHECK(decode_error(bytes) == errc::malformed_message);
  CHECK(message.rfind("advanced: ", 0) == 0);
  CHECK(message.find(" at offset ") != std::string::npos);
  if (!reason_part.empty())
    CHECK(message.find(reason_part) != std::string::npos);
}

// Decodes `bytes` under an allocation probe; returns the largest allocation.
std::size_t largest_allocation_decoding(const std::string& bytes) {
  allocation_probe probe;
  (void)decode_error(bytes);
  return probe.largest();
}

// A varint.
std::string varint(std::uint64_t n) {
  std::string out;
  while (n >= 0x80) {
    out.push_back(static_cast<char>(n | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  return out;
}

// `depth` dense arrays of one element each, around `inner`.
std::string nested_arrays(std::size_t depth, const std::string& inner = "_") {
  std::string out = header;
  for (std::size_t i = 0; i < depth; ++i)
    out += "A" + varint(1);
  out += inner;
  for (std::size_t i = 0; i < depth; ++i)
    out += "$" + varint(0) + varint(1);
  return out;
}

// Decodes, and if that works, checks that re-encoding is stable; true when it decoded.
bool check_decodes_or_fails_cleanly(const std::string& bytes) {
  value decoded;
  try {
    decoded = advanced::decode(bytes);
  } catch (const std::system_error& e) {
    CHECK_MESSAGE(e.code() == errc::malformed_message, hex(bytes));
    return false;
  }
  std::string first;
  REQUIRE_NOTHROW(advanced::encode(decoded, first));
  const value again = advanced::decode(first);
  CHECK_MESSAGE(again == decoded, hex(bytes));
  CHECK_MESSAGE(hex(encode(again)) == hex(first), hex(bytes));
  return true;
}

} // namespace

TEST_CASE("Every truncation of every golden vector is refused as malformed") {
  for (const auto& vector : golden_vectors()) {
    const std::string& name = vector.first;
    const std::string& bytes = vector.second;
    for (std::size_t length = 0; length < bytes.size(); ++length) {
      INFO(name, " cut at ", length);
      CHECK(decode_error(bytes.substr(0, length)) == errc::malformed_message);
    }
  }
}

TEST_CASE("A frame without the version header, or of an unsupported version, is refused") {
  check_malformed("", "version header");
  check_malformed(unhex("5f"), "version header");
  check_malformed(unhex("ff"), "truncated varint");
  check_malformed(unhex("ff0c5f"), "unsupported format version 12");
  check_malformed(unhex("ff105f"), "unsupported format version 16");
  CHECK(advanced::decode(unhex("ff0d5f")).is_undefined()); // 13 and 14 are read
  CHECK(advanced::decode(unhex("ff0e5f")).is_undefined());
}

TEST_CASE("Declared lengths beyond the frame are refused before anything is allocated") {
  const std::string huge = varint(0xFFFFFFFFu);
  const std::vector<std::string> frames = {
      header + "\"" + huge + "abc",                          // one-byte string
      header + "c" + varint(0xFFFFFFFEu) + "abcd",           // two-byte string
      header + "S" + huge + "abc",                           // UTF-8 string
      header + "Z" + varint(0xFFFFFFFEu) + "abc",            // BigInt digits (sign 0)
      header + "B" + huge + "abc",                           // ArrayBuffer
      header + "~" + huge + huge + "abc",                    // resizable ArrayBuffer
      header + "\\" + varint(0) + varint(10) + huge + "abc", // Buffer host object
      header + "A" + huge + "_",                             // dense array
      header + "R\"" + huge + "x",                           // RegExp pattern
  };
  for (const auto& frame : frames) {
    check_malformed(frame);
    CHECK_MESSAGE(largest_allocation_decoding(frame) < 4096, hex(frame));
  }
}

TEST_CASE("A declared length that ends at the frame's end is read, one byte more is refused") {
  // The exact boundary of the bounds check: a string, an ArrayBuffer, a Buffer and a BigInt
  // whose bytes end the frame decode; declaring one byte more names the shortfall.
  CHECK(advanced::decode(header + "\"" + varint(3) + "abc") == value("abc"));
  check_malformed(header + "\"" + varint(4) + "abc", "length 4 exceeds the 3 bytes left");
  CHECK(advanced::decode(header + "B" + varint(2) + unhex("0102")) == value::array_buffer({1, 2}));
  check_malformed(header + "B" + varint(3) + unhex("0102"), "length 3 exceeds the 2 bytes left");
  CHECK(advanced::decode(header + "\\" + varint(0) + varint(10) + varint(2) + "ab") ==
        value::buffer(std::string_view("ab")));
  check_malformed(header + "\\" + varint(0) + varint(10) + varint(3) + "ab",
                  "length 3 exceeds the 2 bytes left");
  CHECK(advanced::decode(header + "Z" + varint(16) + unhex("0100000000000000")) ==
        value(cocluster::js::bigint(1)));
  check_malformed(header + "Z" + varint(18) + unhex("0100000000000000"),
                  "length 9 exceeds the 8 bytes left");
  // A dense array's length is bounded by the bytes left too (each element takes one at least).
  CHECK(advanced::decode(header + "A" + varint(1) + "_$" + varint(0) + varint(1)) ==
        value::array({value()}));
  check_malformed(header + "A" + varint(5) + "_$" + varint(0), "dense array length 5 exceeds");
}

TEST_CASE("A sparse array of length 2^32-1 decodes without allocating its length") {
  const std::string frame = header + "a" + varint(0xFFFFFFFFu) + "@" + varint(0) +
                            varint(0xFFFFFFFFu);
  std::size_t largest = 0;
  {
    allocation_probe probe;
    const value v = advanced::decode(frame);
    largest = probe.largest();
    CHECK(v.is_array());
    CHECK(v.size() == 0xFFFFFFFFu);
    CHECK(v.as_array().count() == 0);
  }
  CHECK(largest < 4096);
}

TEST_CASE("A far sparse element costs one element, not the holes before it") {
  const std::string frame = header + "a" + varint(0xFFFFFFFFu) + "N" +
                            unhex("0000c0ffffffef41") /* 4294967294.0 */ + "T" + "@" + varint(1) +
                            varint(0xFFFFFFFFu);
  allocation_probe probe;
  const value v = advanced::decode(frame);
  CHECK(probe.largest() < 4096);
  CHECK(v.as_array().has(4294967294u));
  CHECK(std::as_const(v.as_array())[4294967294u] == value(true));
  CHECK(std::as_const(v.as_array())[0].is_hole());
}

TEST_CASE("Nesting up to the limit decodes and one level more is refused") {
  CHECK_NOTHROW(advanced::decode(nested_arrays(advanced::max_depth)));
  check_malformed(nested_arrays(advanced::max_depth + 1), "nesting deeper than 1000");
  // Objects, Maps, Sets, Errors (through their cause) and host object copies count too.
  std::string objects = header;
  std::string maps = header;
  std::string sets = header;
  std::string errors = header;
  std::string hosts = header;
  for (std::size_t i = 0; i <= advanced::max_depth; ++i) {
    objects += "o\"\x01k";
    maps += ";_";
    sets += "'";
    errors += "rc";
    hosts += "\\" + varint(1);
  }
  check_malformed(objects + "_", "nesting");
  check_malformed(maps + "_", "nesting");
  check_malformed(sets + "_", "nesting");
  check_malformed(errors + "_", "nesting");
  check_malformed(hosts + "o", "nesting");
}

TEST_CASE(
    "Nesting a thousand times deeper than the limit is refused without exhausting the stack") {
  std::string frame = header;
  for (int i = 0; i < 1000000; ++i)
    frame += "A\x01";
  check_malformed(frame, "nesting");
  std::string counts = header;
  for (int i = 0; i < 1000000; ++i)
    counts += "?\x01"; // verify-object-count prefixes are read in a loop, not recursively
  check_malformed(counts, "truncated");
}

TEST_CASE("A long chain of back-references decodes, compares, copies and frees without recursion") {
  // [[], [^1], [^2], ...]: element i holds a strong reference to element i-1, so the chain of
  // ownership is as long as the array, while the wire nesting is only 2.
  const std::uint32_t n = 200000;
  std::string frame = header + "A" + varint(n);
  frame += "A" + varint(0) + "$" + varint(0) + varint(0);
  for (std::uint32_t i = 1; i < n; ++i)
    frame += "A" + varint(1) + "^" + varint(i) + "$" + varint(0) + varint(1);
  frame += "$" + varint(0) + varint(n);
  // Weak observers of the chain's ends read undefined once their nodes are freed: a chain that
  // leaked, or whose teardown stopped part way, leaves them alive (one that recursed would have
  // exhausted the stack).
  value first_link;
  value last_link;
  value copy_first_link;
  {
    value v = advanced::decode(frame);
    REQUIRE(v.size() == n);
    const value copy = v.clone();
    CHECK(copy == v);
    CHECK(hex(encode(copy)) == hex(frame));
    CHECK(!v.to_string().empty());
    CHECK(v.to_json().is_array());
    first_link = value::weak_ref(v[std::size_t{0}]);
    last_link = value::weak_ref(v[std::size_t{n - 1}]);
    copy_first_link = value::weak_ref(copy[std::size_t{0}]);
    REQUIRE(first_link.is_array());
    v = value(); // frees the chain through the teardown queue
    CHECK(first_link.is_undefined());
    CHECK(last_link.is_undefined());
    CHECK(copy.size() == n);
    CHECK(copy_first_link.is_array()); // the copy shares no node with the freed original
  }
  CHECK(copy_first_link.is_undefined());
}

TEST_CASE("Back-references must name an object already read") {
  check_malformed(header + "^" + varint(0), "reference to unknown object id 0");
  check_malformed(header + "o\"\x01k^" + varint(5) + "{" + varint(1), "unknown object id 5");
  check_malformed(header + "A" + varint(1) + "^" + varint(0xFFFFFFFFu) + "$" + varint(0) +
                      varint(1),
                  "unknown object id");
  // A reference is not a property key.
  check_malformed(header + "o\"\x01k_^" + varint(0) + "_{" + varint(2), "invalid property key");
  // A host object copy gets its id only once read: it cannot refer to itself.
  check_malformed(header + "\\" + varint(1) + "A" + varint(1) + "^" + varint(0) + "$" + varint(0) +
                      varint(1),
                  "unknown object id 0");
  // The array inside may refer to itself (id 1): a cycle, kept as a weak back-reference.
  const value cyclic = advanced::decode(header + "\\" + varint(1) + "A" + varint(1) + "^" +
                                        varint(1) + "$" + varint(0) + varint(1));
  CHECK(cyclic.is_array());
  CHECK(cyclic[std::size_t{0}].is_weak());
  CHECK(same_value_zero(cyclic[std::size_t{0}], cyclic));
}

TEST_CASE("Every tag byte either decodes or is refused as malformed") {
  for (int t = 0; t < 256; ++t) {
    for (const std::string& tail :
         {std::string(), std::string(16, '\0'), std::string(16, '\x01'), std::string(16, '\xff')}) {
      const std::string frame = header + static_cast<char>(t) + tail;
      value v;
      try {
        v = advanced::decode(frame);
      } catch (const std::system_error& e) {
        CHECK_MESSAGE(e.code() == errc::malformed_message, "tag ", t);
        continue;
      }
      std::string out;
      CHECK_NOTHROW(advanced::encode(v, out));
    }
  }
}

TEST_CASE("Transferred and shared objects cannot cross processes and are refused") {
  for (const char t : {'u', 't', 'p', 'm', 'w'})
    check_malformed(header + t + varint(0) + varint(0), "unsupported tag");
  check_malformed(header + "M", "unknown tag 0x4d"); // a legacy reserved tag
  check_malformed(header + "-", "unknown tag 0x2d"); // the hole, outside a dense array
}

TEST_CASE("End tags must agree with what was read") {
  check_malformed(header + "o\"\x01k_{" + varint(2), "object holds 1 entries");
  check_malformed(header + "A" + varint(1) + "_$" + varint(0) + varint(2), "length differs");
  check_malformed(header + "A" + varint(1) + "_$" + varint(1) + varint(1), "dense array holds 0");
  check_malformed(header + "a" + varint(3) + "I" + varint(2) + "_@" + varint(2) + varint(3),
                  "sparse array holds 1");
  check_malformed(header + ";_:" + varint(1), "unknown tag 0x3a"); // a key without a value
  check_malformed(header + ";__:" + varint(1), "Map holds 2");
  check_malformed(header + "'__," + varint(1), "Set holds 2");
}

TEST_CASE("Duplicate property keys are refused, whether written as strings or numbers") {
  check_malformed(header + "o\"\x01kT\"\x01kF{" + varint(2), "duplicate property key");
  check_malformed(header + "oI" + varint(2) +
                      "T\"\x01"
                      "1F{" +
                      varint(2),
                  "duplicate property key");
  std::string many = header + "o";
  for (int i = 0; i < 40; ++i)
    many += "\"\x02" + std::string(1, static_cast<char>('a' + i % 26)) +
            static_cast<char>('a' + i / 26) + "_";
  many += "\"\x02"
          "aa_{" +
          varint(41);
  check_malformed(many, "duplicate property key");
}

TEST_CASE("Array element keys must be in order and before named properties") {
  check_malformed(header + "a" + varint(3) + "I" + varint(4) + "_I" + varint(2) + "_@" + varint(2) +
                      varint(3),
                  "out of order");
  check_malformed(header + "a" + varint(3) + "\"\x01x_I" + varint(2) + "_@" + varint(2) + varint(3),
                  "out of order");
  check_malformed(header + "A" + varint(1) + "_I" + varint(4) + "_$" + varint(1) + varint(1),
                  "element key after");
  // V8 cannot define an array's own `length` (Node refuses it too).
  check_malformed(header + "A" + varint(0) + "\"\x06lengthT$" + varint(1) + varint(0),
                  "array property 'length'");
  check_malformed(header + "a" + varint(0) + "\"\x06lengthT@" + varint(1) + varint(0),
                  "array property 'length'");
}

TEST_CASE(
    "Strings: odd two-byte lengths are refused, bad UTF-8 in S strings is replaced as V8 does") {
  check_malformed(header + "c" + varint(3) + "abc", "odd length");
  CHECK(advanced::decode(header + "S" + varint(2) + "\xc3\x28") == value("\xef\xbf\xbd("));
  CHECK(advanced::decode(header + "S" + varint(3) + "\xed\xa0\x80") ==
        value("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
  CHECK(advanced::decode(header + "S" + varint(2) + "\xc3\xa9") == value("\xc3\xa9"));
  // Two-byte strings need not be aligned.
  CHECK(advanced::decode(header + "c" + varint(2) + "a" + std::string(1, '\0')) == value("a"));
}

TEST_CASE("RegExp flags V8 refuses are refused") {
  check_malformed(header +
                      "R\"\x01"
                      "a" +
                      varint(1u << 9),
                  "invalid RegExp flags");
  check_malformed(header +
                      "R\"\x01"
                      "a" +
                      varint(64),
                  "invalid RegExp flags"); // linear
  check_malformed(header +
                      "R\"\x01"
                      "a" +
                      varint(16 | 256),
                  "invalid RegExp flags"); // u and v
  check_malformed(header + "R_" + varint(0), "expected a string");
  CHECK(advanced::decode(header +
                         "R\"\x01"
                         "a" +
                         varint(1 | 8))
            .as_regexp()
            .flags == "gy");
}

TEST_CASE("BigInts: digits without a length of zero are refused when negative, and normalized") {
  check_malformed(header + "Z" + varint(1), "negative BigInt without digits");
  CHECK(advanced::decode(header + "Z" + varint(3) + "\x01") == value(cocluster::js::bigint(-1)));
  CHECK(advanced::decode(header + "Z" + varint(17) + std::string(8, '\0')) ==
        value(cocluster::js::bigint()));
  const value leading_zero = advanced::decode(header + "Z" + varint(32) +
                                              unhex("0100000000000000 0000000000000000"));
  CHECK(leading_zero.as_bigint().magnitude().size() == 1);
}

TEST_CASE("Host objects: unknown tags and type indices are refused, partial elements dropped") {
  check_malformed(header + "\\" + varint(2), "unknown host object tag 2");
  check_malformed(header + "\\" + varint(0) + varint(13) + varint(1) + "x", "typeIndex 13");
  check_malformed(header + "\\" + varint(1) + "T", "not an object");
  // Node makes new Int32Array(buffer, offset, 5 / 4): one element.
  const value v = advanced::decode(header + "\\" + varint(0) + varint(5) + varint(5) + "abcde");
  CHECK(v.as_typed_array().kind == cocluster::js::typed_array_kind::int32);
  CHECK(v.as_typed_array().bytes.size() == 4);
}

TEST_CASE("V8's own ArrayBuffer views are read with their bounds, alignment and flags checked") {
  const std::string buffer = header + "B" + varint(4) + unhex("01020304");
  const value view = advanced::decode(buffer + "VB" + varint(1) + varint(2) + varint(0));
  CHECK(view == value::typed_array(cocluster::js::typed_array_kind::uint8, {2, 3}));
  check_malformed(buffer + "VB" + varint(3) + varint(2) + varint(0), "outside");
  check_malformed(buffer + "Vw" + varint(1) + varint(2) + varint(0), "misaligned");
  check_malformed(buffer + "Vh" + varint(0) + varint(2) + varint(0), "unknown view type");
  check_malformed(buffer + "VB" + varint(0) + varint(2) + varint(1), "flags");
  const std::string resizable = header + "~" + varint(2) + varint(8) + unhex("0102");
  check_malformed(resizable + "VB" + varint(0) + varint(2) + varint(0), "flags");
  CHECK(advanced::decode(resizable + "VB" + varint(0) + varint(2) + varint(2)).is_typed_array());
  // Format version 13 has no flags.
  CHECK(advanced::decode(unhex("ff0d") + "B" + varint(2) + unhex("0102") + "VB" + varint(0) +
                         varint(2))
            .is_typed_array());
}

TEST_CASE("Errors: an unknown sub-tag is refused, sub-tags may come in any order") {
  check_malformed(header + "rx.", "unknown Error sub-tag");
  const value e = advanced::decode(header + "rs\"\x01Sm\"\x01mR.");
  CHECK(e.as_error().name == "RangeError");
  CHECK(e.as_error().message == "m");
  CHECK(e.as_error().stack == "S");
}

TEST_CASE("Trailing bytes are refused, trailing padding is not") {
  check_malformed(header + "__", "trailing bytes");
  CHECK(advanced::decode(header + "_" + std::string(3, '\0')).is_undefined());
  CHECK(advanced::decode(header + std::string(2, '\0') + "T").as_bool());
}

TEST_CASE("Varints read at most five bytes, as V8 reads them") {
  // I with a 6-byte varint: V8 stops after five bytes, so the sixth is the next tag (trailing).
  check_malformed(header + "I" + unhex("ffffffffff01"), "trailing bytes");
  CHECK(advanced::decode(header + "I" + unhex("feffffff0f")) == value(2147483647));
  CHECK(advanced::decode(header + "I" + unhex("feffffff7f")) == value(2147483647));
}

TEST_CASE("Random bytes after a valid header decode or fail cleanly") {
  std::mt19937_64 rng(20240611);
  // Every tag byte (and padding, a small varint, a continuation byte), NUL included: the
  // literal's length is given, as a NUL would end it otherwise.
  static constexpr char tags[] = "\x00_0TFINZ\"cS^o{aA$@D;:',BRr\\V~-?\x01\x02\x80\xff";
  const std::string alphabet(tags, sizeof tags - 1);
  REQUIRE(alphabet.size() == 35);
  std::vector<bool> drawn(256, false);
  int decoded = 0;
  for (int round = 0; round < 30000; ++round) {
    std::string frame = header;
    const std::size_t length = rng() % 48;
    for (std::size_t i = 0; i < length; ++i) {
      if (rng() % 2) {
        const char tag = alphabet[rng() % alphabet.size()];
        drawn[static_cast<unsigned char>(tag)] = true;
        frame.push_back(tag);
      } else {
        frame.push_back(static_cast<char>(rng()));
      }
    }
    decoded += check_decodes_or_fails_cleanly(frame) ? 1 : 0;
  }
  // The frames held every tag of the alphabet, and some of them were values.
  for (const char tag : alphabet)
    CHECK_MESSAGE(drawn[static_cast<unsigned char>(tag)], "tag ", hex(std::string(1, tag)),
                  " never drawn");
  MESSAGE(decoded, " of 30000 random frames decoded");
  CHECK(decoded > 0);
}

TEST_CASE("Single-byte changes to the golden vectors decode or fail cleanly") {
  for (const auto& vector : golden_vectors()) {
    const std::string& bytes = vector.second;
    if (bytes.size() > 300)
      continue;
    for (std::size_t i = 2; i < bytes.size(); ++i) {
      const auto original = static_cast<unsigned char>(bytes[i]);
      for (const unsigned replacement :
           {0x00u, 0x01u, 0x7Fu, 0x80u, 0xFFu, original ^ 1u, (original + 1u) & 0xFFu}) {
        std::string mutated = bytes;
        mutated[i] = static_cast<char>(replacement);
        check_decodes_or_fails_cleanly(mutated);
      }
    }
  }
}
