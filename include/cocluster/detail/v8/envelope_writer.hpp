// SPDX-License-Identifier: MIT
/// @file
/// Writes an envelope: an internal message whose fields are JSON primitives, with one more
/// field that holds a user value (`advanced::encode_envelope`).
#ifndef COCLUSTER_DETAIL_V8_ENVELOPE_WRITER_HPP
#define COCLUSTER_DETAIL_V8_ENVELOPE_WRITER_HPP

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "cocluster/detail/v8/document_writer.hpp"
#include "cocluster/detail/v8/primitives.hpp"
#include "cocluster/detail/v8/tags.hpp"
#include "cocluster/detail/v8/writer.hpp"
#include "cocluster/serialization/policy.hpp"
#include "cocluster/value.hpp"

namespace cocluster::detail::v8 {

/// Appends the frame body of the object `head` with a last property `msg` (`payload_field`)
/// holding `payload`; on failure `out` is unchanged. The envelope is the message's first object
/// (V8 id 0), so the payload's objects are numbered from 1, as V8 numbers them when it writes
/// the whole envelope.
template <class BasicJson>
void encode_envelope(const BasicJson& head, const value& payload, std::string& out,
                     std::size_t max_depth) {
  append_encoding(out, [&](buffer_sink& sink) {
    if (!head.is_object())
      unencodable("an envelope's head must be an object");
    sink.byte(version_tag);
    put_varint(sink, format_version);
    sink.byte(tag::begin_object);
    document_writer fields(sink, max_depth);
    for (auto it = head.begin(); it != head.end(); ++it) {
      if (it.value().is_structured())
        unencodable("an envelope's fields must be primitives");
      put_key(sink, it.key());
      fields.field_value(it.value(), 1);
    }
    put_key(sink, payload_field);
    value_writer(sink, max_depth).field_value(payload, 1, 1);
    sink.byte(tag::end_object);
    put_varint(sink, head.size() + 1);
  });
}

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_ENVELOPE_WRITER_HPP
