// SPDX-License-Identifier: MIT
/// @file
/// The supervisor's answer to an admin request (`GET /metrics`, `/healthz`, `/readyz`): what
/// every program that serves them would write, so that none copies it. Serving the bytes (a
/// port, its limits on slow clients and large heads) stays the program's.
#ifndef COCLUSTER_SUPERVISOR_ADMIN_ANSWER_HPP
#define COCLUSTER_SUPERVISOR_ADMIN_ANSWER_HPP

#include <string>
#include <string_view>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/async_once.hpp"
#include "cocluster/metrics.hpp"
#include "cocluster/metrics/prometheus.hpp"
#include "cocluster/supervision/admin_paths.hpp"
#include "cocluster/supervision/health.hpp"

namespace cocluster {

/// Answers the admin request `method` `target` for `supervisor`'s pool: the metrics snapshot
/// in Prometheus's text format for `/metrics` (`supervisor::async_metrics`), the probes for
/// `/healthz` and `/readyz` when `which.health` (`health::answer_for`, with the supervisor's
/// ready count, size and stop), 404 for any other path, 405 for a method other than GET.
/// `admin::to_http` gives the bytes to send.
/// @param supervisor the supervisor whose pool is asked about; it must outlive the operation.
/// @param method the request's method ("GET").
/// @param target the request's target ("/metrics").
/// @param which the paths that answer.
/// @param token the completion token (`asio::use_awaitable` by default).
/// @return whatever `token` makes of the operation (with `use_awaitable`, an awaitable of the
/// `admin::response`).
/// @par Completion Signature
/// `void(error_code, admin::response)`: always success; the handler runs through its
/// associated executor, never inside this call.
/// @par Example
/// @code
/// auto [ec, answer] = co_await cocluster::async_admin_answer(
///     supervisor, "GET", "/readyz", {.health = true}, cocluster::as_tuple(asio::use_awaitable));
/// co_await asio::async_write(socket, asio::buffer(cocluster::admin::to_http(answer)));
/// @endcode
template <class Supervisor, asio::completion_token_for<void(error_code, admin::response)> Token =
                                asio::use_awaitable_t<>>
auto async_admin_answer(Supervisor& supervisor, std::string_view method, std::string_view target,
                        admin::paths which, Token&& token = {}) {
  return detail::async_once<admin::response>(
      std::forward<Token>(token), supervisor.get_executor(),
      [](detail::once_report<admin::response> report, Supervisor* pool,
         const std::string& method_text, const std::string& target_text,
         const admin::paths& paths) {
        health::pool_state state;
        state.ready = pool->ready_count();
        state.size = pool->size();
        state.stopping = pool->is_stopping();
        if (auto answer = admin::answer_without_metrics(method_text, target_text, paths, state)) {
          report({}, std::move(*answer));
          return;
        }
        pool->async_metrics([report](error_code, cluster_metrics snapshot) {
          report({}, admin::response{200, "OK", std::string(prometheus_content_type),
                                     to_prometheus_text(snapshot)});
        });
      },
      &supervisor, std::string(method), std::string(target), which);
}

} // namespace cocluster

#endif // COCLUSTER_SUPERVISOR_ADMIN_ANSWER_HPP
