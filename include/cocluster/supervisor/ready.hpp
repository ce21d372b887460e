// SPDX-License-Identifier: MIT
/// @file
/// `report_ready`: a worker's explicit readiness call (PM2's `process.send("ready")`).
#ifndef COCLUSTER_SUPERVISOR_READY_HPP
#define COCLUSTER_SUPERVISOR_READY_HPP

#include <string>

namespace cocluster {

/// The message a worker sends to say it is ready, as PM2's `wait_ready` expects it: the string
/// "ready". A Node worker sends it with `process.send("ready")`.
inline constexpr const char* ready_message = "ready";

/// In a worker: tells the supervisor (with `readiness::ready_message`) that this worker is
/// ready to serve. It is an ordinary user message, so it is also what PM2's `wait_ready` waits
/// for when a Node primary (PM2) runs this worker, and a primary without a supervisor receives it
/// as a message.
///
/// @par Example
/// A worker that starts up before it takes traffic (`examples/supervised_ready.cpp`), under a
/// supervisor whose `supervisor_options::readiness` is `readiness::ready_message`:
/// @code
/// asio::steady_timer loading(co_await asio::this_coro::executor, 300ms); // the start-up work
/// co_await loading.async_wait(asio::use_awaitable);
/// auto server = co_await cluster.listen(cocluster::tcp_listen_options(0));
/// cocluster::report_ready(cluster); // only now does the supervisor count this worker
/// @endcode
///
/// @tparam Cluster a `cocluster::cluster<Policy, Serialization>`.
/// @param cluster the cluster of this (worker) process; its `worker()` channel carries the
/// message.
/// @throws std::system_error `errc::wrong_role` in the primary, `errc::channel_closed` when not
/// connected.
template <class Cluster>
void report_ready(Cluster& cluster) {
  cluster.worker().send(std::string(ready_message));
}

} // namespace cocluster

#endif // COCLUSTER_SUPERVISOR_READY_HPP
