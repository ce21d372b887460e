// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::regexp`: a JavaScript RegExp.
#ifndef COCLUSTER_JS_REGEXP_HPP
#define COCLUSTER_JS_REGEXP_HPP

#include <string>
#include <utility>

#include "cocluster/js/node_base.hpp"
#include "cocluster/value/kind.hpp"

namespace cocluster::js {

/// A JavaScript RegExp.
class regexp final : public node_base {
public:
  /// `/pattern/flags`.
  /// @param source the pattern's text without the slashes, WTF-8 (`a\/b`); not checked here,
  ///   a Node peer compiles it when it decodes the value.
  /// @param flag_letters the flags, any of `dgimsuvy` ("gi"); "" for none.
  regexp(std::string source, std::string flag_letters)
      : node_base(value_kind::regexp), pattern(std::move(source)), flags(std::move(flag_letters)) {}
  /// The `source` (WTF-8), as V8 reports it (`a\/b` for `new RegExp("a/b")`).
  std::string pattern;
  /// The flag letters, any of `dgimsuvy` (written in that order by the decoder).
  std::string flags;
};

} // namespace cocluster::js

#endif // COCLUSTER_JS_REGEXP_HPP
