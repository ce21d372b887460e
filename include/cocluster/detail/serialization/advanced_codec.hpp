// SPDX-License-Identifier: MIT
/// @file
/// The V8 codec behind `advanced`, declared: its definitions (advanced_codec_impl.hpp, with the
/// reader and the writers) are included by `advanced.hpp` header-only, and only by
/// `cocluster/impl/src.hpp` with `COCLUSTER_SEPARATE_COMPILATION`, so that a translation unit
/// that does not compile them does not even read them.
#ifndef COCLUSTER_DETAIL_SERIALIZATION_ADVANCED_CODEC_HPP
#define COCLUSTER_DETAIL_SERIALIZATION_ADVANCED_CODEC_HPP

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cocluster/detail/decl.hpp"
#include "cocluster/value.hpp"

namespace cocluster::detail {

/// Appends the V8 serialization of `v` (`advanced::encode`).
COCLUSTER_DECL void advanced_encode(const value& v, std::string& out, std::size_t max_depth);

/// Appends the V8 serialization of an internal message, in its key order
/// (`advanced::encode_internal`).
COCLUSTER_DECL void advanced_encode_internal(const nlohmann::ordered_json& message,
                                             std::string& out, std::size_t max_depth);

/// Appends the V8 serialization of the envelope `head` + `msg: payload`
/// (`advanced::encode_envelope`).
COCLUSTER_DECL void advanced_encode_envelope(const nlohmann::ordered_json& head,
                                             const value& payload, std::string& out,
                                             std::size_t max_depth);

/// Decodes one frame body (`advanced::decode`).
COCLUSTER_DECL value advanced_decode(std::string_view body, std::size_t max_depth);

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SERIALIZATION_ADVANCED_CODEC_HPP
