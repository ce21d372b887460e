// SPDX-License-Identifier: MIT
/// @file
/// Binding a Unix stream socket to a path, as Node's primary does (a path made relative when
/// that is what fits in `sun_path`; the modes of `readableAll` and `writableAll`).
#ifndef COCLUSTER_DETAIL_NET_BIND_UNIX_HPP
#define COCLUSTER_DETAIL_NET_BIND_UNIX_HPP

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include "cocluster/detail/net/bind_spec.hpp"

namespace cocluster::detail {

/// The shorter of `absolute` and its path relative to the current directory, if it fits in
/// `sun_path` (Node's primary does this: test-cluster-net-listen-relative-path).
inline std::optional<std::string> fitting_unix_path(const std::string& absolute) {
  constexpr std::size_t limit = sizeof(sockaddr_un{}.sun_path) - 1;
  std::string best = absolute;
  std::error_code ec;
  const auto cwd = std::filesystem::current_path(ec);
  if (!ec) {
    const auto relative = std::filesystem::path(absolute).lexically_relative(cwd).string();
    if (!relative.empty() && relative.size() < best.size())
      best = relative;
  }
  if (best.size() > limit)
    return std::nullopt;
  return best;
}

/// Binds a close-on-exec, non-blocking Unix stream socket to `spec.path` and sets the file's
/// mode from `spec.readable_all` and `spec.writable_all`. On failure `failure` says why and the
/// result holds no descriptor.
inline bound_socket bind_unix(const bind_spec& spec, std::optional<bind_failure>& failure) {
  bound_socket result;
  const auto path = fitting_unix_path(spec.path);
  if (!path) {
    failure = bind_failure{std::make_error_code(std::errc::filename_too_long), "bind"};
    return result;
  }
  result.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!result.fd) {
    failure = errno_failure("socket");
    return result;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path->c_str(), path->size() + 1);
  if (::bind(result.fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    failure = errno_failure("bind");
    result.fd.reset();
    return result;
  }
  result.unlink_path = *path;
  if (spec.readable_all || spec.writable_all) {
    mode_t mode = S_IRUSR | S_IWUSR;
    if (spec.readable_all)
      mode |= S_IRGRP | S_IROTH;
    if (spec.writable_all)
      mode |= S_IWGRP | S_IWOTH;
    ::chmod(path->c_str(), mode);
  }
  return result;
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_BIND_UNIX_HPP
