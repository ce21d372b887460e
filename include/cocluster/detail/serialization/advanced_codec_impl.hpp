// SPDX-License-Identifier: MIT
/// @file
/// The definitions of advanced_codec.hpp: `inline` in every translation unit header-only, once
/// (in the source that includes `cocluster/impl/src.hpp`) with `COCLUSTER_SEPARATE_COMPILATION`.
#ifndef COCLUSTER_DETAIL_SERIALIZATION_ADVANCED_CODEC_IMPL_HPP
#define COCLUSTER_DETAIL_SERIALIZATION_ADVANCED_CODEC_IMPL_HPP

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cocluster/detail/decl.hpp"
#include "cocluster/detail/serialization/advanced_codec.hpp"
#include "cocluster/detail/v8/document_writer.hpp"
#include "cocluster/detail/v8/envelope_writer.hpp"
#include "cocluster/detail/v8/reader.hpp"
#include "cocluster/detail/v8/writer.hpp"
#include "cocluster/value.hpp"

namespace cocluster::detail {

COCLUSTER_DECL void advanced_encode(const value& v, std::string& out, std::size_t max_depth) {
  v8::encode_value(v, out, max_depth);
}

COCLUSTER_DECL void advanced_encode_internal(const nlohmann::ordered_json& message,
                                             std::string& out, std::size_t max_depth) {
  v8::encode_json(message, out, max_depth);
}

COCLUSTER_DECL void advanced_encode_envelope(const nlohmann::ordered_json& head,
                                             const value& payload, std::string& out,
                                             std::size_t max_depth) {
  v8::encode_envelope(head, payload, out, max_depth);
}

COCLUSTER_DECL value advanced_decode(std::string_view body, std::size_t max_depth) {
  return v8::reader(body, max_depth).read_message();
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SERIALIZATION_ADVANCED_CODEC_IMPL_HPP
