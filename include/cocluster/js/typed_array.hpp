// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::typed_array`: a typed array, a DataView or a Node Buffer.
#ifndef COCLUSTER_JS_TYPED_ARRAY_HPP
#define COCLUSTER_JS_TYPED_ARRAY_HPP

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "cocluster/detail/v8/byte_pool.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/typed_array_kind.hpp"
#include "cocluster/value/kind.hpp"

namespace cocluster::js {

/// A typed array, DataView or Node Buffer, with its own copy of the bytes it views (Node's IPC
/// serializer sends only the viewed bytes, not the whole underlying ArrayBuffer).
class typed_array final : public node_base {
public:
  /// A view of `kind` over `contents`.
  /// @param view_kind the element type (`typed_array_kind::buffer` for a Node Buffer).
  /// @param contents the viewed bytes, host byte order, moved in; to be encodable its size must
  ///   be a multiple of the element size (not checked here; the encoder rejects it).
  typed_array(typed_array_kind view_kind, std::vector<std::uint8_t> contents) noexcept
      : node_base(value_kind::typed_array), kind(view_kind), bytes(std::move(contents)) {}
  // Gives large contents back to the decoder's cache (see detail::v8::byte_pool).
  ~typed_array() { detail::v8::byte_pool::recycle(bytes); }
  /// The element type.
  typed_array_kind kind;
  /// The viewed bytes (host byte order), a multiple of `element_size()` to be encodable.
  std::vector<std::uint8_t> bytes;
  /// Bytes per element.
  /// @return `js::element_size(kind)`: 1, 2, 4 or 8.
  std::size_t element_size() const noexcept { return js::element_size(kind); }
  /// Number of elements.
  /// @return `bytes.size() / element_size()`, rounded down.
  std::size_t length() const noexcept { return bytes.size() / element_size(); }
};

} // namespace cocluster::js

#endif // COCLUSTER_JS_TYPED_ARRAY_HPP
