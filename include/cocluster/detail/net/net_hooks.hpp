// SPDX-License-Identifier: MIT
/// @file
/// The interfaces between the net layer and the roles above it (cluster layer): the hooks a
/// role calls on its process's listeners or servers, and what the primary's listeners report
/// back to the primary. The net layer implements the hooks; the roles hold them and implement
/// the reports.
#ifndef COCLUSTER_DETAIL_NET_NET_HOOKS_HPP
#define COCLUSTER_DETAIL_NET_NET_HOOKS_HPP

#include <chrono>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/listen_address.hpp"

namespace cocluster::detail {

/// Hooks of the net layer that the primary calls (listeners shared with workers).
template <class Worker>
class primary_net_hooks {
public:
  /// A worker's internal message about servers (queryServer, listening, close, ...).
  virtual void on_server_message(Worker&, nlohmann::json&& message, unique_fd fd) = 0;
  /// The worker takes no new connections (the primary asked it to disconnect); connections it
  /// has not answered yet wait for its answer.
  virtual void retire_worker(Worker&) = 0;
  /// The worker is gone from every listener (disconnected, or exited): connections it had not
  /// accepted go to other workers.
  virtual void remove_worker(Worker&) = 0;
  /// A pool slot is gone: the sockets kept for it close.
  virtual void release_slot(int slot) = 0;

protected:
  ~primary_net_hooks() = default;
};

/// What the primary's listeners report to the primary.
template <class Worker>
class primary_net_reports {
public:
  /// A worker listens (Node's `listening` message): the primary marks it and emits `listening`.
  virtual void worker_listening(Worker&, const listen_address& address) = 0;

protected:
  ~primary_net_reports() = default;
};

/// Hooks of the net layer that a worker process calls (its servers).
template <class Worker>
class worker_net_hooks {
public:
  /// An internal message about servers (newconn, replies are routed by `ack` already).
  virtual void on_server_message(Worker&, nlohmann::json&& message, unique_fd fd) = 0;
  /// Closes every server; calls `done` once their connections have ended (or the timeout).
  virtual void close_all(std::function<void()> done,
                         std::optional<std::chrono::milliseconds> drain_timeout) = 0;

protected:
  ~worker_net_hooks() = default;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_NET_HOOKS_HPP
