// SPDX-License-Identifier: MIT
/// @file
/// The state behind a `basic_server`: accepting on a socket of its own, or taking the
/// connections the primary hands over (round-robin).
#ifndef COCLUSTER_DETAIL_NET_SERVER_IMPL_HPP
#define COCLUSTER_DETAIL_NET_SERVER_IMPL_HPP

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/async/waiter_list.hpp"
#include "cocluster/detail/connection_tracker.hpp"
#include "cocluster/detail/unique_fd.hpp"

namespace cocluster::detail {

/// One server. In `direct` mode it owns a listening descriptor (the primary's own servers, a
/// shared socket, a reuse_port or exclusive socket) and accepts only while the application waits
/// in `async_accept`, so connections it is not ready for stay in the kernel for other workers.
/// In `handed_over` mode the primary's round-robin listener offers connections; an offer is
/// acknowledged `accepted:true` only when the application takes it, and answered
/// `accepted:false` (the primary gives it to another worker) if the server closes first or is
/// at `max_connections`. No connection is lost either way. A worker's disconnect closes it with
/// `close_keeping_held()` instead: the offers it holds then are still the application's.
class server_impl : public std::enable_shared_from_this<server_impl> {
public:
  enum class mode { direct, handed_over };

  /// What the server tells its owner (the worker's server table); all optional.
  struct hooks {
    /// Answer the `newconn` whose seq this is.
    std::function<void(std::int64_t seq, bool accepted)> reply;
    /// The server closed (send `close`, free its listen index).
    std::function<void()> closed;
  };

  server_impl(asio::any_io_executor executor, mode m, unique_fd listening, nlohmann::json sockname,
              std::optional<std::size_t> max_connections,
              std::shared_ptr<connection_tracker> tracker, std::string unlink_path = {})
      : executor_(executor), mode_(m), listening_(executor), retry_(executor),
        sockname_(std::move(sockname)), max_connections_(max_connections),
        tracker_(tracker ? std::move(tracker) : std::make_shared<connection_tracker>()),
        unlink_path_(std::move(unlink_path)), waiters_(executor) {
    if (listening)
      listening_.assign(listening.release());
  }

  server_impl(const server_impl&) = delete;
  server_impl& operator=(const server_impl&) = delete;

  ~server_impl() { close(); }

  void set_hooks(hooks h) { hooks_ = std::move(h); }

  /// Node's `server.address()` data: {address, family, port} (null for Unix sockets).
  const nlohmann::json& sockname() const noexcept { return sockname_; }

  int port() const {
    if (sockname_.is_object())
      return sockname_.value("port", 0);
    return 0;
  }

  bool is_open() const noexcept { return open_; }

  const asio::any_io_executor& executor() const noexcept { return executor_; }

  /// The address family of this server's connections (all share the listening socket's),
  /// `AF_UNSPEC` until the first one is looked at.
  int connection_family = AF_UNSPEC;

  mode kind() const noexcept { return mode_; }

  connection_tracker& connections() noexcept { return *tracker_; }

  std::optional<std::size_t> max_connections() const noexcept { return max_connections_; }

  /// Waits for the next connection. Completion signature: `void(std::error_code, unique_fd)`.
  template <class Token>
  auto async_accept(Token&& token) {
    return asio::async_initiate<Token, void(error_code, unique_fd)>(
        [self = shared_from_this()](auto handler) {
          if (!self->open_ && self->held_.empty()) {
            erased_handler<unique_fd>(std::move(handler), self->executor_)
                .complete(make_error_code(asio::error::operation_aborted), unique_fd());
            return;
          }
          self->waiters_.add(std::move(handler));
          self->serve_waiters();
        },
        token);
  }

  /// A connection handed over by the primary (`newconn` with sequence number `seq`).
  void offer(unique_fd fd, std::int64_t seq) {
    if (!open_ || at_limit()) {
      answer(seq, false);
      return; // `fd` closes: the primary keeps its own copy and gives it to another worker
    }
    held_.push_back({std::move(fd), seq});
    serve_waiters();
  }

  /// Stops accepting. Offers not taken yet are refused (they go to other workers); waiting
  /// accepts complete with `asio::error::operation_aborted`. Open connections are not touched.
  /// After `close_keeping_held()`, refuses the offers still held.
  void close() { shut(false); }

  /// Stops accepting, as `close()` does, for a worker that leaves (its disconnect): new offers
  /// are refused, but those it holds were handed to it before the primary asked it to leave
  /// (Node's worker would have served them already: it takes a handed connection at once), and
  /// the primary may have nobody else for them (a hot upgrade retires every worker). So they
  /// stay for the application's next accepts; `async_accept` completes with
  /// `asio::error::operation_aborted` once none is left, and `close()` refuses the rest.
  void close_keeping_held() { shut(mode_ == mode::handed_over); }

  /// Offers held for the application's accepts (after `close_keeping_held()`, what is left).
  std::size_t held() const noexcept { return held_.size(); }

private:
  // Descriptors re-checked per limit test: enough to prune faster than connections arrive (one
  // is added per accept), few enough to keep the accept path cheap.
  static constexpr std::size_t limit_checks = 2;

  // Open connections, for the limit: a cheap estimate, made exact when it says "at the limit"
  // (the estimate may still count connections that closed since the last checks).
  std::size_t open_connections() {
    const auto estimate = tracker_->count(limit_checks);
    return max_connections_ && estimate >= *max_connections_ ? tracker_->exact_count() : estimate;
  }

  struct held_connection {
    unique_fd fd;
    std::int64_t seq;
  };

  bool at_limit() {
    return max_connections_ && open_connections() + held_.size() >= *max_connections_;
  }

  void shut(bool keep_held) {
    const bool was_open = std::exchange(open_, false);
    if (was_open) {
      error_code ignored;
      listening_.cancel(ignored);
      listening_.close(ignored);
      retry_.cancel();
      if (!unlink_path_.empty())
        ::unlink(unlink_path_.c_str());
    }
    if (!keep_held) {
      auto held = std::move(held_);
      held_.clear();
      for (auto& offer : held)
        answer(offer.seq, false);
    }
    if (held_.empty())
      waiters_.abort_all(make_error_code(asio::error::operation_aborted));
    if (was_open && hooks_.closed) {
      auto closed = std::move(hooks_.closed);
      hooks_.closed = nullptr;
      closed();
    }
  }

  void answer(std::int64_t seq, bool accepted) {
    if (hooks_.reply)
      hooks_.reply(seq, accepted);
  }

  void hand_out(unique_fd fd) {
    tracker_->add(fd.get());
    waiters_.complete_one({}, std::move(fd));
  }

  // Gives connections to waiting accepts while both exist.
  void serve_waiters() {
    if (mode_ == mode::handed_over) {
      while (!waiters_.empty() && !held_.empty()) {
        auto offer = std::move(held_.front());
        held_.pop_front();
        answer(offer.seq, true);
        hand_out(std::move(offer.fd));
      }
      if (!open_ && held_.empty()) // closed, keeping held offers: the last is taken
        waiters_.abort_all(make_error_code(asio::error::operation_aborted));
      return;
    }
    while (open_ && !waiters_.empty()) {
      if (max_connections_ && open_connections() >= *max_connections_) {
        // Leave connections in the kernel (other workers may take them) and look again soon.
        schedule_retry(std::chrono::milliseconds(10));
        return;
      }
      const int fd = ::accept4(listening_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        hand_out(unique_fd(fd));
        continue;
      }
      const int error = errno;
      if (error == EAGAIN || error == EWOULDBLOCK) {
        wait_readable();
        return;
      }
      if (error == EINTR || error == ECONNABORTED || error == EPROTO || error == EPERM)
        continue; // the connection went away before we took it: take the next
      // Out of descriptors (EMFILE, ENFILE) or memory: tell one waiter, as an acceptor would,
      // and try again a little later.
      waiters_.complete_one(std::error_code(error, std::system_category()), unique_fd());
      schedule_retry(std::chrono::milliseconds(50));
      return;
    }
  }

  void wait_readable() {
    if (waiting_)
      return;
    waiting_ = true;
    listening_.async_wait(asio::posix::descriptor_base::wait_read,
                          [weak = weak_from_this()](std::error_code ec) {
                            auto self = weak.lock();
                            if (!self)
                              return;
                            self->waiting_ = false;
                            if (!ec && self->open_)
                              self->serve_waiters();
                          });
  }

  void schedule_retry(std::chrono::milliseconds delay) {
    if (retry_pending_)
      return;
    retry_pending_ = true;
    retry_.expires_after(delay);
    retry_.async_wait([weak = weak_from_this()](std::error_code ec) {
      auto self = weak.lock();
      if (!self)
        return;
      self->retry_pending_ = false;
      if (!ec && self->open_)
        self->serve_waiters();
    });
  }

  asio::any_io_executor executor_;
  mode mode_;
  asio::posix::stream_descriptor listening_;
  asio::steady_timer retry_;
  nlohmann::json sockname_;
  std::optional<std::size_t> max_connections_;
  std::shared_ptr<connection_tracker> tracker_;
  std::string unlink_path_;
  hooks hooks_;
  waiter_list<unique_fd> waiters_;
  std::deque<held_connection> held_;
  bool open_ = true;
  bool waiting_ = false;
  bool retry_pending_ = false;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_SERVER_IMPL_HPP
