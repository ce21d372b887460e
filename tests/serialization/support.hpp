// Helpers shared by the serialization tests: hex, encoding shortcuts, the checked-in golden
// vectors, and running the Node oracle script (Node itself is found by test::node_path():
// COCLUSTER_NODE, else PATH).
#ifndef COCLUSTER_TESTS_SERIALIZATION_SUPPORT_HPP
#define COCLUSTER_TESTS_SERIALIZATION_SUPPORT_HPP

#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include <cocluster/error.hpp>
#include <cocluster/serialization/advanced.hpp>
#include <cocluster/value.hpp>

#include "support/node.hpp"
#include "support/skip.hpp"

namespace sertest {

using cocluster::advanced;
using cocluster::value;

/// Lowercase hex of `bytes`.
inline std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

/// The bytes of a hex string (spaces ignored).
inline std::string unhex(std::string_view text) {
  std::string out;
  int high = -1;
  for (const char c : text) {
    int d = -1;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else if (c == ' ')
      continue;
    else
      throw std::invalid_argument("unhex: bad character");
    if (high < 0) {
      high = d;
    } else {
      out.push_back(static_cast<char>(high * 16 + d));
      high = -1;
    }
  }
  if (high >= 0)
    throw std::invalid_argument("unhex: odd length");
  return out;
}

/// `advanced::encode` into a fresh string.
inline std::string encode(const value& v) {
  std::string out;
  advanced::encode(v, out);
  return out;
}

/// Decodes hex.
inline value decode_hex(std::string_view text) { return advanced::decode(unhex(text)); }

/// The error code `decode` throws for `bytes`, or an empty code when it decodes.
inline std::error_code decode_error(std::string_view bytes) {
  try {
    advanced::decode(bytes);
  } catch (const std::system_error& e) {
    return e.code();
  }
  return {};
}

/// The message `decode` throws for `bytes`, or "" when it decodes.
inline std::string decode_message(std::string_view bytes) {
  try {
    advanced::decode(bytes);
  } catch (const std::system_error& e) {
    return e.what();
  }
  return "";
}

/// The directory of this suite's sources (the Node scripts and vectors).
inline std::string source_dir() { return COCLUSTER_SERIALIZATION_DIR; }

/// The checked-in golden vectors: case name to frame body bytes.
inline std::map<std::string, std::string> golden_vectors() {
  std::ifstream in(source_dir() + "/v8_vectors.txt");
  if (!in)
    throw std::runtime_error("cannot open v8_vectors.txt");
  std::map<std::string, std::string> vectors;
  std::string name;
  std::string text;
  while (in >> name >> text)
    vectors[name] = unhex(text);
  return vectors;
}

/// What the Node script printed, and its exit status.
struct node_run {
  int status = -1;
  std::string output;
};

/// Runs `node --expose-internals v8_vectors.js <mode>` with `input` on its standard input.
inline node_run run_node_script(const std::string& node, const std::string& mode,
                                const std::string& input = {}) {
  char name[] = "/tmp/cocluster-v8-XXXXXX";
  const int fd = ::mkstemp(name);
  if (fd < 0)
    throw std::runtime_error("mkstemp failed");
  const ssize_t written = ::write(fd, input.data(), input.size());
  ::close(fd);
  if (written != static_cast<ssize_t>(input.size()))
    throw std::runtime_error("cannot write the script input");
  const std::string command = "'" + node + "' --expose-internals '" + source_dir() +
                              "/v8_vectors.js' " + mode + " < '" + name + "' 2>&1";
  node_run run;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
      run.output.append(buffer, n);
    const int status = ::pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ::unlink(name);
  return run;
}

} // namespace sertest

#endif
