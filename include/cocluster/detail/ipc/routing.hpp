// SPDX-License-Identifier: MIT
/// @file
/// cocluster's worker-to-worker messages on the wire, and the primary's pure decision of where
/// a routed message goes. No I/O: the primary's router (detail/cluster/router.hpp) and the
/// worker's client (detail/cluster/route_client.hpp) do the sending.
///
/// A worker asks its primary to route a message with
/// `{"cmd":"NODE_CLUSTER","act":"cocluster.route","to":2,"seq":7,"msg":...}` (`"to":"all"`: every
/// other worker; `"reply":true` when the sender waits for the outcome). The primary forwards the
/// user value in `msg` to a cocluster worker as
/// `{"cmd":"NODE_CLUSTER","act":"cocluster.routed","from":1,"msg":...}` and to a Node worker as a
/// plain user message (a Node worker must never see a cocluster act). It answers a failure with
/// `{"cmd":"NODE_CLUSTER","act":"cocluster.route_failed","to":2,"code":"no_such_worker",...}`
/// (with `ack` naming the request's `seq`), and a request that asked for a reply with
/// `{"cmd":"NODE_CLUSTER","ack":7,"reached":1}`. These acts go only to cocluster workers, and
/// only a worker whose environment says its primary is cocluster (`env_primary`) sends `route`.
#ifndef COCLUSTER_DETAIL_IPC_ROUTING_HPP
#define COCLUSTER_DETAIL_IPC_ROUTING_HPP

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail::routing {

/// Set by a cocluster primary in each worker's environment, to the worker's id: the worker
/// routes messages only when it is there and equals its `NODE_UNIQUE_ID` (a stale copy
/// inherited through a Node process does not match). Read and removed with Node's variables.
inline constexpr const char* env_primary = "COCLUSTER_PRIMARY";

/// W→P: route `msg` to `to` (a worker id, or `to_all`).
inline constexpr std::string_view act_route = "cocluster.route";
/// P→W: `msg` from worker `from`.
inline constexpr std::string_view act_routed = "cocluster.routed";
/// P→W: a route failed (`to`, `code`, `ids`, and `ack` when the request had a `seq`).
inline constexpr std::string_view act_route_failed = "cocluster.route_failed";

inline constexpr const char* field_to = "to";
inline constexpr const char* field_from = "from";
inline constexpr const char* field_reply = "reply";
inline constexpr const char* field_reached = "reached";
inline constexpr const char* field_code = "code";
inline constexpr const char* field_ids = "ids";
/// The `to` of a broadcast to every other worker.
inline constexpr std::string_view to_all = "all";

/// Where a routed message goes: one worker, or every other one.
struct target {
  /// The worker's id; empty for a broadcast.
  std::optional<int> id;

  /// True for a broadcast to every worker but the sender.
  bool all() const noexcept { return !id; }

  /// One worker.
  static target worker(int id) { return target{id}; }
  /// Every other worker.
  static target everyone() { return target{}; }

  /// Targets are equal when they name the same worker, or are both broadcasts.
  friend bool operator==(const target&, const target&) = default;
};

/// Why a route failed, as the primary tells the sender.
enum class failure {
  /// The target is not connected (exited, leaving, never existed).
  no_such_worker,
  /// A target's write queue was over `write_queue_limit`: the message was not queued for it.
  write_queue_full,
  /// The request could not be read (no `to`, or a `to` that is neither an id nor "all").
  bad_request,
};

/// The name of a failure on the wire.
inline std::string_view name(failure f) noexcept {
  switch (f) {
  case failure::no_such_worker: return "no_such_worker";
  case failure::write_queue_full: return "write_queue_full";
  case failure::bad_request: return "bad_request";
  }
  return "bad_request";
}

/// The failure a wire name stands for (an unknown name is a bad request).
inline failure failure_named(std::string_view text) noexcept {
  if (text == "no_such_worker")
    return failure::no_such_worker;
  if (text == "write_queue_full")
    return failure::write_queue_full;
  return failure::bad_request;
}

/// The target of a `route` request: an integer id (one that no worker has, 0 say, is a
/// `no_such_worker` failure) or "all"; nothing for anything else.
inline std::optional<target> parse_target(const nlohmann::json& request) {
  auto it = request.find(field_to);
  if (it == request.end())
    return std::nullopt;
  if (it->is_string())
    return it->get_ref<const std::string&>() == to_all ? std::optional<target>(target::everyone())
                                                       : std::nullopt;
  const auto id = protocol::integer_field(request, field_to);
  if (!id || *id < std::numeric_limits<int>::min() || *id > std::numeric_limits<int>::max())
    return std::nullopt;
  return target::worker(static_cast<int>(*id));
}

/// The head of a `route` request (the sender adds `seq`, the serialization `msg`).
inline protocol::message route_request(const target& to, bool reply) {
  auto m = protocol::cluster_message(act_route);
  if (to.all())
    m[field_to] = to_all;
  else
    m[field_to] = *to.id;
  if (reply)
    m[field_reply] = true;
  return m;
}

/// Whether a `route` request asks for a reply on success too.
inline bool wants_reply(const nlohmann::json& request) {
  auto it = request.find(field_reply);
  return it != request.end() && it->is_boolean() && it->get<bool>();
}

/// The head of a routed message to a cocluster worker (the serialization adds `msg`).
inline protocol::message routed(int from) {
  auto m = protocol::cluster_message(act_routed);
  m[field_from] = from;
  return m;
}

/// The primary's answer to a route that failed; `ids` lists the workers it failed for (a
/// broadcast's full queues), `ack` the request's `seq`.
inline protocol::message route_failed(const std::optional<target>& to, failure why,
                                      const std::vector<int>& ids,
                                      std::optional<std::int64_t> ack) {
  auto m = protocol::cluster_message(act_route_failed);
  if (!to)
    m[field_to] = nullptr;
  else if (to->all())
    m[field_to] = to_all;
  else
    m[field_to] = *to->id;
  m[field_code] = name(why);
  m[field_ids] = ids;
  if (ack)
    m["ack"] = *ack;
  return m;
}

/// The primary's answer to a route that asked for a reply and was queued for `reached`
/// workers.
inline protocol::message route_done(std::int64_t ack, std::size_t reached) {
  auto m = protocol::reply_to(ack);
  m[field_reached] = reached;
  return m;
}

/// What the sender's error says about a failed route, from the primary's answer: names the
/// call and the worker ids ("cocluster: send_to: worker 7 is not connected (it exited, is
/// leaving, or never existed)").
inline std::string describe_failure(const nlohmann::json& answer) {
  const auto code = failure_named(protocol::string_field(answer, field_code).value_or(""));
  const auto to = parse_target(answer);
  const std::string call = to && to->all() ? "broadcast" : "send_to";
  std::string ids;
  if (auto it = answer.find(field_ids); it != answer.end() && it->is_array())
    for (const auto& id : *it)
      if (id.is_number_integer())
        ids += (ids.empty() ? "" : ", ") + std::to_string(id.get<std::int64_t>());
  switch (code) {
  case failure::no_such_worker:
    return "cocluster: " + call + ": worker " + (to && to->id ? std::to_string(*to->id) : ids) +
           " is not connected (it exited, is leaving, or never existed)";
  case failure::write_queue_full:
    return "cocluster: " + call + ": the primary's write queue to worker" +
           (ids.find(',') != std::string::npos ? "s " : " ") + ids +
           " is over write_queue_limit; the message was not queued for " +
           (ids.find(',') != std::string::npos ? "them" : "it");
  case failure::bad_request: break;
  }
  return "cocluster: " + call + ": the primary could not read the routing request";
}

/// The error code of a failed route, from the primary's answer.
inline std::error_code error_of(const nlohmann::json& answer) {
  switch (failure_named(protocol::string_field(answer, field_code).value_or(""))) {
  case failure::no_such_worker: return make_error_code(errc::no_such_worker);
  case failure::write_queue_full: return make_error_code(errc::write_queue_full);
  case failure::bad_request: break;
  }
  return make_error_code(errc::malformed_message);
}

/// One worker as the router sees it.
struct peer {
  /// Its id.
  int id = 0;
  /// Its channel is open and it is not leaving.
  bool connected = false;
  /// It said it is a cocluster process: it can take the `routed` act.
  bool cocluster = false;
  /// It has said `online`, so `cocluster` is known; until then it could be either.
  bool online = true;
};

/// How a routed message reaches one worker.
enum class delivery {
  /// As the `routed` act with the sender's id (a cocluster worker).
  routed,
  /// As a plain user message (a Node worker, which must never see a cocluster act).
  plain,
  /// Held by the primary until the worker says `online` (which tells its kind), then sent as
  /// one of the two, before anything routed to it later.
  hold,
};

/// Where a routed message goes.
struct plan {
  /// The workers to queue it for, in the order given, and how.
  std::vector<std::pair<int, delivery>> deliveries;
  /// Set when the one target named is not connected (nothing is delivered then).
  bool no_such_worker = false;
};

/// The primary's decision: a message from `sender` to `to`, among `peers`. One target gets it
/// if connected (itself too, if it is the sender); a broadcast goes to every connected worker
/// but the sender (none: an empty plan, which is no failure). Cocluster workers get the
/// `routed` act, Node workers the plain message, and a worker not yet online (whose kind is not
/// known) has it held.
inline plan plan_route(int sender, const target& to, std::span<const peer> peers) {
  plan result;
  auto how = [](const peer& p) {
    return !p.online ? delivery::hold : p.cocluster ? delivery::routed : delivery::plain;
  };
  if (!to.all()) {
    for (const auto& p : peers)
      if (p.id == *to.id && p.connected) {
        result.deliveries.emplace_back(p.id, how(p));
        return result;
      }
    result.no_such_worker = true;
    return result;
  }
  for (const auto& p : peers)
    if (p.connected && p.id != sender)
      result.deliveries.emplace_back(p.id, how(p));
  return result;
}

} // namespace cocluster::detail::routing

#endif // COCLUSTER_DETAIL_IPC_ROUTING_HPP
