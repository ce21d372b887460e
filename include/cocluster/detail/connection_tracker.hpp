// SPDX-License-Identifier: MIT
/// @file
/// Counts a server's open connections without wrapping the sockets it hands out.
#ifndef COCLUSTER_DETAIL_CONNECTION_TRACKER_HPP
#define COCLUSTER_DETAIL_CONNECTION_TRACKER_HPP

#include <sys/socket.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cocluster::detail {

/// The application gets plain Asio sockets, so their closing cannot be observed directly.
/// Instead each handed-out socket is remembered as (descriptor, device, inode): the connection
/// is open while that descriptor still names that very socket. Closing it (or moving it to a
/// socket object that later closes) ends it; a recycled descriptor number names another inode.
class connection_tracker {
public:
  /// Remembers the socket `fd` refers to now, and re-checks two older entries, so that the
  /// list stays bounded by the connections really open however long the server runs.
  void add(int fd) {
    count(2);
    struct stat info{};
    if (::fstat(fd, &info) == 0)
      open_.push_back({fd, info.st_dev, info.st_ino});
  }

  /// Connections believed open; `check_some` of them are checked first (amortized pruning, so
  /// the accept path stays O(1)).
  std::size_t count(std::size_t check_some = 16) {
    for (std::size_t i = 0; i < check_some && !open_.empty(); ++i) {
      if (cursor_ >= open_.size())
        cursor_ = 0;
      if (still_open(open_[cursor_])) {
        ++cursor_;
      } else {
        open_[cursor_] = open_.back();
        open_.pop_back();
        ++closed_;
      }
    }
    return open_.size();
  }

  /// Connections open now (checks every one).
  std::size_t exact_count() { return count(open_.size()); }

  /// Connections found ended so far, in all (only grows; `count` finds them).
  std::uint64_t closed() const { return closed_; }

  /// Ends every open connection (`shutdown`): their owners see end of file and errors.
  void shut_down_all() {
    for (const auto& connection : open_)
      if (still_open(connection))
        ::shutdown(connection.fd, SHUT_RDWR);
    closed_ += open_.size();
    open_.clear();
  }

private:
  struct entry {
    int fd;
    dev_t device;
    ino_t inode;
  };

  static bool still_open(const entry& e) {
    struct stat info{};
    return ::fstat(e.fd, &info) == 0 && info.st_ino == e.inode && info.st_dev == e.device;
  }

  std::vector<entry> open_;
  std::size_t cursor_ = 0;
  std::uint64_t closed_ = 0;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CONNECTION_TRACKER_HPP
