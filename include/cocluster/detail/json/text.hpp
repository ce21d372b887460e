// SPDX-License-Identifier: MIT
/// @file
/// JSON text in and out for the `json` serialization, with nlohmann::json's parser and
/// serializer set up once per thread rather than once per message.
#ifndef COCLUSTER_DETAIL_JSON_TEXT_HPP
#define COCLUSTER_DETAIL_JSON_TEXT_HPP

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "cocluster/detail/json/fast_reader.hpp"
#include "cocluster/detail/json/fast_writer.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail {

/// nlohmann's DOM builder with a bound on the nesting of arrays and objects, checked as each
/// one opens; so the text is scanned once and no more than `max_depth` levels are ever built.
/// nlohmann's parser itself is iterative: the bound protects whoever later walks the value
/// recursively (copies, printing, user code).
template <class Json>
class depth_limited_dom_parser : public nlohmann::detail::json_sax_dom_parser<Json> {
  using base = nlohmann::detail::json_sax_dom_parser<Json>;

public:
  /// Builds into `result`; more than `max_depth` nested arrays and objects throw
  /// `std::system_error` with `errc::malformed_message`.
  depth_limited_dom_parser(Json& result, std::size_t max_depth)
      : base(result, true), max_depth_(max_depth) {}

  // These hide the base's functions of the same names: nlohmann's parser is a template on the
  // handler type and calls them on this type.

  /// An object opens.
  bool start_object(std::size_t size) {
    enter();
    return base::start_object(size);
  }
  /// An object closes.
  bool end_object() {
    --depth_;
    return base::end_object();
  }
  /// An array opens.
  bool start_array(std::size_t size) {
    enter();
    return base::start_array(size);
  }
  /// An array closes.
  bool end_array() {
    --depth_;
    return base::end_array();
  }

private:
  void enter() {
    if (++depth_ > max_depth_)
      throw std::system_error(make_error_code(errc::malformed_message),
                              "json: nesting deeper than " + std::to_string(max_depth_));
  }

  std::size_t max_depth_;
  std::size_t depth_ = 0;
};

/// Parses `text` as one JSON value (what `Json::parse` accepts), refusing nesting deeper than
/// `max_depth`. Throws nlohmann's exceptions for malformed text and `std::system_error` for
/// nesting. The common cases take `json_fast_reader`; the rest, errors included, nlohmann's
/// parser.
template <class Json>
Json parse_json_text(std::string_view text, std::size_t max_depth) {
  Json result;
  if (json_fast_reader<Json>(text, max_depth).read(result))
    return result;
  result = Json();
  depth_limited_dom_parser<Json> builder(result, max_depth);
  Json::sax_parse(text.begin(), text.end(), &builder);
  return result;
}

/// An output adapter for nlohmann's serializer that appends to whichever string it is pointed
/// at, so that one serializer serves every message.
class retargetable_string_output final : public nlohmann::detail::output_adapter_protocol<char> {
public:
  /// Where the next characters go.
  std::string* target = nullptr;

  /// Appends one character.
  void write_character(char c) override { target->push_back(c); }
  /// Appends `length` characters.
  void write_characters(const char* s, std::size_t length) override { target->append(s, length); }
};

/// Appends the compact JSON text of `value` to `out` (as `dump()` writes it, refusing invalid
/// UTF-8). `write_json_fast` writes it unless the value holds what only nlohmann's serializer
/// handles (invalid UTF-8, which it refuses, binary values). A serializer built per call costs a `shared_ptr` adapter, a 512-byte indentation
/// string and a `localeconv()`; this one is built once per thread and per JSON type. The locale
/// only matters to nlohmann for non-IEEE floating-point types, which these are not.
template <class Json>
void dump_json_text(const Json& value, std::string& out) {
  struct cached_serializer {
    cached_serializer() { alive() = true; }
    ~cached_serializer() { alive() = false; }
    cached_serializer(const cached_serializer&) = delete;
    cached_serializer& operator=(const cached_serializer&) = delete;
    // A message may be encoded after this thread's serializer was destroyed (by a static
    // object's destructor at exit): a trivially destructible flag says so.
    static bool& alive() noexcept {
      thread_local bool flag = false;
      return flag;
    }
    std::shared_ptr<retargetable_string_output> output =
        std::make_shared<retargetable_string_output>();
    nlohmann::detail::serializer<Json> writer{output, ' ', nlohmann::json::error_handler_t::strict};
  };
  if (write_json_fast(value, out))
    return;
  thread_local cached_serializer cached;
  if (!cached_serializer::alive()) {
    nlohmann::detail::serializer<Json> writer(
        nlohmann::detail::output_adapter<char, std::string>(out), ' ',
        nlohmann::json::error_handler_t::strict);
    writer.dump(value, false, false, 0);
    return;
  }
  cached.output->target = &out;
  cached.writer.dump(value, false, false, 0);
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_JSON_TEXT_HPP
