// The C++ side of the golden cases in v8_vectors.js: the same value under the same name.
#ifndef COCLUSTER_TESTS_SERIALIZATION_GOLDEN_CASES_HPP
#define COCLUSTER_TESTS_SERIALIZATION_GOLDEN_CASES_HPP

#include <functional>
#include <string>
#include <vector>

#include <cocluster/value.hpp>

namespace sertest {

/// One golden case.
struct golden_case {
  /// The case name in v8_vectors.js and v8_vectors.txt.
  std::string name;
  /// Builds the value cocluster decodes Node's bytes to, and encodes.
  std::function<cocluster::value()> make;
  /// Our encoding must equal Node's bytes (false where cocluster reads Node's value lossily).
  bool exact = true;
  /// Node must decode our bytes to a value deep-equal to the JavaScript case.
  bool node_check = true;
  /// Node writes the case but cannot read it back; cocluster refuses it both ways.
  bool rejected = false;
};

/// Every golden case.
const std::vector<golden_case>& golden_cases();

} // namespace sertest

#endif
