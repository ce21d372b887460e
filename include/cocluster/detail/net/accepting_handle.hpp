// SPDX-License-Identifier: MIT
/// @file
/// The primary accepts and hands each connection to the worker a scheduling policy picks
/// (Node's RoundRobinHandle, with its known bugs fixed), for every policy whose mode is
/// `primary_accepts`: round_robin, least_connections, ip_hash and custom ones.
#ifndef COCLUSTER_DETAIL_NET_ACCEPTING_HANDLE_HPP
#define COCLUSTER_DETAIL_NET_ACCEPTING_HANDLE_HPP

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/handler_turn.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/net/handle_entry.hpp"
#include "cocluster/detail/net/socket_ops.hpp"
#include "cocluster/detail/scheduling/handoff_table.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/net/handoff_options.hpp"
#include "cocluster/scheduling/policy.hpp"

namespace cocluster::detail {

/// Accepts on the primary's socket and hands connections over.
///
/// Fixes against Node's RoundRobinHandle:
/// - a connection handed to a worker that disconnects or dies before answering goes to another
///   worker instead of hanging (nodejs/node#21746, #3551);
/// - queued connections survive worker churn as long as one worker remains;
/// - a connection every worker refused waits and is offered again, instead of bouncing in a busy
///   loop; nothing asserts.
/// Connections are accepted only while a worker can take them, and at most `max_queue` wait in
/// the primary: the rest wait in the kernel's backlog.
template <scheduling_policy Policy, class Worker>
class accepting_handle final
    : public handle_entry<Worker>,
      public std::enable_shared_from_this<accepting_handle<Policy, Worker>> {
public:
  accepting_handle(asio::any_io_executor executor, std::string key, bound_socket socket,
                   handoff_options windows, bool unix_socket)
      : executor_(executor), key_(std::move(key)), socket_(std::move(socket)), listening_(executor),
        retry_(executor), recheck_(executor), windows_(windows), unix_(unix_socket),
        table_(windows.stall_timeout) {
    listening_.assign(socket_.fd.release());
  }

  ~accepting_handle() override { close(); }

  bool has(const Worker& worker) const override { return table_.has(worker.id()); }

  join_reply add(Worker& worker) override {
    workers_[worker.id()] = worker.weak_from_this();
    table_.add(worker.id(),
               worker.is_cocluster_peer() ? windows_.cocluster_peer : windows_.node_peer);
    asio::post(executor_, [weak = this->weak_from_this()] {
      if (auto self = weak.lock())
        self->dispatch();
    });
    join_reply reply;
    reply.sockname = unix_ ? nlohmann::json(nullptr) : socket_.sockname;
    if constexpr (requires { Policy::tracks_connections; })
      reply.track = Policy::tracks_connections;
    return reply;
  }

  bool retire(Worker& worker) override {
    const bool empty = table_.retire(worker.id());
    forget_gone_workers();
    dispatch();
    return empty;
  }

  bool remove(Worker& worker) override {
    const bool empty = table_.remove(worker.id());
    forget_gone_workers();
    if (empty)
      return true;
    dispatch();
    return false;
  }

  void report_load(Worker& worker, const protocol::connection_counts& counts) override {
    table_.report_counts(worker.id(), counts.open, counts.closed);
  }

  void add_handover_sockets(const std::string& key, std::vector<handover_socket>& out) override {
    if (!closed_ && listening_.is_open())
      out.push_back({listening_.native_handle(), handover_key_name(key)});
  }

  void hand_over() override {
    socket_.unlink_path.clear(); // the new primary's now
    if (closed_ || !listening_.is_open())
      return;
    error_code ignored;
    listening_.cancel(ignored);
    listening_.close(ignored); // our descriptor only: the new primary's stays open
    // What this primary accepted and has not sent yet (queued here, or waiting for room in a
    // worker's window) goes to the workers now, all of it: the pool retires them next, and a
    // connection still here when the last one has left would be closed unanswered. Sent before
    // the workers' disconnect on the same channel, it reaches each worker first, and a worker
    // that leaves still serves what it holds (worker_servers::close_all). No more will come, so
    // the windows no longer matter.
    table_.lift_windows();
    dispatch();
  }

  void close() override {
    if (closed_)
      return;
    closed_ = true;
    error_code ignored;
    listening_.cancel(ignored);
    listening_.close(ignored);
    retry_.cancel();
    recheck_.cancel();
    if (!socket_.unlink_path.empty())
      ::unlink(socket_.unlink_path.c_str());
    table_.clear();
    workers_.clear();
  }

private:
  static constexpr std::size_t max_queue = 1024;

  // The workers the table no longer knows need no way to reach them.
  void forget_gone_workers() {
    for (auto it = workers_.begin(); it != workers_.end();)
      it = table_.has(it->first) ? std::next(it) : workers_.erase(it);
  }

  // ---- accepting ----

  void accept_some() {
    // `dispatch()` below ends by calling accept_some() again: that nested call must not start a
    // second loop (and a second pending async_wait) while this one runs.
    if (closed_ || !listening_.is_open() || accepting_ || in_accept_some_ || retry_pending_ ||
        table_.active_count() == 0)
      return;
    in_accept_some_ = true;
    accept_loop();
    in_accept_some_ = false;
    dispatch();
  }

  void accept_loop() {
    while (table_.queued() < max_queue) {
      sockaddr_storage peer{};
      socklen_t length = sizeof(peer);
      const int fd = ::accept4(listening_.native_handle(), reinterpret_cast<sockaddr*>(&peer),
                               &length, SOCK_CLOEXEC);
      if (fd < 0) {
        const int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK) {
          accepting_ = true;
          listening_.async_wait(asio::posix::descriptor_base::wait_read,
                                [weak = this->weak_from_this()](std::error_code ec) {
                                  auto self = weak.lock();
                                  if (!self)
                                    return;
                                  // The hand-overs of this turn leave in one write per worker.
                                  handler_turn turn;
                                  self->accepting_ = false;
                                  if (!ec)
                                    self->accept_some();
                                  turn.finish();
                                });
          break;
        }
        if (error == EINTR || error == ECONNABORTED || error == EPROTO || error == EPERM)
          continue; // Node's distribute(err) skips failed accepts
        // Out of descriptors or memory: try again later rather than spin.
        schedule_retry(std::chrono::milliseconds(50));
        break;
      }
      table_.push(unique_fd(fd), peer_address(peer));
      if (table_.queued() >= 16)
        dispatch();
    }
  }

  static std::optional<asio::ip::address> peer_address(const sockaddr_storage& peer) {
    if (peer.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
      asio::ip::address_v4::bytes_type bytes;
      std::memcpy(bytes.data(), &in->sin_addr, bytes.size());
      return asio::ip::address(asio::ip::address_v4(bytes));
    }
    if (peer.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &in6->sin6_addr, bytes.size());
      asio::ip::address_v6 v6(bytes);
      if (v6.is_v4_mapped())
        return asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
      return asio::ip::address(v6);
    }
    return std::nullopt;
  }

  // Offers waiting connections again and accepts more after `delay` (out of descriptors, or
  // every worker refused the oldest connection).
  void schedule_retry(std::chrono::milliseconds delay) {
    after(retry_, &accepting_handle::retry_pending_, delay, [](accepting_handle& self) {
      self.dispatch();
      self.accept_some();
    });
  }

  // Looks again after `delay`, when a worker the connections wait for would count as stalled.
  void schedule_recheck(std::chrono::steady_clock::duration delay) {
    after(recheck_, &accepting_handle::recheck_pending_, delay,
          [](accepting_handle& self) { self.dispatch(); });
  }

  // Runs `then` on this handle once `timer` has waited `delay`, one wait at a time (the flag
  // `pending` is set meanwhile); nothing once the handle is closed or gone.
  template <class Then>
  void after(asio::steady_timer& timer, bool accepting_handle::* pending,
             std::chrono::steady_clock::duration delay, Then then) {
    if (this->*pending || closed_)
      return;
    this->*pending = true;
    timer.expires_after(delay);
    timer.async_wait([weak = this->weak_from_this(), pending, then](std::error_code ec) {
      auto self = weak.lock();
      if (!self)
        return;
      (*self).*pending = false;
      if (!ec)
        then(*self);
    });
  }

  // ---- handing over ----

  void dispatch() {
    if (dispatching_ || closed_)
      return;
    dispatching_ = true;
    const auto now = std::chrono::steady_clock::now();
    while (!closed_) {
      auto next = table_.next(now);
      if (!next)
        break;
      hand_over(*next);
    }
    // Every worker refused the oldest connection (all at max_connections): offer it again a
    // little later, as a full backlog would.
    if (table_.take_retry())
      schedule_retry(std::chrono::milliseconds(10));
    // Connections wait for a slow worker's answer: ask again when it would count as stalled.
    if (table_.queued() != 0 && !closed_)
      if (auto wait = table_.until_stall(now))
        schedule_recheck(*wait);
    dispatching_ = false;
    if (table_.queued() < max_queue)
      accept_some();
  }

  void hand_over(const typename handoff_table<Policy, unique_fd>::handover& next) {
    auto found = workers_.find(next.worker);
    auto worker = found == workers_.end() ? nullptr : found->second.lock();
    // A channel that is closing refuses the send: the worker's disconnect will come; the
    // connection goes back and the worker takes no more.
    if (!worker ||
        !worker->send_request_with_fd(
            worker_key(), protocol::newconn(key_), next.connection->get(),
            [weak = this->weak_from_this(), ticket = next.ticket,
             to = found->second](nlohmann::json&& reply, unique_fd) {
              if (auto answered = to.lock()) // (for its metrics)
                answered->counters(worker_key()).count_handover(reply.value("accepted", false));
              if (auto self = weak.lock())
                self->on_answer(ticket, reply);
            }))
      table_.unsent(next.ticket);
  }

  void on_answer(std::uint64_t ticket, const nlohmann::json& reply) {
    std::optional<std::pair<std::size_t, std::uint64_t>> counts;
    if (auto c = protocol::counts_field(reply, protocol::field_open, protocol::field_closed))
      counts.emplace(c->open, c->closed);
    // Accepted: our copy of the descriptor closes here; the worker has its own.
    table_.answered(ticket, reply.value("accepted", false), std::chrono::steady_clock::now(),
                    counts);
    forget_gone_workers();
    dispatch();
  }

  asio::any_io_executor executor_;
  std::string key_;
  bound_socket socket_;
  asio::posix::stream_descriptor listening_;
  asio::steady_timer retry_;
  asio::steady_timer recheck_; // when connections wait for a slow worker's answer
  handoff_options windows_;
  bool unix_;
  handoff_table<Policy, unique_fd> table_;
  std::map<int, std::weak_ptr<Worker>> workers_;
  bool closed_ = false;
  bool accepting_ = false;      // an async_wait on the listening socket is pending
  bool in_accept_some_ = false; // accept_some() is on the stack
  bool dispatching_ = false;
  bool retry_pending_ = false;
  bool recheck_pending_ = false;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_ACCEPTING_HANDLE_HPP
