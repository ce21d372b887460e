// SPDX-License-Identifier: MIT
/// @file
/// Health probes of a supervised primary (Kubernetes' liveness and readiness probes): which probe
/// a request path asks for and what it answers, as pure decisions. Serving them over HTTP is the
/// program's (the main example does it on its metrics port).
#ifndef COCLUSTER_SUPERVISION_HEALTH_HPP
#define COCLUSTER_SUPERVISION_HEALTH_HPP

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cocluster::health {

/// The probes.
enum class probe {
  /// `/healthz`: the primary's event loop answers. It always says yes; a blocked loop answers
  /// nothing, and the probe's timeout is the failure.
  liveness,
  /// `/readyz`: the pool has enough ready workers and is not stopping.
  readiness,
};

/// What the primary knows when a readiness probe asks.
struct pool_state {
  /// Workers ready now (`supervisor::ready_count`).
  std::size_t ready = 0;
  /// The pool size (`supervisor::size`).
  std::size_t size = 0;
  /// The fewest ready workers that make the primary ready.
  std::size_t min_ready = 1;
  /// A graceful stop has begun: the primary is leaving the load balancer.
  bool stopping = false;
};

/// An answer: the HTTP status code, its reason phrase and a short plain-text body.
struct answer {
  /// 200 or 503.
  int status = 200;
  /// "OK" or "Service Unavailable".
  std::string reason;
  /// One line for people reading the probe's output.
  std::string body;
};

/// The probe that a request target asks for: its path is exactly `/healthz` or `/readyz` (a
/// query string is allowed); anything else is none.
/// @param target the request's target ("/readyz?verbose").
/// @return the probe, or `std::nullopt` for any other path.
inline std::optional<probe> probe_of(std::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  if (path == "/healthz")
    return probe::liveness;
  if (path == "/readyz")
    return probe::readiness;
  return std::nullopt;
}

/// True when the pool takes traffic: at least `min_ready` workers ready, and no stop begun.
/// @param pool the counts and stop flag at the time of the probe.
/// @return whether `/readyz` answers 200.
inline bool is_ready(const pool_state& pool) {
  return !pool.stopping && pool.ready >= pool.min_ready;
}

/// The answer to `which` for `pool`: liveness is always 200; readiness is 200 when `is_ready`,
/// 503 otherwise, with the counts in the body either way.
/// @param which the probe asked for (from `probe_of`).
/// @param pool the pool's state; read only for `probe::readiness`.
/// @return the status, reason and a one-line body ("ready: 3 of 4 workers ready, at least 1
/// needed").
inline answer answer_for(probe which, const pool_state& pool) {
  if (which == probe::liveness)
    return {200, "OK", "alive\n"};
  const bool ready = is_ready(pool);
  std::string body = ready ? "ready" : (pool.stopping ? "stopping" : "not ready");
  body += ": " + std::to_string(pool.ready) + " of " + std::to_string(pool.size) +
          " workers ready, at least " + std::to_string(pool.min_ready) + " needed\n";
  return {ready ? 200 : 503, ready ? "OK" : "Service Unavailable", std::move(body)};
}

} // namespace cocluster::health

#endif // COCLUSTER_SUPERVISION_HEALTH_HPP
