// SPDX-License-Identifier: MIT
/// @file
/// `cluster`: the entry point — one per process, primary or worker.
#ifndef COCLUSTER_CLUSTER_HPP
#define COCLUSTER_CLUSTER_HPP

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/async_once.hpp"
#include "cocluster/detail/async/await_failure.hpp"
#include "cocluster/detail/cluster/metrics_collector.hpp"
#include "cocluster/detail/cluster/primary_role.hpp"
#include "cocluster/detail/cluster/route_client.hpp"
#include "cocluster/detail/cluster/worker_environment.hpp"
#include "cocluster/detail/cluster/worker_role.hpp"
#include "cocluster/detail/net/listen_here.hpp"
#include "cocluster/detail/net/listen_request.hpp"
#include "cocluster/detail/net/primary_listeners.hpp"
#include "cocluster/detail/net/worker_servers.hpp"
#include "cocluster/detail/worker/worker_impl.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/error.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/events.hpp"
#include "cocluster/metrics.hpp"
#include "cocluster/net/listen_options.hpp"
#include "cocluster/net/server.hpp"
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

/// The distribution chosen at run time by NODE_CLUSTER_SCHED_POLICY (Node's variable: "rr",
/// "none"; cocluster adds "reuseport"), if it names one.
inline std::optional<distribution> distribution_from_environment() {
  const char* value = std::getenv("NODE_CLUSTER_SCHED_POLICY");
  if (value == nullptr)
    return std::nullopt;
  const std::string_view name(value);
  if (name == "rr")
    return distribution::primary_accepts;
  if (name == "none")
    return distribution::shared_socket;
  if (name == "reuseport")
    return distribution::reuse_port;
  return std::nullopt;
}

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
/// @par Example
/// The same program is the primary and its workers (`examples/hello.cpp`):
/// @code
/// asio::awaitable<void> primary(cocluster::cluster<>& cluster) {
///   auto exits = cluster.subscribe(cocluster::event::exit);
///   for (int i = 0; i < 4; ++i)
///     cluster.fork();
///   for (;;) { // a worker that dies is replaced
///     co_await exits.async_receive(asio::use_awaitable);
///     cluster.fork();
///   }
/// }
/// // in main(); worker(cluster) listens, as tcp_listen_options shows:
/// cocluster::cluster<> cluster(io); // cluster<round_robin, json>: Node's defaults
/// asio::co_spawn(io, cluster.is_primary() ? primary(cluster) : worker(cluster), asio::detached);
/// @endcode
///
/// @par Thread Safety
/// Not thread-safe: use it from the thread that runs its `io_context`.
template <scheduling_policy Scheduling = round_robin, serialization_policy Serialization = json>
class cluster {
public:
  /// The scheduling policy (the `Scheduling` argument).
  using scheduling_type = Scheduling;
  /// The serialization policy (the `Serialization` argument).
  using serialization_type = Serialization;
  /// A handle on a worker (the same type in both roles).
  using worker_type = basic_worker<Serialization>;
  /// The message type.
  using value_type = typename Serialization::value_type;
  /// The type of the executor the cluster runs on (`get_executor()`).
  using executor_type = asio::any_io_executor;

  /// @throws std::logic_error if another cluster object exists in this process;
  /// std::invalid_argument / std::system_error if the worker environment is broken.
  /// @param io the context whose `run()` drives the cluster; it must outlive the cluster.
  /// @param options the IPC limits, drain timeout and hand-off windows (`cluster_options`); each
  ///   process (primary and worker) sets its own.
  explicit cluster(asio::io_context& io, cluster_options options = {})
      : cluster(io.get_executor(), std::move(options)) {}

  /// The same, on `executor` rather than on an `io_context`'s own; throws as the one above.
  /// @param executor the executor every handler of the cluster runs on (a strand is not needed:
  ///   the cluster is single-threaded).
  /// @param options as above.
  explicit cluster(const executor_type& executor, cluster_options options = {});

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// Closes every channel and ends every subscription. Workers of a primary see their channel
  /// close and exit, as they would if the primary died.
  ~cluster();

  /// True in the primary (Node's `isPrimary`).
  /// @return whether this process is the primary (no `NODE_UNIQUE_ID` at construction).
  bool is_primary() const noexcept { return primary_ != nullptr; }
  /// True in a worker (Node's `isWorker`).
  /// @return whether this process is a worker; always `!is_primary()`.
  bool is_worker() const noexcept { return worker_ != nullptr; }

  /// The executor everything runs on.
  /// @return the executor given at construction (or the `io_context`'s).
  executor_type get_executor() const noexcept { return executor_; }

  // ---- primary ----

  /// The settings in effect (Node's `cluster.settings`): empty until the first `setup_primary`
  /// or `fork`.
  /// @return the merged settings, valid until the next `setup_primary`. Throws `std::system_error`
  ///   (`errc::wrong_role`) in a worker, as every primary-only call does.
  const cocluster::settings& settings() const;

  /// Node's `setupPrimary`: changes the settings of later forks. Fields set in `changes` replace
  /// earlier ones, others are kept; defaults (exec: this executable, args: this process's) are
  /// filled in. Emits `setup`.
  /// @throws std::invalid_argument / std::system_error naming a bad setting (nothing changes).
  /// @param changes the fields to change; empty fields keep what is set (`settings::merged_with`).
  void setup_primary(const cocluster::settings& changes = {});

  /// Starts a worker with `env` added to its environment (Node's `cluster.fork(env)`). Returns
  /// at once a handle on the worker, in state `none`; a failed start is reported through its
  /// `error` and `exit` events, never thrown.
  /// @throws std::invalid_argument for bad settings or `env`.
  /// @param env variables added to (or replacing those of) the worker's environment, over
  ///   `settings().env`.
  /// @return the new worker's handle (it is in `workers()` from now on).
  worker_type fork(const std::map<std::string, std::string>& env = {});

  /// Starts a worker as `fork(options.env)` does, with `options.overrides` merged over the
  /// settings for this worker only and in pool slot `options.slot` (cocluster's extension, for
  /// pools such as the `supervisor`'s).
  /// @throws std::invalid_argument for bad overrides or `env` (nothing is started).
  /// @param options the worker's environment, settings overrides and pool slot.
  /// @return the new worker's handle.
  worker_type fork_with(const fork_options& options);

  /// Closes the sockets kept for pool slot `slot` (`fork_options::slot`) once no worker of the
  /// slot is left: a pool that shrinks calls it for the slots it gave up. Connections still
  /// queued in them are reset by the kernel, unless `net.ipv4.tcp_migrate_req` is 1 (Linux
  /// 5.14+), which moves them to the port's other sockets.
  /// @param slot a slot given to `fork_with`; one with no sockets kept does nothing.
  void release_slot(int slot);

  /// Internal, for the supervisor's hot upgrade: the primary's shared listeners (null in a
  /// worker).
  /// @return the listeners, owned by the cluster.
  detail::primary_listeners<Scheduling, detail::worker_impl<Serialization>>* listeners(
      detail::worker_key) const noexcept {
    return listeners_.get();
  }

  /// How connections reach workers (Node's `cluster.schedulingPolicy`): `Scheduling::mode`,
  /// unless NODE_CLUSTER_SCHED_POLICY says "rr" (the primary accepts, with `Scheduling` if it is
  /// such a policy, else `round_robin`), "none" (`shared_socket`) or "reuseport". UDP is always
  /// shared.
  /// @return the distribution every server of this primary uses.
  cocluster::distribution distribution() const noexcept { return distribution_; }

  /// Changes the distribution before the first `setup_primary` or `fork` (Node ignores a later
  /// change silently; this refuses it).
  /// @throws std::logic_error once the distribution is fixed.
  /// @param d the distribution for every later server.
  void set_distribution(cocluster::distribution d) {
    if (distribution_frozen_)
      throw std::logic_error("cocluster: the distribution is fixed at the first setup_primary "
                             "or fork");
    distribution_ = d;
  }

  /// The live workers by id (Node's `cluster.workers`): a worker stays until it has both
  /// disconnected and exited.
  /// @return the map, valid until the next event changes it (copy the handles to keep them).
  const std::map<int, worker_type>& workers() const;

  /// The live worker with this id, or an empty handle.
  /// @param id a worker's id (`worker.id()`).
  /// @return its handle, or an empty one when no live worker has that id.
  worker_type find_worker(int id) const;

  /// Node's `cluster.disconnect()`: disconnects every worker gracefully; completes once all of
  /// them have disconnected and exited (at once, but asynchronously, when there are none).
  /// @par Completion Signature
  /// `void(std::error_code)`.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_disconnect(Token&& token = {}) {
    return primary("disconnect").async_disconnect(std::forward<Token>(token));
  }

  /// `co_await cluster.disconnect()`.
  /// @return an awaitable of `async_disconnect`.
  asio::awaitable<void> disconnect();

  /// Subscribes to a cluster-wide event: `event::fork`, `online`, `listening`, `disconnect`,
  /// `exit`, `message`, `handle_message` (messages sent with a handle, as
  /// `handle_message_event`), `error`, `setup`. See `event_stream`.
  /// @tparam Tag the tag type of one of the events above (`event::exit_t`, ...).
  /// @param tag the event: `cocluster::event::exit`, `cocluster::event::message`, ...
  /// @return an `event_stream` of that event's type (`exit_event<worker_type>`, ...), which gets
  ///   every event from now on.
  template <class Tag>
  auto subscribe(Tag tag) {
    return primary("subscribe").subscribe(tag);
  }

  /// Takes a snapshot of the cluster's metrics: for each worker of `workers()` its identity,
  /// state and times, the connections handed to it and refused by it, its channel's traffic and
  /// queue, its open connections (cocluster workers are asked, and answer from their own event
  /// loop; one that does not answer within 1 s has none in the snapshot, as Node workers, which
  /// are not asked) and its memory and CPU use from `/proc`; the totals; the primary's own use.
  /// `/proc` is read 16 processes per turn of the event loop (about 10 µs each).
  /// `to_prometheus_text` formats the snapshot for Prometheus.
  /// @par Completion Signature
  /// `void(std::error_code, cluster_metrics)`: always success.
  /// @throws std::system_error `errc::wrong_role` in a worker.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <
      asio::completion_token_for<void(error_code, cluster_metrics)> Token = asio::use_awaitable_t<>>
  auto async_metrics(Token&& token = {}) {
    return detail::async_once<cluster_metrics>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<cluster_metrics> report, detail::primary_role<Serialization>* role) {
          detail::metrics_collection::start(
              role->executor(), role->workers(), role->departed(),
              detail::erased_handler<cluster_metrics>(std::move(report), role->executor()));
        },
        &primary("metrics"));
  }

  // ---- servers (both roles) ----

  /// Listens on a TCP port (Node's `server.listen`). In a worker the port is shared with every
  /// worker listening on it (unless `exclusive`), distributed as `distribution()` says; in the
  /// primary it is an ordinary server.
  ///
  /// @par Completion Signature
  /// `void(std::error_code, tcp_server)`: the call's errno (EADDRINUSE, EACCES, ...), or
  /// `errc::channel_closed` in a worker that has no primary; the server is empty then. The
  /// same for every token (with `asio::use_awaitable`, `co_await` throws
  /// `std::system_error(code)`); `co_await cluster.listen(options)` throws one whose what()
  /// also names the call and the address ("cocluster: listen: bind 127.0.0.1:80: Permission
  /// denied").
  /// @par Per-Operation Cancellation
  /// All types: the wait ends with `asio::error::operation_aborted`; a server that is made
  /// afterwards is closed.
  /// @param options the port, host and other options (copied: they need not outlive the call).
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <
      asio::completion_token_for<void(error_code, tcp_server)> Token = asio::use_awaitable_t<>>
  auto async_listen(const tcp_listen_options& options, Token&& token = {}) {
    return detail::async_once<tcp_server>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<tcp_server> report, cluster* self, tcp_listen_options o) {
          self->start_tcp_listen(std::move(o), as_server<tcp_server>(std::move(report)));
        },
        this, options);
  }

  /// `co_await cluster.listen(tcp_listen_options{...})`.
  /// @param options the port, host and other options (copied at the call).
  /// @return an awaitable of the server; a failure is thrown as a `std::system_error` with the
  ///   code of `async_listen`, whose what() names the call and the address.
  asio::awaitable<tcp_server> listen(const tcp_listen_options& options);

  /// Listens on a Unix stream socket (Node's `server.listen(path)`).
  /// @par Completion Signature
  /// `void(std::error_code, unix_server)`, as for TCP, whatever the token (`listen(options)`
  /// throws naming the call and the path).
  /// @par Per-Operation Cancellation
  /// All types, as for TCP.
  /// @param options the path and other options (copied: they need not outlive the call).
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <
      asio::completion_token_for<void(error_code, unix_server)> Token = asio::use_awaitable_t<>>
  auto async_listen(const unix_listen_options& options, Token&& token = {}) {
    return detail::async_once<unix_server>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<unix_server> report, cluster* self, unix_listen_options o) {
          self->start_listen(detail::make_request(o), o.exclusive,
                             as_server<unix_server>(std::move(report)));
        },
        this, options);
  }

  /// `co_await cluster.listen(unix_listen_options{...})`.
  /// @param options the path and other options (copied at the call).
  /// @return an awaitable of the server; a failure is thrown naming the call and the path.
  asio::awaitable<unix_server> listen(const unix_listen_options& options);

  /// Binds a UDP socket (Node's `dgram` `socket.bind`). In a worker it is the primary's socket,
  /// shared by every worker bound there (Node always shares UDP).
  /// @par Completion Signature
  /// `void(std::error_code, asio::ip::udp::socket)`, as for `async_listen`, whatever the token:
  /// the socket is closed on failure. `co_await cluster.bind(options)` throws a
  /// `std::system_error` whose what() also names the call and the address ("cocluster: bind:
  /// bind 127.0.0.1:5353: Address already in use").
  /// @par Per-Operation Cancellation
  /// All types: the wait ends with `asio::error::operation_aborted` and a closed socket.
  /// @param options the port, address and other options (copied: they need not outlive the call).
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code, asio::ip::udp::socket)> Token =
                asio::use_awaitable_t<>>
  auto async_bind(const udp_bind_options& options, Token&& token = {}) {
    return detail::async_once<asio::ip::udp::socket>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<asio::ip::udp::socket> report, cluster* self,
           const udp_bind_options& o) {
          self->start_udp_bind(o, detail::failure_report<asio::ip::udp::socket>(std::move(report)));
        },
        this, options);
  }

  /// `co_await cluster.bind(udp_bind_options{...})`.
  /// @param options the port, address and other options (copied at the call).
  /// @return an awaitable of the bound socket; a failure is thrown as `async_bind` says.
  asio::awaitable<asio::ip::udp::socket> bind(const udp_bind_options& options);

  // ---- broadcast and worker-to-worker messages (cocluster's extension) ----

  /// In the primary: queues `message` for every connected worker, encoded once (the same bytes
  /// are queued on each channel), and returns how many workers it was queued for. Node workers
  /// get it too, as a plain message (`process.on('message')`); cocluster workers through
  /// `event::message`, as any message of the primary. As with `send`, a worker above the
  /// high-water mark still gets it (`async_drain` waits for room). A worker is not reached, and
  /// not counted, when its channel is closed or closing (it is leaving), or when its write queue
  /// is over `write_queue_limit`: that one also gets an `errc::write_queue_full` error event,
  /// so nothing is lost silently.
  ///
  /// In a worker: asks the primary to forward `message` to every other connected worker (not
  /// to this one); each cocluster worker receives it as a `routed_message` with this worker's
  /// id (`event::routed_message`), each Node worker as a plain message. Returns 0: the number
  /// reached is known to the primary only (`async_broadcast` completes with it). A failure
  /// (a full queue in the primary) comes back as an error event on `cluster.worker()`.
  /// @throws std::system_error `errc::unencodable_value`; in a worker also as `send`
  /// (`errc::channel_closed`, `errc::write_queue_full`) and `errc::no_routing` under a primary
  /// that is not cocluster (a Node primary ignores acts it does not know: the message would be
  /// lost without a word).
  /// @param message the message, encoded once.
  /// @return in the primary, how many workers it was queued for; in a worker, 0.
  std::size_t broadcast(const value_type& message);

  /// `broadcast` of a user type, converted by the serialization policy.
  /// @param message the user value, converted with `Serialization::to_value`.
  /// @return as `broadcast(const value_type&)`.
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, value_type>)
  std::size_t broadcast(const T& message) {
    return broadcast(Serialization::to_value(message));
  }

  /// `broadcast`, completing with how many workers the message was queued for: at once in the
  /// primary, once the primary answered in a worker (not counting the sender).
  /// @par Completion Signature
  /// `void(std::error_code, std::size_t)`: `errc::unencodable_value`; in a worker also
  /// `errc::no_routing`, `errc::channel_closed`, `errc::write_queue_full` (this worker's queue,
  /// or the primary's queue to another worker: the message was not queued for that one), the
  /// same whatever the token (an error event on `cluster.worker()` names the workers
  /// concerned).
  /// @par Per-Operation Cancellation
  /// All types: the wait ends with `asio::error::operation_aborted` (the message may still
  /// be delivered).
  /// @param message the message, moved in.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <
      asio::completion_token_for<void(error_code, std::size_t)> Token = asio::use_awaitable_t<>>
  auto async_broadcast(value_type message, Token&& token = {}) {
    return detail::async_once<std::size_t>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<std::size_t> report, cluster* self, const value_type& m) {
          if (self->worker_) {
            self->worker_->routes().send_and_wait(detail::routing::target::everyone(), m,
                                                  detail::failure_report<std::size_t>(report));
            return;
          }
          try {
            report({}, self->primary_->broadcast(m));
          } catch (const std::system_error& e) {
            report(e.code(), 0);
          }
        },
        this, std::move(message));
  }

  /// In a worker: asks the primary to forward `message` to worker `worker_id` (cocluster's
  /// extension: Node's workers relay through the primary by hand). A cocluster worker receives
  /// it as a `routed_message{from, message}` (`cluster.worker().subscribe(event::routed_message)`),
  /// whole in both serializations; a Node worker as a plain message, without the sender's id
  /// (the primary holds what comes for a worker not yet online, whose kind it does not know
  /// yet, until it is). Messages from one worker to another arrive in the order they were sent.
  /// Returns false above the high-water mark, as `send`. When the primary cannot deliver it (no
  /// worker `worker_id` is connected: `errc::no_such_worker`; its queue is full:
  /// `errc::write_queue_full`), an error event on `cluster.worker()` says so, naming the id;
  /// `async_send_to` reports it to the caller instead. In the primary, use
  /// `find_worker(id).send(message)`.
  /// @throws std::system_error `errc::wrong_role` in the primary, `errc::no_routing` under a
  /// primary that is not cocluster, and as `send`.
  /// @param worker_id the id of the worker to reach (its `worker.id()` in the primary); this
  ///   worker's own id reaches this worker, through the primary.
  /// @param message the message, carried whole in both serializations.
  /// @return true while at most the high-water mark is queued on this worker's channel.
  bool send_to(int worker_id, const value_type& message) {
    return worker_routes("send_to").send(detail::routing::target::worker(worker_id), message);
  }

  /// `send_to` of a user type, converted by the serialization policy.
  /// @param worker_id the id of the worker to reach.
  /// @param message the user value, converted with `Serialization::to_value`.
  /// @return as `send_to(int, const value_type&)`.
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, value_type>)
  bool send_to(int worker_id, const T& message) {
    return send_to(worker_id, Serialization::to_value(message));
  }

  /// `send_to`, completing once the primary has queued the message for worker `worker_id`, or
  /// with the failure.
  /// @par Completion Signature
  /// `void(std::error_code)`: `errc::no_such_worker` (no worker `worker_id` is connected),
  /// `errc::write_queue_full`, `errc::no_routing`, `errc::channel_closed`,
  /// `errc::unencodable_value`, the same whatever the token.
  /// @par Per-Operation Cancellation
  /// All types: the wait ends with `asio::error::operation_aborted` (the message may still
  /// be delivered).
  /// @throws std::system_error `errc::wrong_role` in the primary.
  /// @param worker_id the id of the worker to reach.
  /// @param message the message, moved in.
  /// @param token the completion token (`asio::use_awaitable` by default).
  /// @return what `token` makes of the operation.
  template <asio::completion_token_for<void(error_code)> Token = asio::use_awaitable_t<>>
  auto async_send_to(int worker_id, value_type message, Token&& token = {}) {
    return detail::async_once<>(
        std::forward<Token>(token), executor_,
        [](detail::once_report<> report, detail::route_client<Serialization>* routes, int to,
           const value_type& m) {
          routes->send_and_wait(detail::routing::target::worker(to), m,
                                [report](std::exception_ptr failure, std::size_t) {
                                  report(detail::error_code_of(failure));
                                });
        },
        &worker_routes("async_send_to"), worker_id, std::move(message));
  }

  // ---- worker ----

  /// This worker (Node's `cluster.worker`).
  /// @throws std::system_error `errc::wrong_role` in the primary.
  /// @return the handle on this process's own worker (`is_self()` true).
  worker_type worker() const;

private:
  using listeners_type = detail::primary_listeners<Scheduling, detail::worker_impl<Serialization>>;
  using servers_type = detail::worker_servers<detail::worker_impl<Serialization>>;
  using impl_callback =
      std::function<void(std::exception_ptr, std::shared_ptr<detail::server_impl>)>;

  void freeze_distribution();

  // What a listen reports, `(std::exception_ptr, std::shared_ptr<server_impl>)`, as the
  // server type `report` completes with.
  template <class Server, class Report>
  static impl_callback as_server(Report report) {
    return [report](std::exception_ptr failure, std::shared_ptr<detail::server_impl> impl) {
      report(detail::error_code_of(failure), Server(std::move(impl)));
    };
  }

  // Resolves a host name first, then listens.
  void start_tcp_listen(tcp_listen_options options, impl_callback done);

  void start_listen(const detail::listen_request& request, bool exclusive, impl_callback done);

  template <class Done>
  void start_udp_bind(const udp_bind_options& options, Done done) {
    const auto request = detail::make_request(options);
    auto to_socket = [this](detail::unique_fd fd) {
      asio::ip::udp::socket socket(executor_);
      if (fd) {
        const bool v6 = detail::protocol_of<asio::ip::tcp>(fd.get()) == asio::ip::tcp::v6();
        socket.assign(v6 ? asio::ip::udp::v6() : asio::ip::udp::v4(), fd.release());
      }
      return socket;
    };
    if (primary_ || options.exclusive) {
      std::exception_ptr failure;
      detail::unique_fd fd;
      try {
        fd = detail::bind_udp_directly(request);
      } catch (...) {
        failure = std::current_exception();
      }
      done(failure, to_socket(std::move(fd)));
      return;
    }
    servers_->bind_udp(request, [done, to_socket](std::exception_ptr e, detail::unique_fd fd) {
      done(e, to_socket(std::move(fd)));
    });
  }

  detail::primary_role<Serialization>& primary(const char* what) const;

  detail::route_client<Serialization>& worker_routes(const char* what) const {
    if (!worker_)
      throw std::system_error(make_error_code(errc::wrong_role),
                              std::string("cocluster: ") + what + " is only available in a worker");
    return worker_->routes();
  }

  executor_type executor_;
  cluster_options options_;
  cocluster::distribution distribution_ = Scheduling::mode;
  bool distribution_frozen_ = false;
  std::unique_ptr<detail::primary_role<Serialization>> primary_;
  std::unique_ptr<listeners_type> listeners_;
  std::unique_ptr<detail::worker_role<Serialization>> worker_;
  std::shared_ptr<servers_type> servers_;
};

// The members out of the class body: not inline, so that a program built with
// COCLUSTER_SEPARATE_COMPILATION instantiates them for the common clusters once, in the source
// that includes cocluster/impl/src.hpp, and every other translation unit only declares them
// (cocluster/impl/instantiations.hpp). A cluster of other policies instantiates them where it is
// used, as any template.

template <scheduling_policy Scheduling, serialization_policy Serialization>
cluster<Scheduling, Serialization>::cluster(const executor_type& executor, cluster_options options)
    : executor_(executor), options_(std::move(options)) {
  if (detail::cluster_exists.exchange(true))
    throw std::logic_error("cocluster: a process has one cluster object at a time");
  try {
    distribution_ = detail::distribution_from_environment().value_or(Scheduling::mode);
    if (auto environment = detail::take_worker_environment()) {
      worker_ = std::make_unique<detail::worker_role<Serialization>>(executor_, options_,
                                                                     *environment);
      servers_ = std::make_shared<servers_type>(executor_, worker_->self_impl(),
                                                options_.drain_timeout);
      worker_->set_net(servers_.get());
    } else {
      primary_ = std::make_unique<detail::primary_role<Serialization>>(executor_, options_);
      listeners_ = std::make_unique<listeners_type>(executor_, *primary_, options_.handoff);
      primary_->set_net(listeners_.get());
    }
  } catch (...) {
    detail::cluster_exists = false;
    throw;
  }
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
cluster<Scheduling, Serialization>::~cluster() {
  if (primary_)
    primary_->set_net(nullptr);
  listeners_.reset();
  primary_.reset();
  if (worker_)
    worker_->set_net(nullptr);
  servers_.reset();
  worker_.reset();
  detail::cluster_exists = false;
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
const cocluster::settings& cluster<Scheduling, Serialization>::settings() const {
  return primary("settings").current_settings();
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
void cluster<Scheduling, Serialization>::setup_primary(const cocluster::settings& changes) {
  primary("setup_primary").setup(changes);
  freeze_distribution();
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
auto cluster<Scheduling, Serialization>::fork(const std::map<std::string, std::string>& env)
    -> worker_type {
  auto& role = primary("fork");
  freeze_distribution();
  return role.fork(env);
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
auto cluster<Scheduling, Serialization>::fork_with(const fork_options& options) -> worker_type {
  auto& role = primary("fork_with");
  freeze_distribution();
  return role.fork(options.env, options.overrides, options.slot);
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
void cluster<Scheduling, Serialization>::release_slot(int slot) {
  primary("release_slot").release_slot(slot);
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
auto cluster<Scheduling, Serialization>::workers() const -> const std::map<int, worker_type>& {
  return primary("workers").workers();
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
auto cluster<Scheduling, Serialization>::find_worker(int id) const -> worker_type {
  return primary("find_worker").find(id);
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
asio::awaitable<void> cluster<Scheduling, Serialization>::disconnect() {
  return async_disconnect(asio::use_awaitable);
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
asio::awaitable<tcp_server> cluster<Scheduling, Serialization>::listen(
    const tcp_listen_options& options) {
  return detail::await_failure<tcp_server>(executor_, [this, options](auto report) {
    start_tcp_listen(options, [report](std::exception_ptr failure, auto impl) {
      report(failure, tcp_server(std::move(impl)));
    });
  });
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
asio::awaitable<unix_server> cluster<Scheduling, Serialization>::listen(
    const unix_listen_options& options) {
  return detail::await_failure<unix_server>(executor_, [this, options](auto report) {
    start_listen(detail::make_request(options), options.exclusive,
                 [report](std::exception_ptr failure, auto impl) {
                   report(failure, unix_server(std::move(impl)));
                 });
  });
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
asio::awaitable<asio::ip::udp::socket> cluster<Scheduling, Serialization>::bind(
    const udp_bind_options& options) {
  return detail::await_failure<asio::ip::udp::socket>(executor_, [this, options](auto report) {
    this->start_udp_bind(options, std::move(report));
  });
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
std::size_t cluster<Scheduling, Serialization>::broadcast(const value_type& message) {
  if (primary_)
    return primary_->broadcast(message);
  worker_->routes().send(detail::routing::target::everyone(), message);
  return 0;
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
auto cluster<Scheduling, Serialization>::worker() const -> worker_type {
  if (!worker_)
    throw std::system_error(make_error_code(errc::wrong_role),
                            "cocluster: worker() is only available in a worker");
  return worker_->self();
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
void cluster<Scheduling, Serialization>::freeze_distribution() {
  if (distribution_frozen_)
    return;
  distribution_frozen_ = true;
  listeners_->set_distribution(distribution_);
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
void cluster<Scheduling, Serialization>::start_tcp_listen(tcp_listen_options options,
                                                          impl_callback done) {
  error_code parse_error;
  const auto literal = options.host ? asio::ip::make_address(*options.host, parse_error)
                                    : asio::ip::address();
  if (!options.host || !parse_error) {
    const auto type = options.host && literal.is_v6() ? address_type::ipv6 : address_type::ipv4;
    start_listen(detail::make_request(options, type), options.exclusive, std::move(done));
    return;
  }
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(executor_);
  resolver->async_resolve(
      *options.host, "",
      [this, resolver, options, done](std::error_code ec,
                                      asio::ip::tcp::resolver::results_type results) mutable {
        if (ec || results.empty()) {
          done(std::make_exception_ptr(std::system_error(
                   ec ? ec : std::make_error_code(std::errc::address_not_available),
                   "cocluster: listen: getaddrinfo " + *options.host)),
               nullptr);
          return;
        }
        const auto address = results.begin()->endpoint().address();
        options.host = address.to_string();
        start_listen(detail::make_request(options, address.is_v6() ? address_type::ipv6
                                                                   : address_type::ipv4),
                     options.exclusive, std::move(done));
      });
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
void cluster<Scheduling, Serialization>::start_listen(const detail::listen_request& request,
                                                      bool exclusive, impl_callback done) {
  if (primary_ || exclusive) {
    std::exception_ptr failure;
    std::shared_ptr<detail::server_impl> server;
    try {
      server = detail::listen_directly(executor_, request);
    } catch (...) {
      failure = std::current_exception();
    }
    asio::post(executor_, [done, failure, server] { done(failure, server); });
    return;
  }
  servers_->listen(request, std::move(done));
}

template <scheduling_policy Scheduling, serialization_policy Serialization>
auto cluster<Scheduling, Serialization>::primary(const char* what) const
    -> detail::primary_role<Serialization>& {
  if (!primary_)
    throw std::system_error(make_error_code(errc::wrong_role),
                            std::string("cocluster: ") + what +
                                " is only available in the primary");
  return *primary_;
}

} // namespace cocluster

#endif // COCLUSTER_CLUSTER_HPP
