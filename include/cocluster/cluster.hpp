/// @file
/// `cluster`: the entry point — one per process, primary or worker.
#ifndef COCLUSTER_CLUSTER_HPP
#define COCLUSTER_CLUSTER_HPP

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/primary_role.hpp"
#include "cocluster/detail/worker_environment.hpp"
#include "cocluster/detail/worker_role.hpp"
#include "cocluster/error.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/events.hpp"
#include "cocluster/options.hpp"
#include "cocluster/scheduling/policy.hpp"
#include "cocluster/scheduling/round_robin.hpp"
#include "cocluster/serialization/json.hpp"
#include "cocluster/serialization/policy.hpp"
#include "cocluster/settings.hpp"
#include "cocluster/worker.hpp"

namespace cocluster {

namespace detail {
// A process has one cluster: the worker's environment can be taken only once.
inline std::atomic<bool> cluster_exists{false};
} // namespace detail

/// Node's `cluster` module for one process.
///
/// Made once per process, on the `io_context` that runs it. If this process was started as a
/// worker (`NODE_UNIQUE_ID` is set, by a cocluster or a Node primary), it is the worker: it
/// removes Node's variables from the environment, connects to the primary and reports itself
/// online. Otherwise it is the primary, which forks workers, shares server ports with them, and
/// reports their lifecycle.
///
/// @tparam Scheduling how the primary distributes connections (`round_robin`, `shared_socket`,
/// `reuse_port`, `least_connections`, `ip_hash`, or your own `scheduling_policy`).
/// @tparam Serialization the IPC encoding (`json` or `advanced`), as Node's `serialization`.
///
/// @par Thread Safety
/// Not thread-safe: use it from the thread that runs its `io_context`.
template <scheduling_policy Scheduling = round_robin, serialization_policy Serialization = json>
class cluster {
public:
  using scheduling_type = Scheduling;
  using serialization_type = Serialization;
  /// A handle on a worker (the same type in both roles).
  using worker_type = basic_worker<Serialization>;
  /// The message type.
  using value_type = typename Serialization::value_type;
  using executor_type = asio::any_io_executor;

  /// @throws std::logic_error if another cluster object exists in this process;
  /// std::invalid_argument / std::system_error if the worker environment is broken.
  explicit cluster(asio::io_context& io, cluster_options options = {})
      : cluster(io.get_executor(), std::move(options)) {}

  explicit cluster(const executor_type& executor, cluster_options options = {})
      : executor_(executor), options_(std::move(options)) {
    if (detail::cluster_exists.exchange(true))
      throw std::logic_error("cocluster: a process has one cluster object at a time");
    try {
      if (auto environment = detail::take_worker_environment())
        worker_ = std::make_unique<detail::worker_role<Serialization>>(executor_, options_,
                                                                       *environment);
      else
        primary_ = std::make_unique<detail::primary_role<Serialization>>(executor_, options_);
    } catch (...) {
      detail::cluster_exists = false;
      throw;
    }
  }

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// Closes every channel and ends every subscription. Workers of a primary see their channel
  /// close and exit, as they would if the primary died.
  ~cluster() {
    primary_.reset();
    worker_.reset();
    detail::cluster_exists = false;
  }

  /// True in the primary (Node's `isPrimary`).
  bool is_primary() const noexcept { return primary_ != nullptr; }
  /// True in a worker (Node's `isWorker`).
  bool is_worker() const noexcept { return worker_ != nullptr; }

  /// The executor everything runs on.
  executor_type get_executor() const noexcept { return executor_; }

  // ---- primary ----

  /// The settings in effect (Node's `cluster.settings`): empty until the first `setup_primary`
  /// or `fork`.
  const cocluster::settings& settings() const { return primary("settings").current_settings(); }

  /// Node's `setupPrimary`: changes the settings of later forks. Fields set in `changes` replace
  /// earlier ones, others are kept; defaults (exec: this executable, args: this process's) are
  /// filled in. Emits `setup`.
  /// @throws std::invalid_argument / std::system_error naming a bad setting (nothing changes).
  void setup_primary(const cocluster::settings& changes = {}) {
    primary("setup_primary").setup(changes);
  }

  /// Starts a worker with `env` added to its environment (Node's `cluster.fork(env)`). Returns
  /// at once a handle on the worker, in state `none`; a failed start is reported through its
  /// `error` and `exit` events, never thrown.
  /// @throws std::invalid_argument for bad settings or `env`.
  worker_type fork(const std::map<std::string, std::string>& env = {}) {
    return primary("fork").fork(env);
  }

  /// The live workers by id (Node's `cluster.workers`): a worker stays until it has both
  /// disconnected and exited.
  const std::map<int, worker_type>& workers() const { return primary("workers").workers(); }

  /// The live worker with this id, or an empty handle.
  worker_type find_worker(int id) const { return primary("find_worker").find(id); }

  /// Node's `cluster.disconnect()`: disconnects every worker gracefully; completes once all of
  /// them have disconnected and exited (at once, but asynchronously, when there are none).
  /// @par Completion Signature
  /// `void(std::error_code)`.
  template <class Token = asio::use_awaitable_t<>>
  auto async_disconnect(Token&& token = {}) {
    return primary("disconnect").async_disconnect(std::forward<Token>(token));
  }

  /// `co_await cluster.disconnect()`.
  asio::awaitable<void> disconnect() { return async_disconnect(asio::use_awaitable); }

  /// Subscribes to a cluster-wide event: `event::fork`, `online`, `listening`, `disconnect`,
  /// `exit`, `message`, `error`, `setup`. See `event_stream`.
  template <class Tag>
  auto subscribe(Tag tag) {
    return primary("subscribe").subscribe(tag);
  }

  // ---- worker ----

  /// This worker (Node's `cluster.worker`).
  /// @throws std::system_error `errc::wrong_role` in the primary.
  worker_type worker() const {
    if (!worker_)
      throw std::system_error(make_error_code(errc::wrong_role),
                              "cocluster: worker() is only available in a worker");
    return worker_->self();
  }

private:
  detail::primary_role<Serialization>& primary(const char* what) const {
    if (!primary_)
      throw std::system_error(make_error_code(errc::wrong_role),
                              std::string("cocluster: ") + what +
                                  " is only available in the primary");
    return *primary_;
  }

  executor_type executor_;
  cluster_options options_;
  std::unique_ptr<detail::primary_role<Serialization>> primary_;
  std::unique_ptr<detail::worker_role<Serialization>> worker_;
};

} // namespace cocluster

#endif // COCLUSTER_CLUSTER_HPP
