// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::array_buffer`: a JavaScript ArrayBuffer.
#ifndef COCLUSTER_JS_ARRAY_BUFFER_HPP
#define COCLUSTER_JS_ARRAY_BUFFER_HPP

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "cocluster/detail/v8/byte_pool.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/value/kind.hpp"

namespace cocluster::js {

/// A JavaScript ArrayBuffer.
class array_buffer final : public node_base {
public:
  /// An ArrayBuffer holding `contents`.
  /// @param contents the bytes, moved in; its size is the buffer's `byteLength` (empty: a
  ///   zero-length buffer).
  explicit array_buffer(std::vector<std::uint8_t> contents = {}) noexcept
      : node_base(value_kind::array_buffer), bytes(std::move(contents)) {}
  // Gives large contents back to the decoder's cache (see detail::v8::byte_pool).
  ~array_buffer() { detail::v8::byte_pool::recycle(bytes); }
  /// The contents.
  std::vector<std::uint8_t> bytes;
  /// Set for a resizable ArrayBuffer (`new ArrayBuffer(n, {maxByteLength})`).
  std::optional<std::uint32_t> max_byte_length;
};

} // namespace cocluster::js

#endif // COCLUSTER_JS_ARRAY_BUFFER_HPP
