// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::error`: a JavaScript Error.
#ifndef COCLUSTER_JS_ERROR_HPP
#define COCLUSTER_JS_ERROR_HPP

#include <optional>
#include <string>
#include <utility>

#include "cocluster/detail/v8/teardown.hpp"
#include "cocluster/detail/v8/value_access.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::js {

/// A JavaScript Error, as V8 serializes it: the prototype (by `name`), `message`, `stack` and
/// `cause`. Other properties are not carried by V8.
class error final : public node_base {
public:
  /// An Error of `error_name` (see `value::error`), with no message, stack or cause yet.
  /// @param error_name the prototype's name: Error, EvalError, RangeError, ReferenceError,
  ///   SyntaxError, TypeError or URIError; any other name is kept here but travels as Error.
  explicit error(std::string error_name = "Error") noexcept
      : node_base(value_kind::error), name(std::move(error_name)) {}
  ~error();
  /// Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError or URIError.
  std::string name;
  /// The own `message` property, if any.
  std::optional<std::string> message;
  /// The `stack` string, if any.
  std::optional<std::string> stack;
  /// The own `cause` property, if any.
  std::optional<value> cause;
};

inline error::~error() {
  auto& queue = detail::v8::teardown_queue::local();
  if (cause)
    detail::v8::value_access::defer(queue, *cause);
  queue.drain();
}

} // namespace cocluster::js

#endif // COCLUSTER_JS_ERROR_HPP
