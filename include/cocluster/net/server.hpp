// SPDX-License-Identifier: MIT
/// @file
/// `basic_server`: what `listen` gives — an acceptor whose connections are plain Asio sockets.
#ifndef COCLUSTER_NET_SERVER_HPP
#define COCLUSTER_NET_SERVER_HPP

#include <sys/socket.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/transform_handler.hpp"
#include "cocluster/detail/net/server_impl.hpp"
#include "cocluster/detail/unique_fd.hpp"

namespace cocluster {

namespace detail {

template <class Protocol>
Protocol protocol_of(int fd);

template <>
inline asio::ip::tcp protocol_of<asio::ip::tcp>(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  return storage.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4();
}

template <>
inline asio::local::stream_protocol protocol_of<asio::local::stream_protocol>(int) {
  return asio::local::stream_protocol();
}

/// The protocol of a connection `server` accepted: every connection of one server has its
/// listening socket's family, so it is looked up once.
template <class Protocol>
Protocol connection_protocol(int fd, server_impl& server) {
  if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
    if (server.connection_family == AF_UNSPEC)
      server.connection_family = protocol_of<Protocol>(fd).family();
    return server.connection_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4();
  } else {
    return protocol_of<Protocol>(fd);
  }
}

} // namespace detail

/// A listening server: in a worker, its share of a port served by the whole cluster; in the
/// primary, an ordinary server. `async_accept` yields plain `Protocol::socket`s, so any
/// Asio-based server code works unchanged.
///
/// The server closes when `close()` is called or its last handle is destroyed. Connections
/// already accepted are the application's: they stay open. A worker's graceful disconnect waits
/// for them (see `cluster_options::drain_timeout`).
///
/// @par Example
/// A worker's share of port 8000 (`examples/hello.cpp`):
/// @code
/// cocluster::tcp_server server = co_await cluster.listen(cocluster::tcp_listen_options(8000));
/// for (;;) {
///   asio::ip::tcp::socket client = co_await server.async_accept(asio::use_awaitable);
///   co_await asio::async_write(client, asio::buffer(reply), asio::use_awaitable);
/// }
/// @endcode
///
/// @par Thread Safety
/// Use from the thread that runs the cluster's `io_context`.
///
/// @tparam Protocol `asio::ip::tcp` (`tcp_server`) or `asio::local::stream_protocol`
/// (`unix_server`).
template <class Protocol>
class basic_server {
public:
  /// The Asio protocol: `asio::ip::tcp` or `asio::local::stream_protocol`.
  using protocol_type = Protocol;
  /// What `async_accept` yields: the protocol's plain socket.
  using socket_type = typename Protocol::socket;
  /// The protocol's endpoint type.
  using endpoint_type = typename Protocol::endpoint;

  basic_server() = default;

  /// Made by the cluster (`cluster::listen`, `cluster::async_listen`); users do not call it.
  /// @param impl the cluster's state of this server, shared with the cluster's listeners.
  explicit basic_server(std::shared_ptr<detail::server_impl> impl) noexcept
      : impl_(std::move(impl)) {}

  /// True unless empty.
  explicit operator bool() const noexcept { return impl_ != nullptr; }

  /// Waits for the next connection.
  ///
  /// @par Completion Signature
  /// `void(std::error_code, socket_type)`; `asio::error::operation_aborted` once the server is
  /// closed, a system error (EMFILE, ...) if accepting failed.
  ///
  /// @par Per-Operation Cancellation
  /// All types: the wait ends with `asio::error::operation_aborted`; no connection is taken.
  ///
  /// @param token the completion token (`asio::use_awaitable` by default: `co_await` gives the
  ///   socket, or throws `std::system_error`).
  /// @return whatever `token` makes of the operation.
  template <
      asio::completion_token_for<void(error_code, socket_type)> Token = asio::use_awaitable_t<>>
  auto async_accept(Token&& token = {}) {
    return asio::async_initiate<Token, void(error_code, socket_type)>(
        [impl = impl_](auto handler) {
          impl->async_accept(detail::transform_handler<decltype(handler), to_socket>{
              std::move(handler), to_socket{impl}});
        },
        token);
  }

  /// The address the server is reachable at. In a round-robin worker this is the primary's
  /// listening socket (Node's `server.address()`); for Unix sockets an empty endpoint.
  /// @return the address and port the primary reported (a default endpoint when unknown).
  endpoint_type local_endpoint() const {
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      const auto& name = impl_->sockname();
      if (!name.is_object())
        return {};
      error_code ec;
      auto address = asio::ip::make_address(name.value("address", std::string()), ec);
      return endpoint_type(address, static_cast<unsigned short>(name.value("port", 0)));
    } else {
      return {};
    }
  }

  /// The port (0 for Unix sockets).
  /// @return the port bound, the one the primary picked when `listen` asked for port 0.
  int port() const { return impl_->port(); }

  /// Stops accepting (Node's `server.close()`); open connections are not touched.
  void close() { impl_->close(); }

  /// False once closed.
  /// @return true until `close()` (or the cluster's disconnect) closes it.
  bool is_open() const noexcept { return impl_->is_open(); }

  /// Connections accepted through this server and still open.
  /// @return the count, every connection checked now: one counts until the descriptor it was
  ///   accepted on is closed (or names another socket).
  std::size_t open_connections() const { return impl_->connections().exact_count(); }

private:
  struct to_socket {
    std::shared_ptr<detail::server_impl> server;
    socket_type operator()(error_code& ec, detail::unique_fd fd) const {
      socket_type socket(server->executor());
      if (!ec && fd) {
        const int native = fd.get();
        socket.assign(detail::connection_protocol<Protocol>(native, *server), fd.release(), ec);
      }
      return socket;
    }
  };

  std::shared_ptr<detail::server_impl> impl_;
};

/// A TCP server.
using tcp_server = basic_server<asio::ip::tcp>;
/// A Unix stream socket server.
using unix_server = basic_server<asio::local::stream_protocol>;

} // namespace cocluster

#endif // COCLUSTER_NET_SERVER_HPP
