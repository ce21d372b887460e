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
/// @throws std::system_error `errc::wrong_role` in the primary, `errc::channel_closed` when not
/// connected.
template <class Cluster>
void report_ready(Cluster& cluster) {
  cluster.worker().send(std::string(ready_message));
}

} // namespace cocluster

#endif // COCLUSTER_SUPERVISOR_READY_HPP
