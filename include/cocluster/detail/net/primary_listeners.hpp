// SPDX-License-Identifier: MIT
/// @file
/// The primary's table of shared listeners (Node's `handles` in primary.js): answers
/// queryServer, reports `listening`, and drops workers that close or leave.
#ifndef COCLUSTER_DETAIL_NET_PRIMARY_LISTENERS_HPP
#define COCLUSTER_DETAIL_NET_PRIMARY_LISTENERS_HPP

#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/net/accepting_handle.hpp"
#include "cocluster/detail/net/activated_sockets.hpp"
#include "cocluster/detail/net/handle_entry.hpp"
#include "cocluster/detail/net/listen_request.hpp"
#include "cocluster/detail/net/net_hooks.hpp"
#include "cocluster/detail/net/shared_handle.hpp"
#include "cocluster/detail/net/socket_ops.hpp"
#include "cocluster/detail/systemd/handover.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/net/handoff_options.hpp"
#include "cocluster/scheduling/policy.hpp"
#include "cocluster/scheduling/round_robin.hpp"

namespace cocluster::detail {

/// Shares listening sockets with workers according to the cluster's distribution.
/// `Policy` picks workers when the primary accepts (`distribution::primary_accepts`); `Worker`
/// is the primary's worker object (`worker_impl`), which the listeners send replies and
/// handles through; `primary` hears of workers that listen.
template <scheduling_policy Policy, class Worker>
class primary_listeners final : public primary_net_hooks<Worker> {
public:
  using impl_type = Worker;

  primary_listeners(asio::any_io_executor executor, primary_net_reports<Worker>& primary,
                    handoff_options windows)
      : executor_(executor), primary_(primary), windows_(windows),
        activated_(activated_sockets::adopted()) {}

  ~primary_listeners() {
    for (auto& [key, l] : listeners_)
      l->close();
  }

  /// Fixed at the first fork; `distribution()` of the cluster.
  void set_distribution(distribution d) noexcept { distribution_ = d; }

  void on_server_message(impl_type& worker, nlohmann::json&& message, unique_fd) override {
    const auto act = protocol::act(message);
    if (act == protocol::act_query_server)
      query(worker, message);
    else if (act == protocol::act_listening)
      primary_.worker_listening(worker, parse_query(message).listening(static_cast<int>(
                                            protocol::integer_field(message, "port").value_or(0))));
    else if (act == protocol::act_close)
      with_listener(message, [&](auto& l) { return l.retire(worker); });
    else if (act == protocol::act_load)
      with_listener(message, [&](auto& l) {
        if (auto counts = protocol::counts_field(message, "open", "closed"))
          l.report_load(worker, *counts);
        return false;
      });
  }

  void retire_worker(impl_type& worker) override {
    for_each_listener([&](auto& l) { return l.retire(worker); });
  }

  void remove_worker(impl_type& worker) override {
    for_each_listener([&](auto& l) { return l.remove(worker); });
  }

  void release_slot(int slot) override {
    for (auto& [key, listener] : listeners_)
      listener->release_slot(slot);
  }

  /// What a hot upgrade passes to the new primary: the sockets systemd passed (with their
  /// names) and every listener's (named by its key), each socket once.
  std::vector<handover_socket> handover_sockets() const {
    std::vector<handover_socket> all;
    for (const auto& s : activated_.sockets())
      all.push_back({s.fd, s.name});
    for (const auto& [key, listener] : listeners_)
      listener->add_handover_sockets(key, all);
    std::vector<unsigned long long> sockets; // a descriptor's socket: its inode
    for (std::size_t i = 0; i < all.size(); ++i) {
      struct stat info{};
      sockets.push_back(::fstat(all[i].fd, &info) == 0
                            ? static_cast<unsigned long long>(info.st_ino)
                            : ~0ull - i);
    }
    std::vector<handover_socket> kept;
    for (std::size_t i : first_of_each(sockets))
      kept.push_back(std::move(all[i]));
    return kept;
  }

  /// A hot upgrade succeeded: the new primary serves the sockets; this one accepts no more, and
  /// sends the connections it accepted and has not sent yet to its workers now. Call it before
  /// the workers are asked to leave: sent ahead of their disconnect, those connections reach
  /// each worker first, and a leaving worker serves what it holds (nobody else would).
  void hand_over() {
    for (auto& [key, listener] : listeners_)
      listener->hand_over();
  }

private:
  template <class F>
  void with_listener(const nlohmann::json& message, F&& f) {
    const auto key = std::string(protocol::string_field(message, "key").value_or(""));
    auto it = listeners_.find(key);
    if (it != listeners_.end() && f(*it->second)) {
      it->second->close();
      listeners_.erase(it);
    }
  }

  template <class F>
  void for_each_listener(F&& f) {
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      if (f(*it->second)) {
        it->second->close();
        it = listeners_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Node's queryServer handling (primary.js), with v25's key rule.
  void query(impl_type& worker, const nlohmann::json& message) {
    // A worker that is leaving gets no new listener (nodejs/node#4465).
    if (worker.exited_after_disconnect().value_or(false))
      return;
    const auto seq = protocol::integer_field(message, "seq").value_or(-1);
    const auto request = parse_query(message);
    auto key = protocol::server_key(message);
    if (request.systemd_name)
      key += ":" + *request.systemd_name; // (two names on port 0 are two listeners)
    const nlohmann::json data = message.value("data", nlohmann::json());

    auto it = listeners_.find(key);
    if (it != listeners_.end() && it->second->has(worker)) {
      // The same worker listens twice on one address: what a lone process would get
      // (nodejs/node#65020).
      reply_error(worker, key, seq, data, EADDRINUSE);
      return;
    }
    if (it == listeners_.end()) {
      std::optional<bind_failure> failure;
      auto made = make_listener(key, request, failure);
      if (!made) {
        reply_error(worker, key, seq, data, failure ? failure->code.value() : EINVAL);
        return;
      }
      it = listeners_.emplace(key, std::move(made)).first;
    }
    auto& l = *it->second;
    if (l.data.is_null())
      l.data = data;
    const auto join = l.add(worker);
    if (join.fd >= 0) {
      auto reply = protocol::server_reply(0, key, seq, l.data);
      worker.send_request_with_fd(worker_key(), std::move(reply), join.fd, nullptr,
                                  join.handle_type);
      return;
    }
    auto reply = protocol::server_reply(nullptr, key, seq, l.data, join.sockname);
    if (join.reuse_port)
      reply[protocol::field_reuse_port] = true;
    if (join.track)
      reply[protocol::field_track] = true;
    worker.send_internal(worker_key(), std::move(reply));
  }

  void reply_error(impl_type& worker, const std::string& key, std::int64_t seq,
                   const nlohmann::json& data, int error) {
    worker.send_internal(worker_key(), protocol::server_reply(-error, key, seq, data));
  }

  std::shared_ptr<handle_entry<impl_type>> make_listener(const std::string& key,
                                                         const listen_request& request,
                                                         std::optional<bind_failure>& failure) {
    auto spec = request.spec();
    const bool udp = is_udp(request.type);
    const bool unix_socket = request.type == address_type::unix_socket && !request.fd;
    // A socket systemd passed for this address or name: used (duplicated) instead of a bind.
    const auto activated = activated_.find(request, key);
    if (activated)
      spec.fd = *activated;
    auto mode = distribution_;
    // UDP is always shared, as in Node. An activated socket is one socket: under reuse_port it
    // is shared too (a socket of each worker's own would be bound beside systemd's, which
    // holds the port and would take the connections).
    if (udp || (unix_socket && mode == distribution::reuse_port) ||
        (activated && mode == distribution::reuse_port))
      mode = distribution::shared_socket;
    if (mode == distribution::primary_accepts) {
      spec.backlog = request.backlog; // the first worker's backlog wins
      if (activated && activated_sockets::is_listening(*activated))
        spec.backlog.reset(); // listening already, with the unit's Backlog=
      auto bound = bind_socket(spec, failure);
      if (failure)
        return nullptr;
      if constexpr (Policy::mode == distribution::primary_accepts)
        return std::make_shared<accepting_handle<Policy, impl_type>>(executor_, key,
                                                                     std::move(bound), windows_,
                                                                     unix_socket);
      else
        return std::make_shared<accepting_handle<round_robin, impl_type>>(executor_, key,
                                                                          std::move(bound),
                                                                          windows_, unix_socket);
    }
    // Shared socket and reuse_port: bind, do not listen (each worker listens).
    spec.backlog.reset();
    spec.reuse_port = mode == distribution::reuse_port;
    if (const auto* old = activated_.named(handover_port_name(key)); old && spec.reuse_port)
      spec.port = old->port; // a hot upgrade's predecessor's port (port 0 included)
    auto bound = bind_socket(spec, failure);
    if (failure)
      return nullptr;
    return std::make_shared<shared_handle<impl_type>>(std::move(bound), udp,
                                                      mode == distribution::reuse_port, spec,
                                                      &activated_, key);
  }

  asio::any_io_executor executor_;
  primary_net_reports<Worker>& primary_;
  handoff_options windows_;
  const activated_sockets& activated_;
  distribution distribution_ = Policy::mode;
  std::map<std::string, std::shared_ptr<handle_entry<impl_type>>> listeners_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_PRIMARY_LISTENERS_HPP
