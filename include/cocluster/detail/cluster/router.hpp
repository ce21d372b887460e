// SPDX-License-Identifier: MIT
/// @file
/// The primary's side of broadcasts and worker-to-worker messages: encodes a message once and
/// queues the same bytes for each worker, and forwards the messages workers route through it
/// (the decision is `routing::plan_route`, the wire `detail/ipc/routing.hpp`).
#ifndef COCLUSTER_DETAIL_CLUSTER_ROUTER_HPP
#define COCLUSTER_DETAIL_CLUSTER_ROUTER_HPP

#include <algorithm>
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
#include "cocluster/worker_state.hpp"

namespace cocluster::detail {

/// Broadcasts and routed messages in the primary. It works on the registry it is given, in the
/// order of its ids; its one state is the messages held for workers not yet online (whose kind,
/// cocluster or Node, their `online` tells), at most `hold_limit` bytes per worker.
template <serialization_policy S>
class router {
public:
  using worker_type = basic_worker<S>;
  using impl_type = worker_impl<S>;
  using value_type = typename S::value_type;

  /// `hold_limit`: the bytes held for one worker that is not yet online (the write queue's
  /// limit); beyond it a route fails as a full queue would.
  explicit router(std::size_t hold_limit) : hold_limit_(hold_limit) {}

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
      if (worker.is_connected() && queue(worker, body, true, "broadcast"))
        ++reached;
    }
    return reached;
  }

  /// Forwards what `sender` asked to route (`head`, the `route` request, and its `payload`),
  /// and answers it when it failed or asked for a reply.
  void route(impl_type& sender, const std::map<int, worker_type>& workers,
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
      peers.push_back({worker.id(), worker.is_connected(), worker.is_cocluster_peer(),
                       worker.state() != worker_state::none});
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
      const bool plain = how == routing::delivery::plain;
      std::optional<std::string>& body = plain ? as_plain : as_routed;
      if (!body) {
        body.emplace();
        try {
          if (plain)
            S::encode(payload, *body);
          else
            S::encode_envelope(routing::routed(sender.id()), payload, *body);
        } catch (const std::system_error& e) {
          sender.report(worker_key(), {e.code(), std::string("routing a message: ") + e.what()});
          return;
        }
      }
      if (how == routing::delivery::hold) {
        if (hold(id, sender.id(), *body, payload))
          ++reached;
        else
          full.push_back(id);
        continue;
      }
      impl_type& target = workers.at(id).impl(worker_key());
      if (queue(target, *body, plain, nullptr))
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

  /// `worker` said `online`: what was held for it is queued now, in the order it came, as its
  /// kind needs it.
  void worker_online(impl_type& worker) {
    auto it = held_.find(worker.id());
    if (it == held_.end())
      return;
    auto messages = std::move(it->second.messages);
    held_.erase(it);
    for (auto& message : messages) {
      std::string plain;
      if (!worker.is_cocluster_peer())
        S::encode(message.payload, plain);
      const bool as_plain = !worker.is_cocluster_peer();
      if (!queue(worker, as_plain ? plain : message.routed, as_plain, "send_to"))
        return;
    }
  }

  /// `worker` left before it said `online`: each worker whose messages were held for it hears
  /// that they were not delivered (an error event naming the id).
  void worker_gone(int id, const std::map<int, worker_type>& workers) {
    auto it = held_.find(id);
    if (it == held_.end())
      return;
    std::vector<int> senders;
    for (const auto& message : it->second.messages)
      if (std::find(senders.begin(), senders.end(), message.from) == senders.end())
        senders.push_back(message.from);
    held_.erase(it);
    for (int from : senders)
      if (auto sender = workers.find(from); sender != workers.end())
        sender->second.impl(worker_key())
            .send_internal(worker_key(), routing::route_failed(routing::target::worker(id),
                                                               routing::failure::no_such_worker,
                                                               std::vector<int>{id}, std::nullopt));
  }

private:
  struct held_message {
    int from;
    std::string routed; // the routed act, encoded
    value_type payload; // for a Node worker
  };
  struct held_for {
    std::vector<held_message> messages;
    std::size_t bytes = 0;
  };

  // Holds a message for worker `id` until it is online; false beyond the limit.
  bool hold(int id, int from, const std::string& routed, const value_type& payload) {
    held_for& held = held_[id];
    if (held.bytes >= hold_limit_)
      return false;
    held.bytes += routed.size();
    held.messages.push_back({from, routed, payload});
    return true;
  }

  // Queues `body` for `worker` (`user`: a plain user message, not a routed envelope); false
  // when it was refused (a closed channel, or a full queue: reported on the worker when `what`
  // names the call).
  static bool queue(impl_type& worker, std::string_view body, bool user, const char* what) {
    try {
      worker.send_encoded(worker_key(), body, user);
      return true;
    } catch (const std::system_error& e) {
      if (what != nullptr && e.code() == errc::write_queue_full)
        worker.report(worker_key(), {e.code(), std::string("cocluster: ") + what + ": " + e.what() +
                                                   "; this worker did not get it"});
      return false;
    }
  }

  std::size_t hold_limit_;
  std::map<int, held_for> held_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CLUSTER_ROUTER_HPP
