// SPDX-License-Identifier: MIT
/// @file
/// A completion handler adaptor that transforms the result and keeps the wrapped handler's
/// associated executor, allocator and cancellation slot.
#ifndef COCLUSTER_DETAIL_ASYNC_TRANSFORM_HANDLER_HPP
#define COCLUSTER_DETAIL_ASYNC_TRANSFORM_HANDLER_HPP

#include <system_error>
#include <utility>

#include "cocluster/config.hpp"

namespace cocluster::detail {

/// Calls `handler(ec, transform(ec, value))`; the transform may set `ec`.
template <class Handler, class Transform>
struct transform_handler {
  Handler handler;
  Transform transform;

  template <class Value>
  void operator()(error_code ec, Value&& value) {
    auto result = transform(ec, std::forward<Value>(value));
    std::move(handler)(ec, std::move(result));
  }
};

} // namespace cocluster::detail

namespace COCLUSTER_ASIO_NAMESPACE {

template <template <typename, typename> class Associator, class Handler, class Transform,
          class DefaultCandidate>
struct associator<Associator, cocluster::detail::transform_handler<Handler, Transform>,
                  DefaultCandidate> {
  using type = typename Associator<Handler, DefaultCandidate>::type;

  static type get(const cocluster::detail::transform_handler<Handler, Transform>& h,
                  const DefaultCandidate& candidate = DefaultCandidate()) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler, candidate);
  }
};

} // namespace COCLUSTER_ASIO_NAMESPACE

#endif // COCLUSTER_DETAIL_ASYNC_TRANSFORM_HANDLER_HPP
