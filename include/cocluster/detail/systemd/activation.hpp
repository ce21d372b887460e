// SPDX-License-Identifier: MIT
/// @file
/// systemd socket activation, the decisions: which descriptors the environment passes
/// (`sd_listen_fds` semantics: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), and which passed socket
/// a listen takes. Pure functions, no I/O: the caller reads the environment and asks the kernel
/// what each descriptor is.
#ifndef COCLUSTER_DETAIL_SYSTEMD_ACTIVATION_HPP
#define COCLUSTER_DETAIL_SYSTEMD_ACTIVATION_HPP

#include <charconv>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cocluster::detail {

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
inline constexpr int listen_fds_start = 3;

/// What the activation variables say: descriptors `listen_fds_start` .. + `count` - 1, and their
/// names (`FileDescriptorName=`), "unknown" where none was given, as `sd_listen_fds_with_names`.
struct listen_fds {
  /// How many descriptors, from `listen_fds_start`.
  int count = 0;
  /// One name a descriptor.
  std::vector<std::string> names;
};

/// A whole decimal number, or nothing.
inline std::optional<long long> parse_decimal(std::string_view text) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

/// Reads the activation variables (null: unset). Nothing unless LISTEN_PID is `our_pid` and
/// LISTEN_FDS a count from 1 (they were meant for another process, or there is nothing). Names
/// are split at ':'; when their number is not the count they are ignored (every descriptor is
/// "unknown") rather than failing the activation.
inline std::optional<listen_fds> parse_listen_fds(const char* pid, const char* fds,
                                                  const char* names, long long our_pid) {
  if (!pid || !fds)
    return std::nullopt;
  const auto for_pid = parse_decimal(pid);
  const auto count = parse_decimal(fds);
  // (the descriptors must fit in an int: at most INT_MAX - 3 of them)
  if (!for_pid || *for_pid != our_pid || !count || *count < 1 || *count > 65536)
    return std::nullopt;
  listen_fds result;
  result.count = static_cast<int>(*count);
  if (names) {
    std::string_view rest(names);
    for (;;) {
      const auto colon = rest.find(':');
      result.names.emplace_back(rest.substr(0, colon));
      if (colon == std::string_view::npos)
        break;
      rest.remove_prefix(colon + 1);
    }
  }
  if (result.names.size() != static_cast<std::size_t>(result.count))
    result.names.assign(static_cast<std::size_t>(result.count), "unknown");
  return result;
}

/// What kind of socket a passed descriptor is.
enum class activated_kind {
  tcp,         ///< a stream socket over IPv4 or IPv6
  udp,         ///< a datagram socket over IPv4 or IPv6
  unix_stream, ///< a Unix stream socket
  other,       ///< anything else (a FIFO, a Unix datagram socket, ...): never matched
};

/// One passed descriptor, as the kernel describes it.
struct activated_socket {
  /// The descriptor.
  int fd = -1;
  /// Its name (`FileDescriptorName=`; "unknown" if none).
  std::string name;
  /// Its kind.
  activated_kind kind = activated_kind::other;
  /// The bound address in text ("127.0.0.1", "::"); empty for a Unix socket.
  std::string address;
  /// The bound port (IP sockets).
  int port = 0;
  /// The bound path (Unix sockets).
  std::string path;
};

/// What a listen asks for, in the terms of the match.
struct listen_wish {
  /// `tcp`, `udp` or `unix_stream`.
  activated_kind kind = activated_kind::tcp;
  /// The address asked for (nothing, or a wildcard: any address).
  std::optional<std::string> address;
  /// The port asked for (0: no port, match by name only).
  int port = 0;
  /// The path of a Unix socket.
  std::string path;
  /// The socket name asked for (`FileDescriptorName=`), if any.
  std::optional<std::string> name;
};

/// "0.0.0.0" and "::": any address.
inline bool is_wildcard_address(std::string_view address) {
  return address == "0.0.0.0" || address == "::" || address.empty();
}

/// The index in `sockets` of the one a listen takes, or nothing (the listen binds as without
/// activation). A name picks the first socket of that name and kind, whatever its address. Else
/// a Unix socket matches by path; an IP socket by kind and port (not 0) and address: equal, or
/// either side any address (systemd's unit decides where the socket listens: a program that
/// listens on "any" takes `ListenStream=127.0.0.1:8000`, and one that names 127.0.0.1 takes a
/// socket bound to every address, since binding its own would fail on that port anyway). The
/// first match wins.
inline std::optional<std::size_t> match_activated(const listen_wish& wish,
                                                  std::span<const activated_socket> sockets) {
  if (wish.name)
    for (std::size_t i = 0; i < sockets.size(); ++i)
      if (sockets[i].kind == wish.kind && sockets[i].name == *wish.name)
        return i;
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    const auto& s = sockets[i];
    if (s.kind != wish.kind)
      continue;
    if (wish.kind == activated_kind::unix_stream) {
      if (!wish.path.empty() && s.path == wish.path)
        return i;
      continue;
    }
    if (wish.port <= 0 || s.port != wish.port)
      continue;
    if (!wish.address || is_wildcard_address(*wish.address) || is_wildcard_address(s.address) ||
        *wish.address == s.address)
      return i;
  }
  return std::nullopt;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_SYSTEMD_ACTIVATION_HPP
