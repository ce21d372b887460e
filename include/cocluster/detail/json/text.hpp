// SPDX-License-Identifier: MIT
/// @file
/// JSON text in and out for the `json` serialization: the fast reader and writer for the
/// common cases, nlohmann::json's public parser and `dump()` for the rest.
#ifndef COCLUSTER_DETAIL_JSON_TEXT_HPP
#define COCLUSTER_DETAIL_JSON_TEXT_HPP

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "cocluster/detail/json/fast_reader.hpp"
#include "cocluster/detail/json/fast_writer.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail {

/// Parses `text` as one JSON value (what `Json::parse` accepts), refusing nesting deeper than
/// `max_depth`. Throws nlohmann's exceptions for malformed text and `std::system_error` with
/// `errc::malformed_message` for nesting. The common cases take `json_fast_reader`; the rest
/// (errors, numbers beyond 64 bits, lone surrogate escapes, deep nesting) nlohmann's public
/// parser, whose callback sees each array and object as it opens: the bound is checked before
/// the level is built, and the text is scanned once. nlohmann's parser is iterative; the bound
/// protects whoever later walks the value recursively (copies, printing, user code).
template <class Json>
Json parse_json_text(std::string_view text, std::size_t max_depth) {
  Json result;
  if (json_fast_reader<Json>(text, max_depth).read(result))
    return result;
  using event = typename Json::parse_event_t;
  // `depth` counts the arrays and objects around the one that opens.
  const auto refuse_deep_nesting = [max_depth](int depth, event what, Json&) {
    if ((what == event::object_start || what == event::array_start) &&
        static_cast<std::size_t>(depth) >= max_depth)
      throw std::system_error(make_error_code(errc::malformed_message),
                              "json: nesting deeper than " + std::to_string(max_depth));
    return true;
  };
  return Json::parse(text.begin(), text.end(), refuse_deep_nesting);
}

/// Appends the compact JSON text of `value` to `out`, as `dump()` writes it, refusing invalid
/// UTF-8 (nlohmann's `type_error` 316). `write_json_fast` writes every value but those holding
/// invalid UTF-8 or binary values; those go through nlohmann's public `dump()`.
template <class Json>
void dump_json_text(const Json& value, std::string& out) {
  if (write_json_fast(value, out))
    return;
  out += value.dump(-1, ' ', false, Json::error_handler_t::strict);
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_JSON_TEXT_HPP
