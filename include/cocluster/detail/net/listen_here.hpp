// SPDX-License-Identifier: MIT
/// @file
/// Binding in this process (not through the primary): the primary's own servers and sockets,
/// a worker's exclusive ones, and a `reuse_port` worker's socket of its own. A failure throws
/// a `std::system_error` that names the call and the address, as Node's errors do.
#ifndef COCLUSTER_DETAIL_NET_LISTEN_HERE_HPP
#define COCLUSTER_DETAIL_NET_LISTEN_HERE_HPP

#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/net/listen_request.hpp"
#include "cocluster/detail/net/server_impl.hpp"
#include "cocluster/detail/net/socket_ops.hpp"
#include "cocluster/detail/unique_fd.hpp"

namespace cocluster::detail {

/// Binds `request` here (with SO_REUSEPORT when `reuse_port`), listening when it is a stream
/// socket. Throws `std::system_error` "cocluster: <call>: <syscall> <address>" on failure.
inline bound_socket bind_here(const listen_request& request, const char* call,
                              bool reuse_port = false) {
  auto spec = request.spec();
  spec.reuse_port = reuse_port;
  std::optional<bind_failure> failure;
  auto bound = bind_socket(spec, failure);
  if (failure)
    throw std::system_error(failure->code, std::string("cocluster: ") + call + ": " +
                                               request.describe(failure->syscall));
  return bound;
}

/// Makes a server on a socket bound here (the primary's own servers; exclusive servers).
/// `tracker` counts its connections (a fresh one when null).
inline std::shared_ptr<server_impl> listen_directly(
    const asio::any_io_executor& executor, const listen_request& request, bool reuse_port = false,
    std::shared_ptr<connection_tracker> tracker = nullptr) {
  auto bound = bind_here(request, "listen", reuse_port);
  return std::make_shared<server_impl>(executor, server_impl::mode::direct, std::move(bound.fd),
                                       bound.sockname, request.max_connections, std::move(tracker),
                                       bound.unlink_path);
}

/// Binds a UDP socket here.
inline unique_fd bind_udp_directly(const listen_request& request) {
  return std::move(bind_here(request, "bind").fd);
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_LISTEN_HERE_HPP
