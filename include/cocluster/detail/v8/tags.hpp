// SPDX-License-Identifier: MIT
/// @file
/// The constants of V8's ValueSerializer format (format version 15, Node 20) and of Node's
/// host-object encoding for the `advanced` IPC mode.
#ifndef COCLUSTER_DETAIL_V8_TAGS_HPP
#define COCLUSTER_DETAIL_V8_TAGS_HPP

#include <cstddef>
#include <cstdint>

namespace cocluster::detail::v8 {

/// The format version this codec writes (what Node 20 writes).
inline constexpr std::uint32_t format_version = 15;
/// The oldest format version the decoder accepts (Node 20 itself rejects older ones).
inline constexpr std::uint32_t oldest_format_version = 13;

/// The first byte of every serialization.
inline constexpr std::uint8_t version_tag = 0xFF;

/// One-byte tags that introduce each serialized item (V8's `SerializationTag`).
namespace tag {
inline constexpr std::uint8_t padding = 0x00;
inline constexpr std::uint8_t verify_object_count = '?';
inline constexpr std::uint8_t the_hole = '-';
inline constexpr std::uint8_t undefined = '_';
inline constexpr std::uint8_t null = '0';
inline constexpr std::uint8_t true_value = 'T';
inline constexpr std::uint8_t false_value = 'F';
inline constexpr std::uint8_t int32 = 'I';
inline constexpr std::uint8_t uint32 = 'U';
inline constexpr std::uint8_t number = 'N';
inline constexpr std::uint8_t bigint = 'Z';
inline constexpr std::uint8_t utf8_string = 'S';
inline constexpr std::uint8_t one_byte_string = '"';
inline constexpr std::uint8_t two_byte_string = 'c';
inline constexpr std::uint8_t object_reference = '^';
inline constexpr std::uint8_t begin_object = 'o';
inline constexpr std::uint8_t end_object = '{';
inline constexpr std::uint8_t begin_sparse_array = 'a';
inline constexpr std::uint8_t end_sparse_array = '@';
inline constexpr std::uint8_t begin_dense_array = 'A';
inline constexpr std::uint8_t end_dense_array = '$';
inline constexpr std::uint8_t date = 'D';
inline constexpr std::uint8_t true_object = 'y';
inline constexpr std::uint8_t false_object = 'x';
inline constexpr std::uint8_t number_object = 'n';
inline constexpr std::uint8_t bigint_object = 'z';
inline constexpr std::uint8_t string_object = 's';
inline constexpr std::uint8_t regexp = 'R';
inline constexpr std::uint8_t begin_map = ';';
inline constexpr std::uint8_t end_map = ':';
inline constexpr std::uint8_t begin_set = '\'';
inline constexpr std::uint8_t end_set = ',';
inline constexpr std::uint8_t array_buffer = 'B';
inline constexpr std::uint8_t resizable_array_buffer = '~';
inline constexpr std::uint8_t array_buffer_transfer = 't';
inline constexpr std::uint8_t array_buffer_view = 'V';
inline constexpr std::uint8_t shared_array_buffer = 'u';
inline constexpr std::uint8_t shared_object = 'p';
inline constexpr std::uint8_t wasm_module_transfer = 'w';
inline constexpr std::uint8_t host_object = '\\';
inline constexpr std::uint8_t wasm_memory_transfer = 'm';
inline constexpr std::uint8_t error = 'r';
} // namespace tag

/// Sub-tags of an `error` item (V8's `ErrorTag`), each written as a varint.
namespace error_tag {
inline constexpr std::uint8_t eval_error = 'E';
inline constexpr std::uint8_t range_error = 'R';
inline constexpr std::uint8_t reference_error = 'F';
inline constexpr std::uint8_t syntax_error = 'S';
inline constexpr std::uint8_t type_error = 'T';
inline constexpr std::uint8_t uri_error = 'U';
inline constexpr std::uint8_t message = 'm';
inline constexpr std::uint8_t cause = 'c';
inline constexpr std::uint8_t stack = 's';
inline constexpr std::uint8_t end = '.';
} // namespace error_tag

/// Sub-tags of V8's own ArrayBufferView encoding (`V`), which Node never writes on IPC but
/// V8 reads.
namespace view_tag {
inline constexpr std::uint8_t int8 = 'b';
inline constexpr std::uint8_t uint8 = 'B';
inline constexpr std::uint8_t uint8_clamped = 'C';
inline constexpr std::uint8_t int16 = 'w';
inline constexpr std::uint8_t uint16 = 'W';
inline constexpr std::uint8_t int32 = 'd';
inline constexpr std::uint8_t uint32 = 'D';
inline constexpr std::uint8_t float32 = 'f';
inline constexpr std::uint8_t float64 = 'F';
inline constexpr std::uint8_t bigint64 = 'q';
inline constexpr std::uint8_t biguint64 = 'Q';
inline constexpr std::uint8_t data_view = '?';
} // namespace view_tag

/// Flags of a `V` view (format version 14 and later).
namespace view_flag {
inline constexpr std::uint32_t length_tracking = 1;
inline constexpr std::uint32_t backed_by_resizable = 2;
} // namespace view_flag

/// Node's `ChildProcessSerializer` prefix for host objects: an ArrayBufferView follows, or any
/// other object copied as a plain object.
namespace host_tag {
inline constexpr std::uint32_t array_buffer_view = 0;
inline constexpr std::uint32_t plain_copy = 1;
} // namespace host_tag

/// The highest `typeIndex` of Node's `DefaultSerializer._writeHostObject` (BigUint64Array).
inline constexpr std::uint32_t last_host_type_index = 12;

/// V8's `JSRegExp::Flags` bits, with the JavaScript flag letter of each.
namespace regexp_flag {
inline constexpr std::uint32_t global = 1u << 0;       // g
inline constexpr std::uint32_t ignore_case = 1u << 1;  // i
inline constexpr std::uint32_t multiline = 1u << 2;    // m
inline constexpr std::uint32_t sticky = 1u << 3;       // y
inline constexpr std::uint32_t unicode = 1u << 4;      // u
inline constexpr std::uint32_t dot_all = 1u << 5;      // s
inline constexpr std::uint32_t linear = 1u << 6;       // l (rejected: needs a V8 flag)
inline constexpr std::uint32_t has_indices = 1u << 7;  // d
inline constexpr std::uint32_t unicode_sets = 1u << 8; // v
/// Every bit V8 11 (Node 20) knows.
inline constexpr std::uint32_t all = (1u << 9) - 1;
} // namespace regexp_flag

/// V8 stores BigInt lengths in 30 bits of bytes, and caps BigInts at 2^30 bits.
inline constexpr std::size_t max_bigint_bytes = std::size_t{1} << 27;

/// V8's maximum string length on 64-bit targets (`String::kMaxLength`), in UTF-16 units.
inline constexpr std::size_t max_string_units = (std::size_t{1} << 29) - 24;

/// The longest array V8 can allocate with dense (FixedArray) elements on Node 20 (64-bit, no
/// pointer compression); longer arrays are written in the sparse format.
inline constexpr std::uint32_t max_dense_array_length = 134217725;

/// The largest canonical array index (2^32 - 2); `length` itself may be 2^32 - 1.
inline constexpr std::uint32_t max_array_index = 0xFFFFFFFEu;

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_TAGS_HPP
