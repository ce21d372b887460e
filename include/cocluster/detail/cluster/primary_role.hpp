// SPDX-License-Identifier: MIT
/// @file
/// The primary's side of a cluster: settings, forking, the workers registry, cluster-wide
/// events, and disconnecting everything.
#ifndef COCLUSTER_DETAIL_CLUSTER_PRIMARY_ROLE_HPP
#define COCLUSTER_DETAIL_CLUSTER_PRIMARY_ROLE_HPP

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/async_once.hpp"
#include "cocluster/detail/async/erased_handler.hpp"
#include "cocluster/detail/async/event_hub.hpp"
#include "cocluster/detail/cluster/launch.hpp"
#include "cocluster/detail/cluster/metrics_collector.hpp"
#include "cocluster/detail/cluster/router.hpp"
#include "cocluster/detail/ipc/channel.hpp"
#include "cocluster/detail/net/net_hooks.hpp"
#include "cocluster/detail/process/child_watcher.hpp"
#include "cocluster/detail/process/environment.hpp"
#include "cocluster/detail/worker/child_worker.hpp"
#include "cocluster/detail/worker/worker_observer.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/events.hpp"
#include "cocluster/options.hpp"
#include "cocluster/settings.hpp"
#include "cocluster/worker.hpp"

namespace cocluster::detail {

/// The primary's state. Owned by `cluster`.
template <serialization_policy S>
class primary_role final : public worker_observer<worker_impl<S>>,
                           public primary_net_reports<worker_impl<S>> {
public:
  using worker_type = basic_worker<S>;
  using impl_type = worker_impl<S>;

  primary_role(asio::any_io_executor executor, const cluster_options& options)
      : executor_(executor), options_(options), fork_hub_(executor), online_hub_(executor),
        listening_hub_(executor), disconnect_hub_(executor), exit_hub_(executor),
        message_hub_(executor), handle_message_hub_(executor), error_hub_(executor),
        setup_hub_(executor) {}

  primary_role(const primary_role&) = delete;
  primary_role& operator=(const primary_role&) = delete;

  ~primary_role() {
    for (auto& [id, worker] : workers_)
      worker.impl(worker_key()).detach(worker_key());
    for (auto& pending : pending_disconnects_)
      pending.report(make_error_code(errc::stream_closed));
  }

  void set_net(primary_net_hooks<impl_type>* net) noexcept { net_ = net; }

  const asio::any_io_executor& executor() const noexcept { return executor_; }

  // ---- settings ----

  const settings& current_settings() const noexcept { return settings_; }

  bool is_set_up() const noexcept { return set_up_; }

  /// Node's setupPrimary: merges, fills in defaults, emits `setup` (asynchronously, every call).
  void setup(const settings& changes) {
    changes.validate();
    settings next = settings_.merged_with(changes);
    if (!next.exec)
      next.exec = self_executable();
    if (!next.args)
      next.args = self_arguments();
    if (!next.silent)
      next.silent = false;
    next.validate();
    settings_ = std::move(next);
    set_up_ = true;
    asio::post(executor_, [alive = std::weak_ptr<int>(alive_), this, published = settings_] {
      if (!alive.expired())
        setup_hub_.publish(setup_event{published});
    });
  }

  // ---- workers ----

  worker_type fork(const std::map<std::string, std::string>& env) { return fork(env, {}, {}); }

  /// `fork(env)` with `overrides` merged over the settings for this worker only, into `slot`.
  worker_type fork(const std::map<std::string, std::string>& env, const settings& overrides,
                   std::optional<int> slot) {
    for (const auto& [name, value] : env)
      if (name.empty() || name.find('=') != std::string::npos ||
          (name + value).find('\0') != std::string::npos)
        throw std::invalid_argument("cocluster: fork: bad environment variable '" + name + "'");
    setup({});
    overrides.validate();
    const settings effective = settings_.merged_with(overrides);
    effective.validate();
    const int id = ++last_id_;
    auto launched = launch_worker(effective, env, id, S::mode_name);

    worker_init<S> init;
    init.executor = executor_;
    init.id = id;
    init.pid = launched.pid;
    init.ipc = std::make_shared<channel<S>>(executor_, std::move(launched.channel), options_.ipc);
    if (launched.pid > 0)
      init.watcher = std::make_shared<child_watcher>(executor_, launched.pid,
                                                     std::move(launched.pidfd));
    init.seq = &seq_;
    init.observer = this;
    init.spawn_failure = std::move(launched.failure);
    init.stdio_pipes = std::move(launched.pipes);
    init.slot = slot;
    std::shared_ptr<impl_type> impl = std::make_shared<child_worker<S>>(worker_key(),
                                                                        std::move(init));
    workers_.emplace(id, worker_type(impl));
    impl->start(worker_key());
    if (launched.pid <= 0) // nothing was started: there will be no process to reap
      asio::post(executor_, [impl] { impl->process_exited(worker_key(), {127, {}}); });
    asio::post(executor_,
               [alive = std::weak_ptr<int>(alive_), this, weak = std::weak_ptr<impl_type>(impl)] {
                 if (auto w = weak.lock(); w && !alive.expired())
                   fork_hub_.publish({worker_type(w)});
               });
    return worker_type(impl);
  }

  const std::map<int, worker_type>& workers() const noexcept { return workers_; }

  /// The sockets kept for a pool slot close (see `fork_options::slot`).
  void release_slot(int slot) {
    if (net_)
      net_->release_slot(slot);
  }

  /// The counts of the workers that left the registry (for the metrics' totals).
  const departed_counts& departed() const noexcept { return departed_; }

  worker_type find(int id) const {
    auto it = workers_.find(id);
    return it == workers_.end() ? worker_type() : it->second;
  }

  /// `cluster.broadcast` in the primary (see `router::broadcast`).
  std::size_t broadcast(const typename worker_type::value_type& message) {
    return router<S>::broadcast(workers_, message);
  }

  /// Disconnects every connected worker; completes once all workers present now have both
  /// disconnected and exited (Node completes at the first exit: nodejs/node quirk, fixed).
  template <class Token>
  auto async_disconnect(Token&& token) {
    return async_once<>(
        std::forward<Token>(token), executor_,
        [](once_report<> report, primary_role* self) {
          std::set<int> ids;
          std::vector<worker_type> targets;
          for (auto& [id, worker] : self->workers_) {
            ids.insert(id);
            targets.push_back(worker);
          }
          for (auto& worker : targets)
            worker.disconnect();
          if (ids.empty())
            report({});
          else
            self->pending_disconnects_.push_back({std::move(ids), std::move(report)});
        },
        this);
  }

  // ---- subscriptions ----

  event_stream<fork_event<worker_type>> subscribe(event::fork_t) { return stream(fork_hub_); }
  event_stream<online_event<worker_type>> subscribe(event::online_t) { return stream(online_hub_); }
  event_stream<listening_event<worker_type>> subscribe(event::listening_t) {
    return stream(listening_hub_);
  }
  event_stream<disconnect_event<worker_type>> subscribe(event::disconnect_t) {
    return stream(disconnect_hub_);
  }
  event_stream<exit_event<worker_type>> subscribe(event::exit_t) { return stream(exit_hub_); }
  event_stream<error_event<worker_type>> subscribe(event::error_t) { return stream(error_hub_); }
  event_stream<setup_event> subscribe(event::setup_t) { return stream(setup_hub_); }

  event_stream<message_event<worker_type>> subscribe(event::message_t) {
    auto queue = message_hub_.subscribe();
    for (auto& entry : workers_) { // (clang 14 cannot capture structured bindings)
      const worker_type& worker = entry.second;
      worker.impl(worker_key())
          .hand_over_unclaimed(worker_key(), [&](typename worker_type::value_type&& message) {
            queue->push({worker, std::move(message)});
          });
    }
    return event_stream<message_event<worker_type>>(std::move(queue));
  }

  event_stream<handle_message_event<worker_type>> subscribe(event::handle_message_t) {
    auto queue = handle_message_hub_.subscribe();
    for (auto& entry : workers_) {
      const worker_type& worker = entry.second;
      worker.impl(worker_key())
          .hand_over_unclaimed_handles(
              worker_key(), [&](handle_message<typename worker_type::value_type>&& received) {
                queue->push({worker, std::move(received.message), std::move(received.handle)});
              });
    }
    return event_stream<handle_message_event<worker_type>>(std::move(queue));
  }

  /// Reports a listening worker (called by the net layer).
  void worker_listening(impl_type& worker, const listen_address& address) override {
    worker.mark_listening(worker_key(), address);
    listening_hub_.publish({handle(worker), address});
  }

private:
  static worker_type handle(impl_type& worker) { return worker_type(worker.shared_from_this()); }

  template <class Event>
  static event_stream<Event> stream(event_hub<Event>& hub) {
    return event_stream<Event>(hub.subscribe());
  }

  // ---- worker_observer ----

  void worker_online(impl_type& worker) override {
    if (worker.is_cocluster_peer()) // a cocluster worker takes many descriptors in flight
      worker.ipc(worker_key()).set_fd_window(64);
    router_.worker_online(worker);
    online_hub_.publish({handle(worker)});
  }

  bool wants_messages() override { return message_hub_.has_subscribers(); }

  bool wants_handle_messages() override { return handle_message_hub_.has_subscribers(); }

  void worker_handle_message(impl_type& worker, typename worker_type::value_type&& message,
                             cocluster::handle&& h) override {
    handle_message_hub_.publish({handle(worker), std::move(message), std::move(h)});
  }

  void worker_message(impl_type& worker, typename worker_type::value_type&& message) override {
    message_hub_.publish({handle(worker), std::move(message)});
  }

  void worker_route(impl_type& worker, nlohmann::json&& head,
                    typename worker_type::value_type&& payload) override {
    router_.route(worker, workers_, head, payload);
  }

  void worker_error(impl_type& worker, const worker_error& error) override {
    error_hub_.publish({handle(worker), error});
  }

  void worker_internal(impl_type& worker, nlohmann::json&& message, unique_fd fd) override {
    if (net_)
      net_->on_server_message(worker, std::move(message), std::move(fd));
  }

  void worker_disconnect_requested(impl_type& worker) override {
    if (net_)
      net_->retire_worker(worker);
  }

  void worker_disconnected(impl_type& worker) override {
    router_.worker_gone(worker.id(), workers_);
    if (net_)
      net_->remove_worker(worker);
    auto self = handle(worker);
    if (worker.is_gone())
      remove(worker);
    disconnect_hub_.publish({self});
  }

  void worker_exited(impl_type& worker, const exit_status& status) override {
    auto self = handle(worker);
    if (worker.is_gone()) {
      if (net_)
        net_->remove_worker(worker);
      remove(worker);
    }
    exit_hub_.publish({self, status});
  }

  void close_servers(std::function<void()> done,
                     std::optional<std::chrono::milliseconds>) override {
    done();
  }
  // Only a worker process's own object leaves; the primary's children never ask.
  void process_should_exit(exit_timing) override {}

  // Node's removeWorker, once a worker has both disconnected and exited.
  void remove(impl_type& worker) {
    auto it = workers_.find(worker.id());
    if (it == workers_.end())
      return;
    departed_.add(it->second.impl(worker_key()));
    // Released after the handlers now running: the worker object may be the caller.
    asio::post(executor_, [released = std::move(it->second)] {});
    workers_.erase(it);
    for (auto pending = pending_disconnects_.begin(); pending != pending_disconnects_.end();) {
      pending->ids.erase(worker.id());
      if (pending->ids.empty()) {
        pending->report({});
        pending = pending_disconnects_.erase(pending);
      } else {
        ++pending;
      }
    }
  }

  struct pending_disconnect {
    std::set<int> ids;
    once_report<> report;
  };

  asio::any_io_executor executor_;
  cluster_options options_;
  router<S> router_{options_.ipc.write_queue_limit};
  settings settings_;
  bool set_up_ = false;
  int last_id_ = 0;
  sequence seq_;
  std::map<int, worker_type> workers_;
  std::vector<pending_disconnect> pending_disconnects_;
  primary_net_hooks<impl_type>* net_ = nullptr;
  departed_counts departed_;
  // Posted handlers that refer to this object check that it still exists.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);

  event_hub<fork_event<worker_type>> fork_hub_;
  event_hub<online_event<worker_type>> online_hub_;
  event_hub<listening_event<worker_type>> listening_hub_;
  event_hub<disconnect_event<worker_type>> disconnect_hub_;
  event_hub<exit_event<worker_type>> exit_hub_;
  event_hub<message_event<worker_type>> message_hub_;
  event_hub<handle_message_event<worker_type>> handle_message_hub_;
  event_hub<error_event<worker_type>> error_hub_;
  event_hub<setup_event> setup_hub_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CLUSTER_PRIMARY_ROLE_HPP
