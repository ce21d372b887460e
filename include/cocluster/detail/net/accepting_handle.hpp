/// @file
/// The primary accepts and hands each connection to the worker a scheduling policy picks
/// (Node's RoundRobinHandle, with its known bugs fixed), for every policy whose mode is
/// `primary_accepts`: round_robin, least_connections, ip_hash and custom ones.
#ifndef COCLUSTER_DETAIL_NET_ACCEPTING_HANDLE_HPP
#define COCLUSTER_DETAIL_NET_ACCEPTING_HANDLE_HPP

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/handler_turn.hpp"
#include "cocluster/detail/net/handle_entry.hpp"
#include "cocluster/detail/net/socket_ops.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/detail/worker/worker_impl.hpp"
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
class accepting_handle final : public handle_entry<Worker>,
                               public std::enable_shared_from_this<accepting_handle<Policy, Worker>> {
public:
  accepting_handle(asio::any_io_executor executor, std::string key, bound_socket socket,
                   handoff_options windows, bool unix_socket)
      : executor_(executor), key_(std::move(key)), socket_(std::move(socket)),
        listening_(executor), retry_(executor), windows_(windows), unix_(unix_socket) {
    listening_.assign(socket_.fd.release());
  }

  ~accepting_handle() override { close(); }

  bool has(const Worker& worker) const override { return slots_.count(worker.id()) != 0; }

  join_reply add(Worker& worker) override {
    slot s;
    s.worker = worker.weak_from_this();
    s.id = worker.id();
    s.window = worker.is_cocluster_peer() ? windows_.cocluster_peer : windows_.node_peer;
    s.last_used = ++clock_;
    slots_[worker.id()] = std::move(s);
    policy_.worker_added(worker.id());
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
    auto it = slots_.find(worker.id());
    if (it == slots_.end())
      return active_count() == 0 && slots_.empty();
    if (!it->second.retired) {
      it->second.retired = true;
      policy_.worker_removed(worker.id());
      requeue_front(std::move(it->second.waiting));
      it->second.waiting.clear();
    }
    if (it->second.in_flight == 0)
      slots_.erase(it);
    dispatch();
    return slots_.empty();
  }

  bool remove(Worker& worker) override {
    auto it = slots_.find(worker.id());
    if (it == slots_.end())
      return slots_.empty();
    if (!it->second.retired)
      policy_.worker_removed(worker.id());
    // Whatever the worker had not accepted goes back first, oldest first.
    std::vector<std::pair<std::uint64_t, connection>> orphans;
    for (auto f = in_flight_.begin(); f != in_flight_.end();) {
      if (f->second.worker == worker.id()) {
        orphans.emplace_back(f->first, std::move(f->second.conn));
        f = in_flight_.erase(f);
      } else {
        ++f;
      }
    }
    std::sort(orphans.begin(), orphans.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::deque<connection> back = std::move(it->second.waiting);
    for (auto r = orphans.rbegin(); r != orphans.rend(); ++r)
      back.push_front(std::move(r->second));
    slots_.erase(it);
    requeue_front(std::move(back));
    if (slots_.empty())
      return true;
    dispatch();
    return false;
  }

  void report_load(Worker& worker, const protocol::connection_counts& counts) override {
    auto it = slots_.find(worker.id());
    if (it != slots_.end())
      take_counts(it->second, counts);
  }

  void close() override {
    if (closed_)
      return;
    closed_ = true;
    std::error_code ignored;
    listening_.cancel(ignored);
    listening_.close(ignored);
    retry_.cancel();
    if (!socket_.unlink_path.empty())
      ::unlink(socket_.unlink_path.c_str());
    queue_.clear();
    in_flight_.clear();
    slots_.clear();
  }

private:
  struct connection {
    unique_fd fd;
    std::optional<asio::ip::address> peer;
    std::vector<int> refused_by;
  };

  struct slot {
    std::weak_ptr<Worker> worker;
    int id = 0;
    std::size_t window = 1;
    std::size_t in_flight = 0;
    std::size_t open = 0;
    std::uint64_t closed = 0; // connections it reported ended, in all
    std::uint64_t last_used = 0;
    bool retired = false;
    std::deque<connection> waiting; // picked for this worker, waiting for room in its window
  };

  struct handed {
    int worker;
    connection conn;
  };

  static constexpr std::size_t max_queue = 1024;

  std::size_t active_count() const {
    return static_cast<std::size_t>(
        std::count_if(slots_.begin(), slots_.end(), [](const auto& e) { return !e.second.retired; }));
  }

  static bool refused(const connection& c, int id) {
    return std::find(c.refused_by.begin(), c.refused_by.end(), id) != c.refused_by.end();
  }

  void requeue_front(std::deque<connection> connections) {
    for (auto r = connections.rbegin(); r != connections.rend(); ++r)
      queue_.push_front(std::move(*r));
  }

  // ---- accepting ----

  void accept_some() {
    // `dispatch()` below ends by calling accept_some() again: that nested call must not start a
    // second loop (and a second pending async_wait) while this one runs.
    if (closed_ || accepting_ || in_accept_some_ || retry_pending_ || active_count() == 0)
      return;
    in_accept_some_ = true;
    accept_loop();
    in_accept_some_ = false;
    dispatch();
  }

  void accept_loop() {
    while (queue_.size() < max_queue) {
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
      connection c;
      c.fd.reset(fd);
      c.peer = peer_address(peer);
      queue_.push_back(std::move(c));
      if (queue_.size() >= 16)
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

  void schedule_retry(std::chrono::milliseconds delay) {
    if (retry_pending_ || closed_)
      return;
    retry_pending_ = true;
    retry_.expires_after(delay);
    retry_.async_wait([weak = this->weak_from_this()](std::error_code ec) {
      auto self = weak.lock();
      if (!self)
        return;
      self->retry_pending_ = false;
      if (!ec) {
        self->dispatch();
        self->accept_some();
      }
    });
  }

  // ---- handing over ----

  void dispatch() {
    if (dispatching_ || closed_)
      return;
    dispatching_ = true;
    for (auto& [id, s] : slots_)
      while (!s.retired && s.in_flight < s.window && !s.waiting.empty()) {
        auto c = std::move(s.waiting.front());
        s.waiting.pop_front();
        hand_over(s, std::move(c));
      }
    while (!queue_.empty() && !closed_) {
      auto& next = queue_.front();
      loads_.clear();
      bool anyone_left = false;
      for (auto& [id, s] : slots_) {
        if (s.retired)
          continue;
        const bool refused_this = refused(next, id);
        anyone_left = anyone_left || !refused_this;
        worker_load load;
        load.id = id;
        load.in_flight = s.in_flight;
        load.queued = s.waiting.size();
        load.window = s.window;
        load.open_connections = s.open;
        load.idle_since = s.last_used;
        load.available = s.in_flight < s.window && !refused_this;
        loads_.push_back(load);
      }
      if (loads_.empty())
        break;
      if (!anyone_left) {
        // Every worker refused it (all at max_connections): let it wait a little, then offer it
        // again, like a full backlog would.
        next.refused_by.clear();
        schedule_retry(std::chrono::milliseconds(10));
        break;
      }
      auto pick = policy_.pick(connection_request{next.peer}, loads_);
      if (!pick)
        break;
      auto target = slots_.find(*pick);
      if (target == slots_.end() || target->second.retired)
        break; // the policy named no usable worker: wait for a change
      if (refused(next, *pick)) {
        // A sticky choice that refused it: fall back to the least recently used available one.
        const worker_load* best = nullptr;
        for (const auto& load : loads_)
          if (load.available && (!best || load.idle_since < best->idle_since))
            best = &load;
        if (!best)
          break;
        target = slots_.find(best->id);
      }
      auto c = std::move(queue_.front());
      queue_.pop_front();
      slot& s = target->second;
      s.last_used = ++clock_; // assigned now, whether handed over now or after its queue
      if (s.in_flight < s.window)
        hand_over(s, std::move(c));
      else
        s.waiting.push_back(std::move(c));
    }
    dispatching_ = false;
    if (queue_.size() < max_queue)
      accept_some();
  }

  void hand_over(slot& s, connection c) {
    auto worker = s.worker.lock();
    if (!worker) {
      queue_.push_front(std::move(c));
      s.retired = true;
      return;
    }
    const std::uint64_t id = ++last_connection_;
    const int fd = c.fd.get();
    ++s.in_flight;
    in_flight_.emplace(id, handed{s.id, std::move(c)});
    const bool sent = worker->send_request_with_fd(
        worker_key(), protocol::newconn(key_), fd,
        [weak = this->weak_from_this(), id](nlohmann::json&& reply, unique_fd) {
          if (auto self = weak.lock())
            self->on_answer(id, reply);
        });
    if (!sent) {
      // The channel is closing: the worker's disconnect will come; keep the connection.
      auto it = in_flight_.find(id);
      queue_.push_front(std::move(it->second.conn));
      in_flight_.erase(it);
      --s.in_flight;
      s.retired = true;
    }
  }

  // A cocluster worker's counts (it sends them when the policy tracks connections): the open
  // ones for `worker_load::open_connections`, and one `connection_closed` call for each
  // connection that ended since its last report, while the worker is still the policy's.
  void take_counts(slot& s, const protocol::connection_counts& counts) {
    s.open = counts.open;
    while (s.closed < counts.closed) {
      ++s.closed;
      if (!s.retired)
        policy_.connection_closed(s.id);
    }
  }

  void on_answer(std::uint64_t id, const nlohmann::json& reply) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end())
      return;
    handed h = std::move(it->second);
    in_flight_.erase(it);
    const bool accepted = reply.value("accepted", false);
    auto s = slots_.find(h.worker);
    if (s != slots_.end()) {
      --s->second.in_flight;
      if (auto counts = protocol::counts_field(reply, protocol::field_open, protocol::field_closed))
        take_counts(s->second, *counts);
      else if (accepted)
        ++s->second.open; // a Node worker does not say when connections end
      if (s->second.retired && s->second.in_flight == 0)
        slots_.erase(s);
    }
    if (!accepted) {
      h.conn.refused_by.push_back(h.worker);
      queue_.push_front(std::move(h.conn));
    }
    // Accepted: our copy of the descriptor closes here; the worker has its own.
    dispatch();
  }

  asio::any_io_executor executor_;
  std::string key_;
  bound_socket socket_;
  asio::posix::stream_descriptor listening_;
  asio::steady_timer retry_;
  handoff_options windows_;
  bool unix_;
  Policy policy_;
  std::map<int, slot> slots_;
  std::deque<connection> queue_;
  std::map<std::uint64_t, handed> in_flight_;
  std::vector<worker_load> loads_;
  std::uint64_t clock_ = 0;
  std::uint64_t last_connection_ = 0;
  bool closed_ = false;
  bool accepting_ = false;      // an async_wait on the listening socket is pending
  bool in_accept_some_ = false; // accept_some() is on the stack
  bool dispatching_ = false;
  bool retry_pending_ = false;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_ACCEPTING_HANDLE_HPP
