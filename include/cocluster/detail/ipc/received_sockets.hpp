// SPDX-License-Identifier: MIT
/// @file
/// The receiving side of Node's socket lists (`internal/socket_list.js`): a Node process that
/// sends a socket its `net.Server` accepted adds the server's key to the `NODE_HANDLE`
/// envelope, and later asks the receiver how many of those sockets are still open
/// (`server.getConnections()`: `NODE_SOCKET_GET_COUNT`) and to say when all are closed
/// (`server.close()`: `NODE_SOCKET_NOTIFY_CLOSE`). A receiver that never answers leaves the
/// sender's callbacks waiting forever. No I/O here: the channel sends the answers.
#ifndef COCLUSTER_DETAIL_IPC_RECEIVED_SOCKETS_HPP
#define COCLUSTER_DETAIL_IPC_RECEIVED_SOCKETS_HPP

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cocluster/detail/connection_tracker.hpp"
#include "cocluster/detail/ipc/protocol.hpp"

namespace cocluster::detail {

/// Sockets received with a server key, by key, and the keys whose sender waits for all of
/// them to close.
class received_sockets {
public:
  /// A socket `fd` arrived for the server `key`.
  void add(const std::string& key, int fd) { lists_[key].add(fd); }

  /// The sockets of `key` still open (the application closes them; see connection_tracker).
  std::size_t open_count(const std::string& key) {
    auto it = lists_.find(key);
    return it == lists_.end() ? 0 : it->second.exact_count();
  }

  /// The answer to an internal message, if it is a socket-list request: the count now, or
  /// `NODE_SOCKET_ALL_CLOSED` once no socket of the key is open (until then the key waits,
  /// and `poll` gives the answer). Returns an empty message for no answer yet.
  protocol::message answer(const nlohmann::json& request, bool& handled) {
    handled = false;
    const auto cmd = protocol::cmd(request);
    const auto key = protocol::string_field(request, "key");
    if (!key || (cmd != protocol::cmd_socket_get_count && cmd != protocol::cmd_socket_notify_close))
      return {};
    handled = true;
    const std::string name(*key);
    if (cmd == protocol::cmd_socket_get_count)
      return protocol::socket_count(name, open_count(name));
    if (open_count(name) == 0)
      return protocol::sockets_all_closed(name);
    waiting_.insert(name);
    return {};
  }

  /// True while a sender waits for a key's sockets to close (poll now and then).
  bool has_waiting() const noexcept { return !waiting_.empty(); }

  /// The `NODE_SOCKET_ALL_CLOSED` answers now due: keys that were waiting and have no open
  /// socket left.
  std::vector<protocol::message> poll() {
    std::vector<protocol::message> due;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (open_count(*it) == 0) {
        due.push_back(protocol::sockets_all_closed(*it));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    return due;
  }

private:
  std::map<std::string, connection_tracker> lists_;
  std::set<std::string> waiting_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_IPC_RECEIVED_SOCKETS_HPP
