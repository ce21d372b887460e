// SPDX-License-Identifier: MIT
/// @file
/// The primary's side of broadcasts and worker-to-worker messages: encodes a message once and
/// queues the same bytes for each worker, and forwards the messages workers route through it
/// (the decision is `routing::plan_route`, the wire `detail/ipc/routing.hpp`).
#ifndef COCLUSTER_DETAIL_CLUSTER_ROUTER_HPP
#define COCLUSTER_DETAIL_CLUSTER_ROUTER_HPP

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/ipc/routing.hpp"
#include "cocluster/detail/worker/worker_impl.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/error.hpp"
#include "cocluster/events.hpp"
#include "cocluster/serialization/policy.hpp"
#include "cocluster/worker.hpp"

namespace cocluster::detail {

/// Broadcasts and routed messages in the primary. Stateless: it works on the registry it is
/// given, in the order of its ids.
template <serialization_policy S>
class router {
public:
  using worker_type = basic_worker<S>;
  using impl_type = worker_impl<S>;
  using value_type = typename S::value_type;

  /// The primary's `broadcast`: encodes `message` once and queues those bytes for every
  /// connected worker (a Node worker gets it as it gets `send`'s messages). Returns how many it
  /// was queued for; a worker whose queue is over `write_queue_limit` is not counted and gets an
  /// `errc::write_queue_full` error event.
  /// @throws std::system_error `errc::unencodable_value` (nothing was queued).
  static std::size_t broadcast(const std::map<int, worker_type>& workers,
                               const value_type& message) {
    std::string body;
    S::encode(message, body);
    std::size_t reached = 0;
    for (const auto& entry : workers) {
      impl_type& worker = entry.second.impl(worker_key());
      if (worker.is_connected() && queue(worker, body, "broadcast"))
        ++reached;
    }
    return reached;
  }

  /// Forwards what `sender` asked to route (`head`, the `route` request, and its `payload`),
  /// and answers it when it failed or asked for a reply.
  static void route(impl_type& sender, const std::map<int, worker_type>& workers,
                    const nlohmann::json& head, const value_type& payload) {
    const auto ack = protocol::integer_field(head, "seq");
    const auto to = routing::parse_target(head);
    if (!to) {
      sender.send_internal(worker_key(),
                           routing::route_failed(to, routing::failure::bad_request, {}, ack));
      return;
    }
    std::vector<routing::peer> peers;
    peers.reserve(workers.size());
    for (const auto& entry : workers) {
      impl_type& worker = entry.second.impl(worker_key());
      peers.push_back({worker.id(), worker.is_connected(), worker.is_cocluster_peer()});
    }
    const auto plan = routing::plan_route(sender.id(), *to, peers);
    if (plan.no_such_worker) {
      sender.send_internal(worker_key(), routing::route_failed(to, routing::failure::no_such_worker,
                                                               std::vector<int>{*to->id}, ack));
      return;
    }
    // Each form is encoded once, when a worker first needs it.
    std::optional<std::string> as_routed;
    std::optional<std::string> as_plain;
    std::vector<int> full;
    std::size_t reached = 0;
    for (const auto& [id, how] : plan.deliveries) {
      std::optional<std::string>& body = how == routing::delivery::routed ? as_routed : as_plain;
      if (!body) {
        body.emplace();
        try {
          if (how == routing::delivery::routed)
            S::encode_envelope(routing::routed(sender.id()), payload, *body);
          else
            S::encode(payload, *body);
        } catch (const std::system_error& e) {
          sender.report(worker_key(), {e.code(), std::string("routing a message: ") + e.what()});
          return;
        }
      }
      impl_type& target = workers.at(id).impl(worker_key());
      if (queue(target, *body, nullptr))
        ++reached;
      else if (target.is_connected())
        full.push_back(id);
    }
    if (!full.empty())
      sender.send_internal(
          worker_key(), routing::route_failed(to, routing::failure::write_queue_full, full, ack));
    else if (ack && routing::wants_reply(head))
      sender.send_internal(worker_key(), routing::route_done(*ack, reached));
  }

private:
  // Queues `body` for `worker`; false when it was refused (a closed channel, or a full queue:
  // reported on the worker when `what` names the call).
  static bool queue(impl_type& worker, std::string_view body, const char* what) {
    try {
      worker.send_encoded(worker_key(), body);
      return true;
    } catch (const std::system_error& e) {
      if (what != nullptr && e.code() == errc::write_queue_full)
        worker.report(worker_key(), {e.code(), std::string("cocluster: ") + what + ": " + e.what() +
                                                   "; this worker did not get it"});
      return false;
    }
  }
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CLUSTER_ROUTER_HPP
