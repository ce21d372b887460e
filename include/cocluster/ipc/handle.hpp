// SPDX-License-Identifier: MIT
/// @file
/// A socket or server that travels with a user message over the IPC channel (Node's
/// `worker.send(message, sendHandle[, options])` and `process.on('message', (m, handle) => ...)`).
#ifndef COCLUSTER_IPC_HANDLE_HPP
#define COCLUSTER_IPC_HANDLE_HPP

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/error.hpp"

namespace cocluster {

/// What a handle's descriptor is, read from the socket itself (`SO_DOMAIN`, `SO_TYPE`,
/// `SO_ACCEPTCONN`), never taken from what the peer says.
enum class handle_kind {
  /// A connected TCP socket (IPv4 or IPv6): `asio::ip::tcp::socket`.
  tcp_socket,
  /// A listening TCP socket: `asio::ip::tcp::acceptor`.
  tcp_acceptor,
  /// A connected Unix stream socket: `asio::local::stream_protocol::socket`.
  local_socket,
  /// A listening Unix stream socket: `asio::local::stream_protocol::acceptor`.
  local_acceptor,
  /// A UDP socket: `asio::ip::udp::socket`.
  udp_socket,
  /// Anything else (not a socket, another family or type): never sent nor delivered.
  other,
};

/// The name of a kind ("tcp_socket", ...).
/// @param kind the kind.
/// @return the enumerator's name, a static string; "other" for a value outside the enumeration.
inline const char* to_string(handle_kind kind) noexcept {
  switch (kind) {
  case handle_kind::tcp_socket: return "tcp_socket";
  case handle_kind::tcp_acceptor: return "tcp_acceptor";
  case handle_kind::local_socket: return "local_socket";
  case handle_kind::local_acceptor: return "local_acceptor";
  case handle_kind::udp_socket: return "udp_socket";
  case handle_kind::other: break;
  }
  return "other";
}

namespace detail {

/// The kind of socket `fd` is (`handle_kind::other` for what is no socket of ours).
inline handle_kind socket_kind(int fd) noexcept {
  int domain = 0, type = 0, listening = 0;
  socklen_t size = sizeof(int);
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &size) != 0)
    return handle_kind::other;
  size = sizeof(int);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) != 0)
    return handle_kind::other;
  size = sizeof(int);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0)
    listening = 0;
  const bool ip = domain == AF_INET || domain == AF_INET6;
  if (type == SOCK_STREAM && ip)
    return listening ? handle_kind::tcp_acceptor : handle_kind::tcp_socket;
  if (type == SOCK_STREAM && domain == AF_UNIX)
    return listening ? handle_kind::local_acceptor : handle_kind::local_socket;
  if (type == SOCK_DGRAM && ip)
    return handle_kind::udp_socket;
  return handle_kind::other;
}

/// True for an IPv6 socket.
inline bool is_ipv6_socket(int fd) noexcept {
  int domain = 0;
  socklen_t size = sizeof(int);
  return ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &size) == 0 && domain == AF_INET6;
}

} // namespace detail

/// A socket or a listening server passed with a user message: what `send(message, handle)` sends
/// and what a `handle_message` brings. It owns one descriptor (close-on-exec), which goes to the
/// first `take_*` or `release` call; copies of a handle share it, and the last copy closes it
/// if nobody took it. The receiver turns it into a plain Asio object on the executor of its
/// choice:
///
/// ```cpp
/// auto received = co_await handles.async_receive(asio::use_awaitable);
/// asio::ip::tcp::socket client = received.handle.take_tcp_socket(io.get_executor());
/// ```
///
/// The sender makes one from an Asio socket or acceptor, which it gives up (Node's default:
/// the sender's copy is closed once the peer acknowledged it), or with `keep_open` (Node's
/// `keepOpen`: the sender's object stays open and usable, a duplicate travels).
class handle {
public:
  /// An empty handle.
  handle() = default;

  /// Takes a connected stream socket (TCP or Unix) from `socket`, which is left closed. It
  /// travels as Node's `net.Socket`.
  /// @param socket an open, connected TCP or Unix stream socket; a closed one throws
  ///   `std::system_error` (Asio's `release` fails).
  template <class Protocol, class Executor>
  explicit handle(asio::basic_stream_socket<Protocol, Executor>&& socket)
      : handle(detail::unique_fd(socket.release()), "handle(socket)") {}

  /// Takes a listening socket from `acceptor`, which is left closed. It travels as Node's
  /// `net.Server`.
  /// @param acceptor an open, listening TCP or Unix stream acceptor; a closed one throws
  ///   `std::system_error` (Asio's `release` fails).
  template <class Protocol, class Executor>
  explicit handle(asio::basic_socket_acceptor<Protocol, Executor>&& acceptor)
      : handle(detail::unique_fd(acceptor.release()), "handle(acceptor)") {}

  /// Takes a UDP socket from `socket`, which is left closed. It travels as Node's
  /// `dgram.Socket`.
  /// @param socket an open UDP socket (bound or not); a closed one throws `std::system_error`
  ///   (Asio's `release` fails).
  template <class Protocol, class Executor>
  explicit handle(asio::basic_datagram_socket<Protocol, Executor>&& socket)
      : handle(detail::unique_fd(socket.release()), "handle(datagram socket)") {}

  /// Adopts a socket descriptor (closed by the handle from now on). Throws `std::system_error`
  /// with `errc::wrong_handle_kind` when it is not a TCP, Unix-stream or UDP socket.
  /// @param fd an open descriptor; on a throw it is closed too.
  /// @return a handle owning `fd`, of the kind the socket itself reports.
  static handle adopt(int fd) { return handle(detail::unique_fd(fd), "handle::adopt"); }

  /// Node's `keepOpen`: a handle to a duplicate of `object`'s descriptor (a socket, an
  /// acceptor), which stays open and usable in the sender.
  /// @param object any open Asio socket or acceptor (anything with `native_handle()`); it is
  ///   not changed. A failed `dup` throws `std::system_error` with its errno; a descriptor that
  ///   is not a socket of a known kind, `errc::wrong_handle_kind`.
  /// @return a handle owning the duplicate, `is_keep_open()` true.
  template <class AsioObject>
  static handle keep_open(AsioObject& object) {
    const int copy = ::fcntl(object.native_handle(), F_DUPFD_CLOEXEC, 0);
    if (copy < 0)
      throw std::system_error(errno, std::system_category(), "cocluster: handle::keep_open: dup");
    handle h(detail::unique_fd(copy), "handle::keep_open");
    h.keep_open_ = true;
    return h;
  }

  /// False for an empty handle, and once the descriptor was taken.
  explicit operator bool() const noexcept { return state_ && state_->fd; }

  /// What the descriptor is.
  /// @return the kind read from the socket when the handle was made (`other` for an empty
  ///   handle); it does not change once the descriptor is taken.
  handle_kind kind() const noexcept { return kind_; }

  /// True when made by `keep_open` (the sender kept its own object).
  /// @return whether the sender's object stays open after the peer's acknowledgement.
  bool is_keep_open() const noexcept { return keep_open_; }

  /// The descriptor, still owned by the handle (-1 when empty or taken).
  /// @return the descriptor; do not close it.
  int native_handle() const noexcept { return state_ ? state_->fd.get() : -1; }

  /// Gives up the descriptor to the caller, who must close it. Throws
  /// `errc::wrong_handle_kind` when it was already taken.
  /// @return the descriptor; every copy of this handle is empty from now on.
  int release() { return take("release").release(); }

  /// The connected TCP socket, on `executor`.
  /// @param executor the executor (or execution context) the socket runs on.
  /// @return the socket (IPv4 or IPv6, as it is); every copy of this handle is empty from now
  ///   on. Throws `std::system_error` with `errc::wrong_handle_kind` for another kind, or one
  ///   already taken.
  template <class Executor>
  asio::ip::tcp::socket take_tcp_socket(const Executor& executor) {
    auto fd = take(handle_kind::tcp_socket);
    const bool v6 = detail::is_ipv6_socket(fd.get());
    return asio::ip::tcp::socket(executor, v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(),
                                 fd.release());
  }

  /// The listening TCP socket, on `executor`.
  /// @param executor the executor (or execution context) the acceptor runs on.
  /// @return the acceptor; the handle is empty from now on. Throws as `take_tcp_socket` does.
  template <class Executor>
  asio::ip::tcp::acceptor take_tcp_acceptor(const Executor& executor) {
    auto fd = take(handle_kind::tcp_acceptor);
    const bool v6 = detail::is_ipv6_socket(fd.get());
    return asio::ip::tcp::acceptor(executor, v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(),
                                   fd.release());
  }

  /// The connected Unix stream socket, on `executor`.
  /// @param executor the executor (or execution context) the socket runs on.
  /// @return the socket; the handle is empty from now on. Throws as `take_tcp_socket` does.
  template <class Executor>
  asio::local::stream_protocol::socket take_local_socket(const Executor& executor) {
    auto fd = take(handle_kind::local_socket);
    return asio::local::stream_protocol::socket(executor, asio::local::stream_protocol(),
                                                fd.release());
  }

  /// The listening Unix stream socket, on `executor`.
  /// @param executor the executor (or execution context) the acceptor runs on.
  /// @return the acceptor; the handle is empty from now on. Throws as `take_tcp_socket` does.
  template <class Executor>
  asio::local::stream_protocol::acceptor take_local_acceptor(const Executor& executor) {
    auto fd = take(handle_kind::local_acceptor);
    return asio::local::stream_protocol::acceptor(executor, asio::local::stream_protocol(),
                                                  fd.release());
  }

  /// The UDP socket, on `executor`.
  /// @param executor the executor (or execution context) the socket runs on.
  /// @return the socket; the handle is empty from now on. Throws as `take_tcp_socket` does.
  template <class Executor>
  asio::ip::udp::socket take_udp_socket(const Executor& executor) {
    auto fd = take(handle_kind::udp_socket);
    const bool v6 = detail::is_ipv6_socket(fd.get());
    return asio::ip::udp::socket(executor, v6 ? asio::ip::udp::v6() : asio::ip::udp::v4(),
                                 fd.release());
  }

  /// Node's handle type on the wire for this kind: `net.Socket`, `net.Server` or
  /// `dgram.Socket`.
  /// @return the `type` field Node reads in a `NODE_HANDLE` message.
  std::string_view node_type() const noexcept {
    switch (kind_) {
    case handle_kind::tcp_acceptor:
    case handle_kind::local_acceptor: return "net.Server";
    case handle_kind::udp_socket: return "dgram.Socket";
    default: return "net.Socket";
    }
  }

  /// Takes the descriptor out (for the channel that sends it). Throws as `release` does.
  /// @return the descriptor, owned by the caller.
  detail::unique_fd take_descriptor() { return take("send"); }

private:
  handle(detail::unique_fd fd, const char* what) : kind_(detail::socket_kind(fd.get())) {
    if (!fd)
      throw std::system_error(make_error_code(errc::wrong_handle_kind),
                              std::string("cocluster: ") + what + ": the object is not open");
    if (kind_ == handle_kind::other)
      throw std::system_error(make_error_code(errc::wrong_handle_kind),
                              std::string("cocluster: ") + what +
                                  ": not a TCP, Unix stream or UDP socket");
    state_ = std::make_shared<shared_state>();
    state_->fd = std::move(fd);
  }

  struct shared_state {
    detail::unique_fd fd;
  };

  detail::unique_fd take(const char* what) {
    if (!*this)
      throw std::system_error(make_error_code(errc::wrong_handle_kind),
                              std::string("cocluster: handle: ") + what +
                                  ": the handle is empty or was already taken");
    return std::move(state_->fd);
  }

  detail::unique_fd take(handle_kind wanted) {
    if (*this && kind_ != wanted)
      throw std::system_error(make_error_code(errc::wrong_handle_kind),
                              std::string("cocluster: handle: take_") + to_string(wanted) +
                                  ": the handle is a " + to_string(kind_));
    return take("take");
  }

  std::shared_ptr<shared_state> state_;
  handle_kind kind_ = handle_kind::other;
  bool keep_open_ = false;
};

/// A user message that came with a handle (Node's `(message, handle)` pair).
template <class Value>
struct handle_message {
  /// The message.
  Value message;
  /// The socket or server that came with it.
  cocluster::handle handle;
};

} // namespace cocluster

#endif // COCLUSTER_IPC_HANDLE_HPP
