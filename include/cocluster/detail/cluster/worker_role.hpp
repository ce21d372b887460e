// SPDX-License-Identifier: MIT
/// @file
/// A worker process's side of a cluster: the channel to the primary and the worker object that
/// represents this process.
#ifndef COCLUSTER_DETAIL_CLUSTER_WORKER_ROLE_HPP
#define COCLUSTER_DETAIL_CLUSTER_WORKER_ROLE_HPP

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "cocluster/config.hpp"
#include "cocluster/detail/cluster/route_client.hpp"
#include "cocluster/detail/cluster/worker_environment.hpp"
#include "cocluster/detail/ipc/channel.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/net/net_hooks.hpp"
#include "cocluster/detail/worker/self_worker.hpp"
#include "cocluster/detail/worker/worker_impl.hpp"
#include "cocluster/detail/worker/worker_observer.hpp"
#include "cocluster/options.hpp"
#include "cocluster/worker.hpp"

namespace cocluster::detail {

/// The worker process's state. Owned by `cluster`.
template <serialization_policy S>
class worker_role final : public worker_observer<worker_impl<S>> {
public:
  using worker_type = basic_worker<S>;
  using impl_type = worker_impl<S>;

  worker_role(asio::any_io_executor executor, const cluster_options& options,
              const worker_environment& environment)
      : executor_(executor) {
    if (environment.serialization_mode != S::mode_name)
      throw std::invalid_argument(
          "cocluster: the primary speaks '" + environment.serialization_mode +
          "' serialization (NODE_CHANNEL_SERIALIZATION_MODE) but this worker was built for '" +
          std::string(S::mode_name) + "'");
    worker_init<S> init;
    init.executor = executor;
    init.id = environment.id;
    init.pid = ::getpid();
    init.ipc = std::make_shared<channel<S>>(executor, unique_fd(environment.channel_fd),
                                            options.ipc);
    init.seq = &seq_;
    init.observer = this;
    init.exit_on_unexpected_disconnect = options.exit_on_unexpected_disconnect;
    self_ = std::make_shared<self_worker<S>>(worker_key(), std::move(init));
    self_->start(worker_key());
    routes_ = std::make_unique<route_client<S>>(self_, environment.cocluster_primary);
    // Node sends `online` during bootstrap, before any user code runs. The extra field tells a
    // cocluster primary that this peer takes several connections in flight (Node ignores it).
    auto online = protocol::cluster_message(protocol::act_online);
    online[protocol::field_peer] = 1;
    self_->send_internal(worker_key(), std::move(online));
  }

  worker_role(const worker_role&) = delete;
  worker_role& operator=(const worker_role&) = delete;

  ~worker_role() { self_->detach(worker_key()); }

  void set_net(worker_net_hooks<impl_type>* net) noexcept { net_ = net; }

  worker_type self() const noexcept { return worker_type(self_); }

  const std::shared_ptr<impl_type>& self_impl() const noexcept { return self_; }

  /// `send_to` and a worker's `broadcast`.
  route_client<S>& routes() noexcept { return *routes_; }

private:
  void worker_online(impl_type&) override {}
  bool wants_messages() override { return false; }
  void worker_message(impl_type&, typename worker_type::value_type&&) override {}
  void worker_error(impl_type&, const worker_error&) override {}
  void worker_internal(impl_type& worker, nlohmann::json&& message, unique_fd fd) override {
    if (net_)
      net_->on_server_message(worker, std::move(message), std::move(fd));
  }
  void worker_disconnect_requested(impl_type&) override {}
  void worker_disconnected(impl_type&) override {}
  void worker_exited(impl_type&, const exit_status&) override {}
  void close_servers(std::function<void()> done,
                     std::optional<std::chrono::milliseconds> drain_timeout) override {
    if (net_)
      net_->close_all(std::move(done), drain_timeout);
    else
      done();
  }
  // The worker object decided that this process leaves: exit code 0, as Node's worker.
  void process_should_exit(exit_timing when) override {
    if (when == exit_timing::now)
      std::exit(0);
    else
      asio::post(executor_, [] { std::exit(0); });
  }

  asio::any_io_executor executor_;
  sequence seq_;
  std::shared_ptr<impl_type> self_;
  std::unique_ptr<route_client<S>> routes_;
  worker_net_hooks<impl_type>* net_ = nullptr;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CLUSTER_WORKER_ROLE_HPP
