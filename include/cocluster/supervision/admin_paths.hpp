// SPDX-License-Identifier: MIT
/// @file
/// What a supervised primary answers on its admin paths, as pure decisions: `GET /metrics`
/// (the metrics snapshot in Prometheus's text format), `GET /healthz` and `GET /readyz` (the
/// probes of `health.hpp`), 404 for any other path and 405 for a method other than GET; and
/// the HTTP/1.1 bytes of an answer. `supervisor/admin_answer.hpp` answers a request from a
/// supervisor; a program serves the bytes on a port of its choice (the main example on its
/// metrics port).
#ifndef COCLUSTER_SUPERVISION_ADMIN_PATHS_HPP
#define COCLUSTER_SUPERVISION_ADMIN_PATHS_HPP

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "cocluster/supervision/health.hpp"

namespace cocluster::admin {

/// An answer to an admin request.
struct response {
  /// The HTTP status code.
  int status = 200;
  /// Its reason phrase.
  std::string reason = "OK";
  /// The body's content type.
  std::string content_type = "text/plain";
  /// The body.
  std::string body;
};

/// Which paths answer.
struct paths {
  /// `/healthz` and `/readyz` answer (otherwise they are unknown paths: 404).
  bool health = false;
  /// The fewest ready workers that make `/readyz` 200.
  std::size_t min_ready = 1;
};

/// The request line's method and target of a request head ("GET /readyz HTTP/1.1" gives
/// {"GET", "/readyz"}), or nothing when the head has no request line.
/// @param head the request's bytes as read so far; only its first line (up to a CR or LF, or
/// all of it without one) is looked at.
/// @return views into `head` of the method and the target, or `std::nullopt` when the first line
/// has no space after a non-empty method, or no target after it.
inline std::optional<std::pair<std::string_view, std::string_view>> request_line_of(
    std::string_view head) {
  const auto line = head.substr(0, head.find_first_of("\r\n"));
  const auto space = line.find(' ');
  if (space == std::string_view::npos || space == 0)
    return std::nullopt;
  auto target = line.substr(space + 1);
  target = target.substr(0, target.find(' '));
  if (target.empty())
    return std::nullopt;
  return std::pair{line.substr(0, space), target};
}

/// Whether `target` asks for the metrics: its path is exactly `/metrics` (a query string is
/// allowed).
/// @param target a request target ("/metrics?name[]=x").
/// @return true for `/metrics` with or without a query; false for anything else (`/metrics/`,
/// `/Metrics`).
inline bool is_metrics_target(std::string_view target) {
  return target.substr(0, target.find('?')) == "/metrics";
}

/// The answer to `method` `target` for a pool in `pool`, unless the target is the metrics
/// (nothing: `supervisor/admin_answer.hpp` answers it with the snapshot's text). A method other
/// than GET is 405, a path that `which` does not serve 404.
/// @param method the request's method ("GET").
/// @param target the request's target ("/readyz").
/// @param which the paths that answer.
/// @param pool the ready workers, the pool size and whether it stops (its `min_ready` is
/// `which`'s).
/// @return the answer, or `std::nullopt` for a GET of the metrics, which the caller answers.
inline std::optional<response> answer_without_metrics(std::string_view method,
                                                      std::string_view target, const paths& which,
                                                      const health::pool_state& pool) {
  if (method != "GET")
    return response{405, "Method Not Allowed", "text/plain", "only GET is answered\n"};
  if (is_metrics_target(target))
    return std::nullopt;
  if (const auto probe = which.health ? health::probe_of(target) : std::nullopt) {
    auto counted = pool;
    counted.min_ready = which.min_ready;
    auto answer = health::answer_for(*probe, counted);
    return response{answer.status, std::move(answer.reason), "text/plain", std::move(answer.body)};
  }
  return response{404, "Not Found", "text/plain",
                  which.health ? "try GET /metrics, /healthz or /readyz\n" : "try GET /metrics\n"};
}

/// The HTTP/1.1 bytes of `answer`, with its length and `Connection: close`.
/// @param answer what to send.
/// @return the status line, `Content-Type`, `Content-Length` (of the body) and
/// `Connection: close` headers, a blank line and the body: ready to write, then close.
inline std::string to_http(const response& answer) {
  return "HTTP/1.1 " + std::to_string(answer.status) + " " + answer.reason +
         "\r\nContent-Type: " + answer.content_type +
         "\r\nContent-Length: " + std::to_string(answer.body.size()) +
         "\r\nConnection: close\r\n\r\n" + answer.body;
}

} // namespace cocluster::admin

#endif // COCLUSTER_SUPERVISION_ADMIN_PATHS_HPP
