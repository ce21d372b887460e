// SPDX-License-Identifier: MIT
/// @file
/// A worker's side of worker-to-worker messages: `send_to` and `broadcast` ask the primary to
/// route a message (detail/ipc/routing.hpp), and their asynchronous forms complete with the
/// primary's answer.
#ifndef COCLUSTER_DETAIL_CLUSTER_ROUTE_CLIENT_HPP
#define COCLUSTER_DETAIL_CLUSTER_ROUTE_CLIENT_HPP

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "cocluster/config.hpp"
#include "cocluster/detail/ipc/protocol.hpp"
#include "cocluster/detail/ipc/routing.hpp"
#include "cocluster/detail/unique_fd.hpp"
#include "cocluster/detail/worker/worker_impl.hpp"
#include "cocluster/detail/worker_key.hpp"
#include "cocluster/error.hpp"
#include "cocluster/serialization/policy.hpp"

namespace cocluster::detail {

/// The worker's routing calls, on its own worker object. `enabled` is false under a primary
/// that is not cocluster (`worker_environment::cocluster_primary`): every call then fails at
/// once with `errc::no_routing`, sending nothing.
template <serialization_policy S>
class route_client {
public:
  using value_type = typename S::value_type;

  route_client(std::shared_ptr<worker_impl<S>> self, bool enabled)
      : self_(std::move(self)), enabled_(enabled) {}

  /// Whether the primary routes messages.
  bool enabled() const noexcept { return enabled_; }

  /// Queues a request that the primary forward `message` to `to`; false above the high-water
  /// mark, as `send`. A failure comes back as an error event on this worker.
  /// @throws std::system_error `errc::no_routing`, and as `send`.
  bool send(const routing::target& to, const value_type& message) {
    check(to);
    return self_->send_route(worker_key(), routing::route_request(to, false), message, nullptr);
  }

  /// Sends the request asking for the primary's answer, then `done(failure, reached)` once it
  /// came (or the channel closed: `errc::channel_closed`). Never throws; `done` runs at most
  /// once, possibly from inside this call.
  template <class Done>
  void send_and_wait(const routing::target& to, const value_type& message, Done done) {
    std::exception_ptr refused;
    try {
      check(to);
      // The answer's handler lives in the channel's request table; if the channel closes first,
      // the table forgets it and the guard's destructor completes with channel_closed.
      auto guard = std::make_shared<answer_guard<Done>>(std::move(done));
      self_->send_route(worker_key(), routing::route_request(to, true), message,
                        [guard](nlohmann::json&& answer, unique_fd) { guard->answer(answer); });
      return;
    } catch (const std::system_error&) {
      refused = std::current_exception();
    }
    done(refused, 0);
  }

private:
  // Completes `done` with the primary's answer, or with channel_closed if it never came.
  template <class Done>
  class answer_guard {
  public:
    explicit answer_guard(Done done) : done_(std::move(done)) {}
    answer_guard(const answer_guard&) = delete;
    answer_guard& operator=(const answer_guard&) = delete;
    ~answer_guard() {
      if (!answered_)
        done_(std::make_exception_ptr(std::system_error(
                  make_error_code(errc::channel_closed),
                  "cocluster: the channel to the primary closed before it answered")),
              std::size_t{0});
    }

    void answer(const nlohmann::json& reply) {
      answered_ = true;
      if (protocol::act(reply) == routing::act_route_failed) {
        done_(std::make_exception_ptr(std::system_error(routing::error_of(reply),
                                                        routing::describe_failure(reply))),
              std::size_t{0});
        return;
      }
      const auto reached = protocol::integer_field(reply, routing::field_reached).value_or(0);
      done_(nullptr, static_cast<std::size_t>(reached < 0 ? 0 : reached));
    }

  private:
    Done done_;
    bool answered_ = false;
  };

  void check(const routing::target& to) const {
    const std::string call = to.all() ? "broadcast" : "send_to";
    if (!enabled_)
      throw std::system_error(make_error_code(errc::no_routing),
                              "cocluster: " + call +
                                  ": the primary is not a cocluster primary, so it cannot route "
                                  "messages to other workers (a Node primary ignores the routing "
                                  "request: the message would be lost silently)");
  }

  std::shared_ptr<worker_impl<S>> self_;
  bool enabled_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CLUSTER_ROUTE_CLIENT_HPP
