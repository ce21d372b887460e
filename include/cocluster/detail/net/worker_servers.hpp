// SPDX-License-Identifier: MIT
/// @file
/// A worker process's servers: listening through the primary, taking handed-over connections,
/// and closing everything gracefully on disconnect.
#ifndef COCLUSTER_DETAIL_NET_WORKER_SERVERS_HPP
#define COCLUSTER_DETAIL_NET_WORKER_SERVERS_HPP

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/connection_tracker.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/net/listen_here.hpp"
#include "cocluster/detail/net/listen_request.hpp"
#include "cocluster/detail/net/net_hooks.hpp"
#include "cocluster/detail/net/server_impl.hpp"
#include "cocluster/detail/net/socket_ops.hpp"
#include "cocluster/detail/net/worker_listeners.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail {

/// The servers of a worker process (Node's child.js handle table and indexes). `Worker` is the
/// object of this worker process (`worker_impl`): the servers send their requests to the primary
/// through it and mark it listening.
template <class Worker>
class worker_servers final : public worker_net_hooks<Worker>,
                             public std::enable_shared_from_this<worker_servers<Worker>> {
public:
  using impl_type = Worker;

  worker_servers(asio::any_io_executor executor, std::shared_ptr<impl_type> self,
                 std::optional<std::chrono::milliseconds> drain_timeout)
      : executor_(executor), self_(std::move(self)), drain_timeout_(drain_timeout),
        load_timer_(executor), drain_timer_(executor) {}

  /// Listens through the primary. `on_done(exception, server)` runs from the executor.
  void listen(const listen_request& request,
              std::function<void(std::exception_ptr, std::shared_ptr<server_impl>)> on_done) {
    ask_primary(request, "listen", std::move(on_done),
                [request](worker_servers& servers, const std::string& index_key, std::int64_t index,
                          const nlohmann::json& reply, unique_fd fd) {
                  return servers.on_reply(request, index_key, index, reply, std::move(fd));
                });
  }

  /// Binds a UDP socket through the primary (always the primary's socket, as in Node).
  void bind_udp(const listen_request& request,
                std::function<void(std::exception_ptr, unique_fd)> on_done) {
    prune_udp();
    ask_primary(request, "bind", std::move(on_done),
                [request](worker_servers& servers, const std::string& index_key, std::int64_t index,
                          const nlohmann::json& reply, unique_fd fd) {
                  throw_if_refused(reply, request, "bind");
                  if (!fd) // (a reply without the socket)
                    throw std::system_error(EINVAL, std::system_category(),
                                            "cocluster: bind: " + request.describe("bind"));
                  const auto key = std::string(protocol::string_field(reply, "key").value_or(""));
                  servers.udp_.push_back({key, index_key, index,
                                          std::make_shared<connection_tracker>()});
                  servers.udp_.back().socket->add(fd.get());
                  // Bound: the primary hears `listening`, as from a Node worker's dgram socket.
                  const int port = local_port(fd.get());
                  servers.announce_listening(request, index, port != 0 ? port : request.port);
                  return fd;
                });
  }

  // ---- worker_net_hooks ----

  void on_server_message(impl_type&, nlohmann::json&& message, unique_fd fd) override {
    if (protocol::act(message) == protocol::act_stats) {
      reply_stats(protocol::integer_field(message, "seq").value_or(-1));
      return;
    }
    if (protocol::act(message) != protocol::act_newconn)
      return;
    const auto seq = protocol::integer_field(message, "seq").value_or(-1);
    const auto key = std::string(protocol::string_field(message, "key").value_or(""));
    auto it = servers_.find(key);
    auto server = it == servers_.end() ? nullptr : it->second.server.lock();
    if (!server || !server->is_open()) {
      // Closed already (Node's worker-handle-close): the primary gives it to another worker;
      // our copy of the descriptor closes here (nodejs/node#43650).
      reply_newconn(seq, false, std::nullopt);
      return;
    }
    server->offer(std::move(fd), seq);
  }

  void close_all(std::function<void()> done,
                 std::optional<std::chrono::milliseconds> drain_timeout) override {
    std::vector<std::shared_ptr<server_impl>> open;
    for (auto& [key, entry] : servers_)
      if (auto server = entry.server.lock())
        open.push_back(server);
    // A round-robin server keeps the offers it holds for the application's accepts: the
    // primary handed them before this disconnect and may have no other worker for them (a hot
    // upgrade retires every worker at once). The drain waits for them as for open connections.
    for (auto& server : open) {
      server->close_keeping_held();
      if (server->held() != 0)
        holding_.push_back(server);
    }
    for (auto& socket : udp_)
      self_->send_internal(worker_key(), protocol::close_server(socket.key));
    udp_.clear();
    if (!drain_timeout)
      drain_timeout = drain_timeout_;
    drain_deadline_ = drain_timeout
                          ? std::optional(std::chrono::steady_clock::now() + *drain_timeout)
                          : std::nullopt;
    drain_done_ = std::move(done);
    drain();
  }

private:
  struct server_entry {
    std::weak_ptr<server_impl> server;
    std::string index_key;
    std::int64_t index = 0;
    std::shared_ptr<connection_tracker> connections;
    bool track = false;
    protocol::connection_counts last_report;
  };

  struct udp_entry {
    std::string key;
    std::string index_key;
    std::int64_t index;
    std::shared_ptr<connection_tracker> socket;
  };

  // Asks the primary for `request` under a fresh index. `answer(servers, index_key, index,
  // reply, fd)` makes the result from the reply or throws; `on_done` gets the result, or the
  // exception with the index released, from the executor. When no answer comes (the query
  // cannot be sent, or the channel closes first and its request table forgets the query),
  // `on_done` gets a channel_closed error, posted.
  template <class Result, class Answer>
  void ask_primary(const listen_request& request, const char* verb,
                   std::function<void(std::exception_ptr, Result)> on_done, Answer answer) {
    auto index_key = request.index_key();
    const std::int64_t index = take_index(index_key);
    auto waiting = std::make_shared<unanswered<Result>>(this->weak_from_this(), executor_, verb,
                                                        index_key, index, std::move(on_done));
    waiting->sent = self_->send_request(
        worker_key(), request.query(index),
        [waiting, answer = std::move(answer)](nlohmann::json&& reply, unique_fd fd) {
          auto done = waiting->take();
          auto servers = waiting->servers.lock();
          if (!servers)
            return;
          Result result;
          try {
            result = answer(*servers, waiting->index_key, waiting->index, reply, std::move(fd));
          } catch (...) {
            servers->release_index(waiting->index_key, waiting->index);
            done(std::current_exception(), Result());
            return;
          }
          done(nullptr, std::move(result));
        });
  }

  // A query to the primary until its answer: once the last reference goes (the request table
  // forgot the query, or never took it) without `take`, the index is released and the query's
  // `on_done` gets channel_closed, posted.
  template <class Result>
  struct unanswered {
    using done_function = std::function<void(std::exception_ptr, Result)>;

    unanswered(std::weak_ptr<worker_servers> s, asio::any_io_executor ex, const char* v,
               std::string key, std::int64_t i, done_function done)
        : servers(std::move(s)), executor(std::move(ex)), verb(v), index_key(std::move(key)),
          index(i), on_done(std::move(done)) {}
    unanswered(const unanswered&) = delete;
    unanswered& operator=(const unanswered&) = delete;

    ~unanswered() {
      if (!on_done)
        return;
      if (auto s = servers.lock())
        s->release_index(index_key, index);
      auto failure = std::make_exception_ptr(
          std::system_error(make_error_code(errc::channel_closed),
                            std::string("cocluster: ") + verb +
                                (sent ? ": the channel to the primary closed before it answered"
                                      : ": not connected to the primary")));
      asio::post(executor, [done = std::move(on_done), failure] { done(failure, Result()); });
    }

    // The answer came: `on_done` is the caller's to run.
    done_function take() { return std::exchange(on_done, nullptr); }

    std::weak_ptr<worker_servers> servers;
    asio::any_io_executor executor;
    const char* verb;
    std::string index_key;
    std::int64_t index;
    done_function on_done;
    bool sent = false;
  };

  // Node's indexes: each (address, port, type, fd) counts its concurrent listens from 0; an
  // index is freed when its server closes, and also (unlike Node, nodejs/node#60086) when the
  // listen fails.
  std::int64_t take_index(const std::string& index_key) {
    auto& set = indexes_[index_key];
    std::int64_t index = 0;
    while (set.count(index))
      ++index;
    set.insert(index);
    return index;
  }

  void release_index(const std::string& index_key, std::int64_t index) {
    auto it = indexes_.find(index_key);
    if (it == indexes_.end())
      return;
    it->second.erase(index);
    if (it->second.empty())
      indexes_.erase(it);
  }

  // The primary's answer to a listen: a server made the way the primary says (its socket
  // passed, a port reserved for our own, or connections to be handed over), entered in the
  // table under the reply's key, and announced as listening.
  std::shared_ptr<server_impl> on_reply(const listen_request& request, const std::string& index_key,
                                        std::int64_t index, const nlohmann::json& reply,
                                        unique_fd fd) {
    throw_if_refused(reply, request, "listen");
    const auto key = std::string(protocol::string_field(reply, "key").value_or(""));
    if (auto it = servers_.find(key); it != servers_.end() && !it->second.server.expired())
      throw std::system_error(std::make_error_code(std::errc::address_in_use),
                              "cocluster: listen: " + request.describe("bind") +
                                  " (this worker already listens there)");
    auto connections = std::make_shared<connection_tracker>();
    auto sockname = reply.value("sockname", nlohmann::json());
    auto server = fd ? listen_on_shared_socket(executor_, request, std::move(fd), connections)
                  : reply.value(protocol::field_reuse_port, false)
                      ? listen_on_reserved_port(executor_, request, sockname, connections)
                      : take_handed_connections(executor_, request, std::move(sockname),
                                                connections);
    add_server(key, index_key, index, server, std::move(connections),
               reply.value(protocol::field_track, false));
    announce_listening(request, index, server->port() != 0 ? server->port() : request.port);
    return server;
  }

  // A refusal of the primary (the errno of its bind or listen, or EADDRINUSE) as the
  // std::system_error a listen or bind here would throw.
  static void throw_if_refused(const nlohmann::json& reply, const listen_request& request,
                               const char* call) {
    if (const int error = protocol::reply_errno(reply); error != 0)
      throw std::system_error(error, std::system_category(),
                              std::string("cocluster: ") + call + ": " + request.describe("bind"));
  }

  // Enters `server` in the table under `key`: its newconn answers (with the counts of
  // `connections` when the primary's policy tracks them), its close (the primary is told, the
  // index freed), its part in the drain.
  void add_server(const std::string& key, const std::string& index_key, std::int64_t index,
                  const std::shared_ptr<server_impl>& server,
                  std::shared_ptr<connection_tracker> connections, bool track) {
    server_entry entry;
    entry.server = server;
    entry.index_key = index_key;
    entry.index = index;
    entry.connections = connections;
    entry.track = track;
    servers_[key] = entry;
    trackers_.push_back(connections);
    server->set_hooks({
        [weak = this->weak_from_this(), track,
         tracker = std::weak_ptr<connection_tracker>(connections)](std::int64_t seq,
                                                                   bool accepted) {
          auto servers = weak.lock();
          if (!servers)
            return;
          // The counts are for policies that track connections (least_connections) only.
          std::optional<protocol::connection_counts> counts;
          if (auto counted = tracker.lock(); counted && track) {
            const auto open = counted->count(2);
            counts = protocol::connection_counts{open, counted->closed()};
          }
          servers->reply_newconn(seq, accepted, counts);
        },
        [weak = this->weak_from_this(), key]() {
          if (auto servers = weak.lock())
            servers->on_server_closed(key);
        },
    });
    if (track)
      start_load_reports();
  }

  // Node's `listening` message to the primary (the query's fields with the actual port), and
  // this worker's own `listening`: for a server and for a UDP socket alike.
  void announce_listening(const listen_request& request, std::int64_t index, int actual_port) {
    auto listening = request.query(index);
    listening["act"] = protocol::act_listening;
    listening["port"] = actual_port;
    self_->send_internal(worker_key(), std::move(listening));
    self_->mark_listening(worker_key(), request.listening(actual_port));
  }

  void reply_newconn(std::int64_t seq, bool accepted,
                     std::optional<protocol::connection_counts> counts) {
    self_->send_internal(worker_key(), protocol::newconn_reply(seq, accepted, counts));
  }

  // The primary asked for our counts (its metrics): the connections open on every server,
  // closed ones still draining included.
  void reply_stats(std::int64_t seq) {
    std::size_t open = 0;
    for (auto& tracker : trackers_)
      open += tracker->exact_count();
    self_->send_internal(worker_key(), protocol::stats_reply(seq, open));
  }

  void on_server_closed(const std::string& key) {
    auto it = servers_.find(key);
    if (it == servers_.end())
      return;
    self_->send_internal(worker_key(), protocol::close_server(key));
    release_index(it->second.index_key, it->second.index);
    servers_.erase(it);
  }

  // UDP sockets are the application's; the ones it closed are noticed here, so that their
  // index and key are freed.
  void prune_udp() {
    for (auto it = udp_.begin(); it != udp_.end();) {
      if (it->socket->exact_count() == 0) {
        self_->send_internal(worker_key(), protocol::close_server(it->key));
        release_index(it->index_key, it->index);
        it = udp_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Policies that track connections (least_connections) need to know when connections end:
  // report changes every 100 ms.
  void start_load_reports() {
    if (reporting_)
      return;
    reporting_ = true;
    load_timer_.expires_after(std::chrono::milliseconds(100));
    load_timer_.async_wait([weak = this->weak_from_this()](std::error_code ec) {
      auto servers = weak.lock();
      if (!servers || ec)
        return;
      servers->reporting_ = false;
      bool any = false;
      for (auto& [key, entry] : servers->servers_) {
        if (!entry.track || entry.server.expired())
          continue;
        any = true;
        const auto open = entry.connections->exact_count();
        const protocol::connection_counts now{open, entry.connections->closed()};
        if (now.open != entry.last_report.open || now.closed != entry.last_report.closed) {
          entry.last_report = now;
          servers->self_->send_internal(worker_key(), protocol::load_report(key, now));
        }
      }
      if (any)
        servers->start_load_reports();
    });
  }

  // Waits until every connection accepted through our servers has ended, and every offer a
  // closed server kept has been taken (or the deadline: the offers left are refused, the
  // connections shut down).
  void drain() {
    std::size_t open = 0;
    const bool late = drain_deadline_ && std::chrono::steady_clock::now() >= *drain_deadline_;
    for (auto it = holding_.begin(); it != holding_.end();) {
      // (only we hold it: the application let the server go, and nobody will take them)
      if ((*it)->held() != 0 && (late || it->use_count() == 1))
        (*it)->close();
      if ((*it)->held() == 0) {
        it = holding_.erase(it);
        continue;
      }
      open += (*it)->held();
      ++it;
    }
    for (auto it = trackers_.begin(); it != trackers_.end();) {
      const auto n = (*it)->exact_count();
      if (n == 0 && it->use_count() == 1) {
        it = trackers_.erase(it);
        continue;
      }
      open += n;
      ++it;
    }
    if (open > 0 && late) {
      for (auto& tracker : trackers_)
        tracker->shut_down_all();
      open = 0;
    }
    if (open == 0) {
      if (drain_done_) {
        auto done = std::move(drain_done_);
        drain_done_ = nullptr;
        done();
      }
      return;
    }
    drain_timer_.expires_after(std::chrono::milliseconds(20));
    drain_timer_.async_wait([weak = this->weak_from_this()](std::error_code ec) {
      if (auto servers = weak.lock(); servers && !ec)
        servers->drain();
    });
  }

  asio::any_io_executor executor_;
  std::shared_ptr<impl_type> self_;
  std::optional<std::chrono::milliseconds> drain_timeout_; // cluster_options::drain_timeout
  std::map<std::string, std::set<std::int64_t>> indexes_;
  std::map<std::string, server_entry> servers_;
  std::vector<std::shared_ptr<connection_tracker>> trackers_;
  std::vector<udp_entry> udp_;
  std::vector<std::shared_ptr<server_impl>> holding_; // closed, keeping offers for the application
  asio::steady_timer load_timer_;
  asio::steady_timer drain_timer_;
  bool reporting_ = false;
  std::optional<std::chrono::steady_clock::time_point> drain_deadline_;
  std::function<void()> drain_done_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_WORKER_SERVERS_HPP
