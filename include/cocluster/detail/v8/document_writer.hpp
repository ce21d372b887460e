// SPDX-License-Identifier: MIT
/// @file
/// Writes a JSON document straight to V8 serialization, without building a `value`: Node's
/// internal messages (`NODE_CLUSTER`, `NODE_HANDLE`, ...) take this path, keeping their key
/// order. Numbers are written as V8 holds what `JSON.parse` makes: integral values in int32
/// range as `I`, others as `N`.
#ifndef COCLUSTER_DETAIL_V8_DOCUMENT_WRITER_HPP
#define COCLUSTER_DETAIL_V8_DOCUMENT_WRITER_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cocluster/detail/v8/primitives.hpp"
#include "cocluster/detail/v8/tags.hpp"

namespace cocluster::detail::v8 {

/// Writes JSON documents as V8 values to a `buffer_sink`.
class document_writer {
public:
  /// A writer appending to `sink`, refusing nesting deeper than `max_depth`.
  document_writer(buffer_sink& sink, std::size_t max_depth) noexcept
      : sink_(sink), max_depth_(max_depth) {}

  /// The header and `document`.
  template <class BasicJson>
  void message(const BasicJson& document) {
    sink_.byte(version_tag);
    put_varint(sink_, format_version);
    write(document, 0);
  }

  /// `j` without a header, as the value of a field at nesting `depth`.
  template <class BasicJson>
  void field_value(const BasicJson& j, std::size_t depth) {
    write(j, depth);
  }

private:
  void write_double(double d) {
    if (d >= -2147483648.0 && d <= 2147483647.0 && std::trunc(d) == d &&
        !(d == 0 && std::signbit(d)))
      put_int32(sink_, static_cast<std::int32_t>(d));
    else
      put_number(sink_, d);
  }

  template <class BasicJson>
  void write(const BasicJson& j, std::size_t depth) {
    using type = nlohmann::json::value_t;
    switch (j.type()) {
    case type::null: sink_.byte(tag::null); return;
    case type::boolean:
      sink_.byte(j.template get<bool>() ? tag::true_value : tag::false_value);
      return;
    case type::number_integer: {
      const auto n = j.template get<std::int64_t>();
      if (n >= -2147483648LL && n <= 2147483647LL)
        put_int32(sink_, static_cast<std::int32_t>(n));
      else
        put_number(sink_, static_cast<double>(n));
      return;
    }
    case type::number_unsigned: {
      const auto n = j.template get<std::uint64_t>();
      if (n <= 2147483647u)
        put_int32(sink_, static_cast<std::int32_t>(n));
      else
        put_number(sink_, static_cast<double>(n));
      return;
    }
    case type::number_float: write_double(j.template get<double>()); return;
    case type::string: put_string(sink_, j.template get_ref<const std::string&>()); return;
    case type::binary: {
      const auto& bytes = j.get_binary();
      if (bytes.size() > 0xFFFFFFFFu)
        unencodable("binary value longer than 2^32 - 1 bytes");
      sink_.byte(tag::host_object);
      put_varint(sink_, host_tag::array_buffer_view);
      put_varint(sink_, 10); // Buffer
      put_varint(sink_, bytes.size());
      sink_.bytes(bytes.data(), bytes.size());
      return;
    }
    case type::array: {
      if (depth >= max_depth_)
        unencodable("nesting deeper than " + std::to_string(max_depth_));
      if (j.size() > 0xFFFFFFFFu)
        unencodable("array longer than 2^32 - 1");
      sink_.byte(tag::begin_dense_array);
      put_varint(sink_, j.size());
      for (const auto& item : j)
        write(item, depth + 1);
      sink_.byte(tag::end_dense_array);
      put_varint(sink_, 0);
      put_varint(sink_, j.size());
      return;
    }
    case type::object: {
      if (depth >= max_depth_)
        unencodable("nesting deeper than " + std::to_string(max_depth_));
      sink_.byte(tag::begin_object);
      for (auto it = j.begin(); it != j.end(); ++it) {
        put_key(sink_, it.key());
        write(it.value(), depth + 1);
      }
      sink_.byte(tag::end_object);
      put_varint(sink_, j.size());
      return;
    }
    case type::discarded: unencodable("a discarded JSON value");
    }
  }

  buffer_sink& sink_;
  std::size_t max_depth_;
};

/// Appends the frame body of `document` to `out`; on failure `out` is unchanged.
template <class BasicJson>
void encode_json(const BasicJson& document, std::string& out, std::size_t max_depth) {
  append_encoding(out,
                  [&](buffer_sink& sink) { document_writer(sink, max_depth).message(document); });
}

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_DOCUMENT_WRITER_HPP
