// SPDX-License-Identifier: MIT
/// @file
/// `sendmsg`/`recvmsg` on a stream socket, with file descriptors in SCM_RIGHTS.
///
/// Asio has no fd-passing API. Every read of an IPC socket goes through `receive_with_fds`: a
/// plain `read` would drop descriptors attached to the bytes it returns, silently.
#ifndef COCLUSTER_DETAIL_IPC_FD_IO_HPP
#define COCLUSTER_DETAIL_IPC_FD_IO_HPP

#include <sys/socket.h>
#include <sys/types.h>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <system_error>
#include <vector>

#include "cocluster/detail/unique_fd.hpp"

namespace cocluster::detail {

/// True when `ec`, set by the functions below, says the socket would block (EAGAIN). Compares
/// values, without the virtual calls of a comparison with `std::errc`.
inline bool would_block(const std::error_code& ec) noexcept {
  return ec && ec.category() == std::system_category() &&
         (ec.value() == EAGAIN || ec.value() == EWOULDBLOCK);
}

/// What one `recvmsg` brought.
struct received {
  std::size_t bytes = 0;
  /// The peer closed its end (and `bytes` is 0).
  bool eof = false;
  /// The kernel dropped descriptors (MSG_CTRUNC): the receiver was out of descriptors or space.
  bool descriptors_lost = false;
};

/// Receives into `buffer`; descriptors that came with the bytes are appended to `fds`, close-on-
/// exec. Returns the error (EAGAIN when nothing is there) in `ec`.
inline received receive_with_fds(int socket, char* buffer, std::size_t size,
                                 std::vector<unique_fd>& fds, std::error_code& ec) {
  // A Node peer sends one descriptor per message; room for many costs nothing and keeps a
  // misbehaving peer from making the kernel truncate (and so lose) descriptors.
  constexpr std::size_t max_fds = 64;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)];

  iovec iov{buffer, size};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);

  received result;
  ssize_t n;
  do
    n = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    ec.assign(errno, std::system_category());
    return result;
  }
  ec.clear();
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
  result.bytes = static_cast<std::size_t>(n);
  result.eof = (n == 0);
  result.descriptors_lost = (message.msg_flags & MSG_CTRUNC) != 0;
  return result;
}

/// Sends `size` bytes; if `fd` >= 0 it travels with the first byte. Never raises SIGPIPE.
/// Returns the bytes written (a short write is possible), or 0 with the error in `ec`.
inline std::size_t send_with_fd(int socket, const char* data, std::size_t size, int fd,
                                std::error_code& ec) {
  iovec iov{const_cast<char*>(data), size};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    std::memset(control, 0, sizeof(control));
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  ssize_t n;
  do
    n = ::sendmsg(socket, &message, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    ec.assign(errno, std::system_category());
    return 0;
  }
  ec.clear();
  return static_cast<std::size_t>(n);
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_FD_IO_HPP
