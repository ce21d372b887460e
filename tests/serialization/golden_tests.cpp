// Golden vectors: bytes written by Node decode to the expected values, our bytes are Node's
// bytes, and Node decodes our bytes to deep-equal values.
#include <doctest/doctest.h>

#include <set>
#include <sstream>
#include <string>

#include "golden_cases.hpp"
#include "support.hpp"

using namespace sertest;

TEST_CASE("Every golden case has a vector written by Node, and every vector has a C++ case") {
  const auto vectors = golden_vectors();
  std::set<std::string> names;
  for (const auto& c : golden_cases()) {
    names.insert(c.name);
    CHECK_MESSAGE(vectors.count(c.name) == 1, "no vector for ", c.name);
  }
  for (const auto& vector : vectors)
    CHECK_MESSAGE(names.count(vector.first) == 1, "no C++ case for vector ", vector.first);
  CHECK(vectors.size() >= 100);
}

TEST_CASE("Bytes written by Node decode to the expected value for every golden case") {
  const auto vectors = golden_vectors();
  std::size_t compared = 0;
  for (const auto& c : golden_cases()) {
    const auto it = vectors.find(c.name);
    REQUIRE(it != vectors.end());
    if (c.rejected)
      continue;
    const value expected = c.make();
    value decoded;
    CHECK_NOTHROW(decoded = advanced::decode(it->second));
    CHECK_MESSAGE(decoded == expected, c.name, ": decoded ", decoded.to_string(), ", expected ",
                  expected.to_string());
    ++compared;
  }
  CHECK(compared >= 100); // the cases were compared, not all filtered out
}

TEST_CASE("Our bytes equal the bytes Node writes for every golden case") {
  const auto vectors = golden_vectors();
  std::size_t compared = 0;
  for (const auto& c : golden_cases()) {
    if (!c.exact)
      continue;
    const std::string ours = encode(c.make());
    CHECK_MESSAGE(hex(ours) == hex(vectors.at(c.name)), c.name);
    ++compared;
  }
  CHECK(compared >= 100); // the cases were compared, not all marked inexact
}

TEST_CASE(
    "An Error whose cause refers back to it is refused both ways, as Node 20 cannot read it") {
  const auto vectors = golden_vectors();
  std::size_t rejected = 0;
  for (const auto& c : golden_cases()) {
    if (!c.rejected)
      continue;
    ++rejected;
    CHECK_MESSAGE(decode_error(vectors.at(c.name)) == cocluster::errc::malformed_message, c.name);
    std::string out = "kept";
    try {
      advanced::encode(c.make(), out);
      FAIL_CHECK(c.name, " was encoded");
    } catch (const std::system_error& e) {
      CHECK(e.code() == cocluster::errc::unencodable_value);
      CHECK_MESSAGE(std::string(e.what()).find("cause refers back") != std::string::npos, e.what());
    }
    CHECK(out == "kept");
  }
  CHECK(rejected > 0); // the self-referring cases exist and were tried
}

TEST_CASE("Node's wrapper objects decode to their primitive values and keep their object ids") {
  // [s, s] with s = new String('s'): the second element is a reference to the wrapper's id.
  const auto vectors = golden_vectors();
  const std::string& bytes = vectors.at("wrappers_shared");
  CHECK(bytes.find('^') != std::string::npos);
  CHECK(advanced::decode(bytes) == value::array({"s", "s"}));
}

TEST_CASE("The captured online message is written byte for byte as the reference shows") {
  // node-cluster-internals.md, section 5.2: the 48-byte frame of {cmd, act, seq} minus its
  // 4-byte length prefix.
  const std::string reference = unhex("ff0f6f2203636d64220c4e4f44455f434c555354455222036163742206"
                                      "6f6e6c696e6522037365714900 7b03");
  CHECK(reference.size() == 44);
  nlohmann::ordered_json internal = {{"cmd", "NODE_CLUSTER"}, {"act", "online"}, {"seq", 0}};
  std::string from_json;
  advanced::encode_internal(internal, from_json);
  CHECK(hex(from_json) == hex(reference));
  CHECK(hex(encode(value::object({{"cmd", "NODE_CLUSTER"}, {"act", "online"}, {"seq", 0}}))) ==
        hex(reference));
}

TEST_CASE("The checked-in vectors are what the installed Node writes") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  const node_run run = run_node_script(*node, "emit");
  REQUIRE(run.status == 0);
  std::istringstream lines(run.output);
  const auto vectors = golden_vectors();
  std::string name;
  std::string text;
  std::size_t count = 0;
  while (lines >> name >> text) {
    ++count;
    const auto it = vectors.find(name);
    CHECK_MESSAGE(it != vectors.end(), "Node emitted unknown case ", name);
    if (it != vectors.end())
      CHECK_MESSAGE(hex(it->second) == text, name, ": Node now writes ", text);
  }
  CHECK(count == vectors.size());
}

TEST_CASE("Frames a real Node child writes with process.send() are the golden vectors") {
  // The vectors come from Node's channel serializer; this checks them against the bytes a child
  // process actually writes on its IPC descriptor in advanced mode.
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  const auto vectors = golden_vectors();
  std::string names;
  for (const auto& vector : vectors)
    names += " " + vector.first;
  const node_run run = run_node_script(*node, "capture" + names);
  REQUIRE(run.status == 0);
  std::istringstream lines(run.output);
  std::string line;
  std::size_t count = 0;
  std::set<std::string> refused;
  while (std::getline(lines, line)) {
    ++count;
    std::istringstream words(line);
    std::string name;
    std::string text;
    words >> name >> text;
    if (text == "REFUSED")
      refused.insert(name); // process.send() itself refuses the message
    else
      CHECK_MESSAGE(hex(vectors.at(name)) == text, name);
  }
  CHECK(count == vectors.size());
  // Node's send() refuses a top-level undefined or BigInt (its readers accept both).
  CHECK(refused == std::set<std::string>{"undefined", "bigint_zero", "bigint_one",
                                         "bigint_minus_one", "bigint_2_64", "bigint_above_2_64",
                                         "bigint_negative_large", "bigint_int64_min"});
}

TEST_CASE("Node decodes our bytes to values deep-equal to every golden case") {
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  std::string input;
  std::size_t sent = 0;
  for (const auto& c : golden_cases()) {
    if (!c.node_check)
      continue;
    input += c.name + " " + hex(encode(c.make())) + "\n";
    ++sent;
  }
  REQUIRE(sent >= 100);
  const node_run run = run_node_script(*node, "check", input);
  INFO(run.output);
  CHECK(run.status == 0);
  std::istringstream lines(run.output);
  std::string line;
  std::size_t ok = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("ok ", 0) == 0)
      ++ok;
    else
      FAIL_CHECK(line);
  }
  CHECK(ok == sent);
}

TEST_CASE("A Node-written check fails when our bytes differ from the case") {
  // The oracle must be able to fail: send the bytes of one case under another case's name.
  const auto node = test::node_path();
  if (!node) {
    test::skip(test::needs_node);
    return;
  }
  const std::string input = "buffer " +
                            hex(encode(value::typed_array(cocluster::js::typed_array_kind::uint8,
                                                          {1, 2, 3}))) +
                            "\n" + "double_negative_zero " + hex(encode(value(0))) + "\n";
  const node_run run = run_node_script(*node, "check", input);
  CHECK(run.status != 0);
  CHECK(run.output.find("FAIL buffer") != std::string::npos);
  CHECK(run.output.find("FAIL double_negative_zero") != std::string::npos);
}
