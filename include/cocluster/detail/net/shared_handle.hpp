/// @file
/// Node's SharedHandle: the primary binds once and every worker gets the descriptor. Used for
/// `shared_socket`, for every UDP socket, and for `reuse_port` (where cocluster workers bind
/// their own socket on the port the primary reserved, and Node workers listen on the primary's).
#ifndef COCLUSTER_DETAIL_NET_SHARED_HANDLE_HPP
#define COCLUSTER_DETAIL_NET_SHARED_HANDLE_HPP

#include <unistd.h>

#include <set>
#include <utility>

#include "cocluster/detail/net/handle_entry.hpp"
#include "cocluster/detail/net/socket_ops.hpp"
#include "cocluster/detail/ipc/protocol.hpp"

namespace cocluster::detail {

template <class Worker>
class shared_handle final : public handle_entry<Worker> {
public:
  /// `reuse_port`: cocluster peers bind their own socket (`socket` is the primary's reservation).
  shared_handle(bound_socket socket, bool udp, bool reuse_port)
      : socket_(std::move(socket)), udp_(udp), reuse_port_(reuse_port) {}

  ~shared_handle() override { close(); }

  bool has(const Worker& worker) const override { return workers_.count(worker.id()) != 0; }

  join_reply add(Worker& worker) override {
    workers_.insert(worker.id());
    join_reply reply;
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

  void close() override {
    if (!socket_.fd)
      return;
    socket_.fd.reset();
    if (!socket_.unlink_path.empty())
      ::unlink(socket_.unlink_path.c_str());
  }

private:
  bound_socket socket_;
  bool udp_;
  bool reuse_port_;
  std::set<int> workers_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_NET_SHARED_HANDLE_HPP
