// SPDX-License-Identifier: MIT
/// @file
/// The one place cocluster reaches into nlohmann::json's internals (`nlohmann::detail`), which
/// may change between its releases: tests/headers/check refuses the name anywhere else, and the
/// serialization suite pins the behaviour ("The fast JSON writer writes the bytes nlohmann's
/// dump writes", over random and special doubles), so a release that changes it fails there.
#ifndef COCLUSTER_DETAIL_JSON_NLOHMANN_INTERNALS_HPP
#define COCLUSTER_DETAIL_JSON_NLOHMANN_INTERNALS_HPP

#include <nlohmann/json.hpp>

#if NLOHMANN_JSON_VERSION_MAJOR != 3 || NLOHMANN_JSON_VERSION_MINOR < 10
#error "cocluster needs nlohmann_json 3.10 or a later 3.x (tested with 3.11.2 and 3.11.3)"
#endif

namespace cocluster::detail {

/// Writes finite `x` (a `float` or `double`) into [first, last) as nlohmann's `dump()` writes a
/// JSON number (round-trip digits, `1.0` for whole numbers, exponents as `1e+21`) and returns
/// the end of what it wrote; 64 characters are always enough. The public alternative,
/// `json(x).dump()`, builds a serializer and a string per number.
template <class Float>
char* write_float_as_nlohmann(char* first, char* last, Float x) {
  return nlohmann::detail::to_chars(first, last, x);
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_JSON_NLOHMANN_INTERNALS_HPP
