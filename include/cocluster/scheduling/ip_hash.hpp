// SPDX-License-Identifier: MIT
/// @file
/// `ip_hash`: sticky sessions — a client address keeps reaching the same worker.
#ifndef COCLUSTER_SCHEDULING_IP_HASH_HPP
#define COCLUSTER_SCHEDULING_IP_HASH_HPP

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "cocluster/scheduling/policy.hpp"

namespace cocluster {

/// Sticky sessions (nodejs/node#3142): every connection from one client address goes to the
/// same live worker, even while that worker is busy (the connection waits for it). A client is
/// given a new worker only when its worker leaves; workers that join later take only new
/// clients. New clients are placed by rendezvous hashing, so the placement of a client does not
/// depend on the order clients arrive in.
///
/// The table remembers the most recent `capacity` client addresses; a client forgotten and seen
/// again is placed by the hash again (the same worker, unless workers changed meanwhile).
/// Connections over Unix sockets have no address: they go to the least recently used worker.
class ip_hash {
public:
  /// The primary accepts and hands each connection over.
  static constexpr distribution mode = distribution::primary_accepts;

  /// Remembers at most `capacity` client addresses (at least 1; default 65536).
  /// @param capacity how many client addresses the table keeps; past it the least recently
  ///   seen is forgotten. 0 counts as 1.
  explicit ip_hash(std::size_t capacity = 65536) : capacity_(capacity == 0 ? 1 : capacity) {}

  /// The worker this client had, if it is still there (even when busy: the connection waits
  /// for it); otherwise the one rendezvous hashing places the client on, remembered from now
  /// on. A client without an address (a Unix socket) gets the `least_recently_used` available
  /// worker. Nothing when there is no worker to give.
  /// @param request the connection; its `peer` address (IPv4 and IPv6 kept apart) is the key.
  /// @param workers the listener's workers now, available or not.
  /// @return the client's worker, or `std::nullopt` when `workers` is empty (or, for a client
  ///         without an address, none is available): the connection waits.
  std::optional<int> pick(const connection_request& request, std::span<const worker_load> workers) {
    if (workers.empty())
      return std::nullopt;
    if (!request.peer)
      return cocluster::least_recently_used(workers);
    const std::string client = key_of(*request.peer);
    if (auto it = table_.find(client); it != table_.end()) {
      for (const auto& worker : workers)
        if (worker.id == it->second.worker) {
          recent_.splice(recent_.begin(), recent_, it->second.position);
          return worker.id;
        }
      forget(it); // its worker left
    }
    int chosen = workers.front().id;
    std::uint64_t best = 0;
    for (const auto& worker : workers) {
      const std::uint64_t score = mix(hash(client) ^ mix(static_cast<std::uint64_t>(worker.id)));
      if (score >= best) {
        best = score;
        chosen = worker.id;
      }
    }
    remember(client, chosen);
    return chosen;
  }

  /// Nothing to do: a new worker takes only new clients.
  void worker_added(int) noexcept {}

  /// Clients of a worker that left are placed again when they come back.
  /// @param id the worker that left; every client remembered on it is forgotten.
  void worker_removed(int id) {
    for (auto it = table_.begin(); it != table_.end();) {
      if (it->second.worker == id) {
        recent_.erase(it->second.position);
        it = table_.erase(it);
      } else {
        ++it;
      }
    }
  }

  /// Nothing to do: a client keeps its worker between connections.
  void connection_closed(int) noexcept {}

  /// Client addresses remembered.
  /// @return at most the capacity given at construction.
  std::size_t size() const noexcept { return table_.size(); }

private:
  struct placement {
    int worker;
    std::list<std::string>::iterator position;
  };

  static std::string key_of(const asio::ip::address& address) {
    if (address.is_v4()) {
      const auto bytes = address.to_v4().to_bytes();
      return std::string(bytes.begin(), bytes.end());
    }
    const auto bytes = address.to_v6().to_bytes();
    return std::string(bytes.begin(), bytes.end());
  }

  static std::uint64_t hash(const std::string& text) {
    std::uint64_t h = 1469598103934665603ull; // FNV-1a
    for (const char c : text) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
    return h;
  }

  static std::uint64_t mix(std::uint64_t x) { // splitmix64's finalizer
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
  }

  void remember(const std::string& client, int worker) {
    if (table_.size() >= capacity_) {
      table_.erase(recent_.back());
      recent_.pop_back();
    }
    recent_.push_front(client);
    table_[client] = {worker, recent_.begin()};
  }

  void forget(std::unordered_map<std::string, placement>::iterator it) {
    recent_.erase(it->second.position);
    table_.erase(it);
  }

  std::size_t capacity_;
  std::unordered_map<std::string, placement> table_;
  std::list<std::string> recent_; // most recent first
};

static_assert(scheduling_policy<ip_hash>);

} // namespace cocluster

#endif // COCLUSTER_SCHEDULING_IP_HASH_HPP
