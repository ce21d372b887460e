// SPDX-License-Identifier: MIT
/// @file
/// Frames messages for the IPC channel, the counterpart of frame_reader. Pure: no I/O.
#ifndef COCLUSTER_DETAIL_IPC_FRAME_WRITER_HPP
#define COCLUSTER_DETAIL_IPC_FRAME_WRITER_HPP

#include <cstddef>
#include <string>
#include <system_error>

#include "cocluster/error.hpp"
#include "cocluster/serialization/policy.hpp"

namespace cocluster::detail {

/// Writes frames in one of Node's two framings into a buffer, in place: `begin` before the
/// message is encoded at the end of the buffer, `end` after it. A line for
/// `framing::newline_delimited`; a u32 big-endian length, then the body, for
/// `framing::length_prefixed`.
class frame_writer {
public:
  explicit frame_writer(framing format) noexcept : format_(format) {}

  /// Starts a frame at the end of `out`; returns where it starts.
  std::size_t begin(std::string& out) const {
    const std::size_t start = out.size();
    if (format_ == framing::length_prefixed)
      out.append(4, '\0');
    return start;
  }

  /// Ends the frame that `begin` started at `start`: its length prefix, or its newline.
  /// @throws std::system_error `errc::unencodable_value` for a body over 4 GiB.
  void end(std::string& out, std::size_t start) const {
    if (format_ == framing::newline_delimited) {
      out.push_back('\n');
      return;
    }
    const std::size_t length = out.size() - start - 4;
    if (length > 0xffffffffu)
      throw std::system_error(make_error_code(errc::unencodable_value),
                              "cocluster: message over 4 GiB");
    for (std::size_t i = 0; i < 4; ++i)
      out[start + i] = static_cast<char>((length >> (24 - 8 * i)) & 0xff);
  }

private:
  framing format_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_FRAME_WRITER_HPP
