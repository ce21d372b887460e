// SPDX-License-Identifier: MIT
/// @file
/// One entry of the primary's handle table (a shared port or socket, Node's RoundRobinHandle or
/// SharedHandle): what the table needs of it.
#ifndef COCLUSTER_DETAIL_NET_HANDLE_ENTRY_HPP
#define COCLUSTER_DETAIL_NET_HANDLE_ENTRY_HPP

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/systemd/handover.hpp"

namespace cocluster::detail {

/// How a worker that joins a listener is answered.
struct join_reply {
  /// Round-robin and reuse_port: Node's `sockname` (null for Unix sockets).
  nlohmann::json sockname;
  /// Shared socket: the descriptor to send (the listener keeps owning it), else -1.
  int fd = -1;
  std::string_view handle_type = protocol::handle_net_native;
  /// A cocluster worker binds its own SO_REUSEPORT socket on the port.
  bool reuse_port = false;
  /// The primary wants load reports (least_connections).
  bool track = false;
};

/// One entry of the primary's handle table (Node's RoundRobinHandle / SharedHandle).
template <class Worker>
class handle_entry {
public:
  virtual ~handle_entry() = default;
  /// True if the worker is in this listener (active or retiring).
  virtual bool has(const Worker&) const = 0;
  /// A worker joins (its queryServer).
  virtual join_reply add(Worker&) = 0;
  /// The worker takes no new connections (its server closed, or a disconnect was asked); those
  /// handed to it and not answered yet wait for its answer. Returns true when nobody is left.
  virtual bool retire(Worker&) = 0;
  /// The worker is gone (channel closed, or dead): what was handed to it and not accepted goes
  /// to the others. Returns true when nobody is left.
  virtual bool remove(Worker&) = 0;
  /// A cocluster worker's counts of its open and ended connections.
  virtual void report_load(Worker&, const protocol::connection_counts&) {}
  /// The pool slot is gone (scaled down): its sockets close.
  virtual void release_slot(int) {}
  /// Closes the listening socket and whatever connections wait in it.
  virtual void close() = 0;
  /// Adds the sockets a hot upgrade passes to the new primary for the listener `key`, named
  /// for the new primary's match (detail/systemd/handover.hpp).
  virtual void add_handover_sockets(const std::string& /*key*/, std::vector<handover_socket>&) {}
  /// A hot upgrade passed the socket to a new primary: this one accepts no more on it, sends
  /// what it accepted to its workers at once (before they are asked to leave), and never
  /// removes its Unix socket file, which the new primary serves.
  virtual void hand_over() {}
  /// Node's per-handle server data: the first worker's wins.
  nlohmann::json data;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_HANDLE_ENTRY_HPP
