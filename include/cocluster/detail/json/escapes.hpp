// SPDX-License-Identifier: MIT
/// @file
/// JSON's two-character escapes, shared by the fast JSON reader and writer.
#ifndef COCLUSTER_DETAIL_JSON_ESCAPES_HPP
#define COCLUSTER_DETAIL_JSON_ESCAPES_HPP

namespace cocluster::detail {

/// One two-character escape: the letter after the backslash and the character it stands for.
struct json_short_escape {
  char letter;
  char character;
};

/// The escapes `JSON.stringify` and nlohmann write (`\/` is only ever read).
inline constexpr json_short_escape json_short_escapes[] = {{'"', '"'},  {'\\', '\\'}, {'b', '\b'},
                                                           {'f', '\f'}, {'n', '\n'},  {'r', '\r'},
                                                           {'t', '\t'}};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_JSON_ESCAPES_HPP
