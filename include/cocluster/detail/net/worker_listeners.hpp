// SPDX-License-Identifier: MIT
/// @file
/// The three ways a worker's server gets its connections, one function each, the worker's
/// side of the primary's handles: a shared socket (`shared_handle.hpp`: the primary bound it,
/// the worker listens and accepts on it), a port the primary reserved (`shared_handle.hpp`
/// under `reuse_port`: the worker binds a socket of its own beside the others), and the
/// connections the primary accepts and hands over (`accepting_handle.hpp`: round-robin).
#ifndef COCLUSTER_DETAIL_NET_WORKER_LISTENERS_HPP
#define COCLUSTER_DETAIL_NET_WORKER_LISTENERS_HPP

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "cocluster/config.hpp"
#include "cocluster/detail/connection_tracker.hpp"
#include "cocluster/detail/net/listen_here.hpp"
#include "cocluster/detail/net/listen_request.hpp"
#include "cocluster/detail/net/server_impl.hpp"
#include "cocluster/detail/net/socket_ops.hpp"
#include "cocluster/detail/unique_fd.hpp"

namespace cocluster::detail {

/// A server on the socket `fd` the primary bound and passed (Node's SCHED_NONE; a pool slot's
/// SO_REUSEPORT socket): listened on here unless it listens already (a systemd socket keeps
/// its unit's `Backlog=`, another worker's listen its first backlog). Throws
/// `std::system_error` when `listen` fails or the socket is on another port than the one asked
/// for (Node's checkBindError; a systemd socket asked for by name may be on any port).
inline std::shared_ptr<server_impl> listen_on_shared_socket(
    const asio::any_io_executor& executor, const listen_request& request, unique_fd fd,
    std::shared_ptr<connection_tracker> tracker) {
  int accepting = 0;
  socklen_t accepting_length = sizeof accepting;
  const bool listening = ::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &accepting,
                                      &accepting_length) == 0 &&
                         accepting != 0;
  if (!listening && ::listen(fd.get(), request.backlog) != 0)
    throw std::system_error(errno, std::system_category(),
                            "cocluster: listen: " + request.describe("listen"));
  int port = 0;
  auto sockname = sockname_of(fd.get(), &port);
  if (request.port > 0 && port != request.port && !request.systemd_name)
    throw std::system_error(std::make_error_code(std::errc::address_in_use),
                            "cocluster: listen: " + request.describe("bind"));
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return std::make_shared<server_impl>(executor, server_impl::mode::direct, std::move(fd),
                                       std::move(sockname), request.max_connections,
                                       std::move(tracker));
}

/// A server on a socket of this worker's own, bound with SO_REUSEPORT on the port the primary
/// reserved (`sockname`'s port: the one asked for, or what port 0 got). Throws
/// `std::system_error` when the bind fails.
inline std::shared_ptr<server_impl> listen_on_reserved_port(
    const asio::any_io_executor& executor, const listen_request& request,
    const nlohmann::json& sockname, std::shared_ptr<connection_tracker> tracker) {
  auto own = request;
  own.port = sockname.value("port", request.port);
  return listen_directly(executor, own, true, std::move(tracker));
}

/// A server that takes the connections the primary accepts and offers it (round-robin and the
/// other policies where the primary accepts). Node's `server.address()` is `sockname`.
inline std::shared_ptr<server_impl> take_handed_connections(
    const asio::any_io_executor& executor, const listen_request& request, nlohmann::json sockname,
    std::shared_ptr<connection_tracker> tracker) {
  return std::make_shared<server_impl>(executor, server_impl::mode::handed_over, unique_fd(),
                                       std::move(sockname), request.max_connections,
                                       std::move(tracker));
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_WORKER_LISTENERS_HPP
