// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::value_error`: what `value` throws when it is used as a kind it is not.
#ifndef COCLUSTER_VALUE_ERROR_HPP
#define COCLUSTER_VALUE_ERROR_HPP

#include <stdexcept>

namespace cocluster {

/// Thrown when a value is used as a kind it is not (`as_string()` on a number, `at()` on a
/// missing key, a failed `get<T>()`).
class value_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace cocluster

#endif // COCLUSTER_VALUE_ERROR_HPP
