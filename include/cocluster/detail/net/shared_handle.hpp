// SPDX-License-Identifier: MIT
/// @file
/// Node's SharedHandle: the primary binds once and every worker gets the descriptor. Used for
/// `shared_socket`, for every UDP socket, and for `reuse_port`. Under `reuse_port` a worker
/// forked into a pool slot (a supervisor's) gets the slot's SO_REUSEPORT socket, bound and kept
/// here, so that a replacement in that slot accepts from the same socket as the worker it
/// replaces and nothing queued there is lost when the old one closes; other cocluster workers
/// bind their own socket on the port the primary reserved, and Node workers listen on the
/// primary's.
#ifndef COCLUSTER_DETAIL_NET_SHARED_HANDLE_HPP
#define COCLUSTER_DETAIL_NET_SHARED_HANDLE_HPP

#include <unistd.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/net/activated_sockets.hpp"
#include "cocluster/detail/net/handle_entry.hpp"
#include "cocluster/detail/net/socket_ops.hpp"

namespace cocluster::detail {

template <class Worker>
class shared_handle final : public handle_entry<Worker> {
public:
  /// `reuse_port`: `socket` is the primary's reservation of the port; `spec` binds the slots'
  /// sockets on it.
  /// `passed` and `key`: the sockets of a hot upgrade, whose slot sockets the slots take.
  shared_handle(bound_socket socket, bool udp, bool reuse_port, bind_spec spec = {},
                const activated_sockets* passed = nullptr, std::string key = {})
      : socket_(std::move(socket)), udp_(udp), reuse_port_(reuse_port), spec_(std::move(spec)),
        passed_(passed), key_(std::move(key)) {
    spec_.port = socket_.port;
    spec_.reuse_port = true;
    spec_.backlog.reset();
  }

  ~shared_handle() override { close(); }

  bool has(const Worker& worker) const override { return workers_.count(worker.id()) != 0; }

  join_reply add(Worker& worker) override {
    workers_.insert(worker.id());
    join_reply reply;
    if (reuse_port_ && worker.slot()) {
      if (const int fd = slot_socket(*worker.slot()); fd >= 0) {
        reply.fd = fd;
        return reply;
      }
    }
    if (reuse_port_ && worker.is_cocluster_peer()) {
      reply.sockname = socket_.sockname;
      reply.reuse_port = true;
      return reply;
    }
    reply.fd = socket_.fd.get();
    reply.handle_type = udp_ ? protocol::handle_dgram_native : protocol::handle_net_native;
    return reply;
  }

  bool retire(Worker& worker) override { return remove(worker); }

  bool remove(Worker& worker) override {
    workers_.erase(worker.id());
    return workers_.empty();
  }

  void release_slot(int slot) override { slots_.erase(slot); }

  void add_handover_sockets(const std::string& key, std::vector<handover_socket>& out) override {
    if (!socket_.fd)
      return;
    if (!reuse_port_) {
      out.push_back({socket_.fd.get(), handover_key_name(key)});
      return;
    }
    // The port, and each slot's socket for the new primary's worker in that slot.
    out.push_back({socket_.fd.get(), handover_port_name(key)});
    for (const auto& [slot, bound] : slots_)
      out.push_back({bound.fd.get(), handover_slot_name(key, slot)});
  }

  void hand_over() override { socket_.unlink_path.clear(); }

  void close() override {
    slots_.clear();
    if (!socket_.fd)
      return;
    socket_.fd.reset();
    if (!socket_.unlink_path.empty())
      ::unlink(socket_.unlink_path.c_str());
  }

private:
  // The slot's socket, bound on first use; -1 if it cannot be bound (the worker then binds its
  // own, as without a slot).
  int slot_socket(int slot) {
    auto it = slots_.find(slot);
    if (it == slots_.end()) {
      auto spec = spec_;
      // The old primary's socket of this slot, after a hot upgrade: listening already.
      if (const auto* old = passed_ ? passed_->named(handover_slot_name(key_, slot)) : nullptr)
        spec.fd = old->fd;
      std::optional<bind_failure> failure;
      auto bound = bind_socket(spec, failure);
      if (failure)
        return -1;
      it = slots_.emplace(slot, std::move(bound)).first;
    }
    return it->second.fd.get();
  }

  bound_socket socket_;
  bool udp_;
  bool reuse_port_;
  bind_spec spec_;
  std::map<int, bound_socket> slots_;
  std::set<int> workers_;
  const activated_sockets* passed_;
  std::string key_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_SHARED_HANDLE_HPP
