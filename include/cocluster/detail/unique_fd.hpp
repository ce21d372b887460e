// SPDX-License-Identifier: MIT
/// @file
/// Owns one file descriptor.
#ifndef COCLUSTER_DETAIL_UNIQUE_FD_HPP
#define COCLUSTER_DETAIL_UNIQUE_FD_HPP

#include <unistd.h>

#include <utility>

namespace cocluster::detail {

/// Closes its descriptor when destroyed. -1 means none.
class unique_fd {
public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other)
      reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  /// Gives up ownership without closing.
  int release() noexcept { return std::exchange(fd_, -1); }

  /// Closes the held descriptor (if any) and holds `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_ = -1;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_UNIQUE_FD_HPP
