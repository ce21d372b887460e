/// @file
/// A move-only, type-erased completion handler for `void(std::error_code, Values...)`.
#ifndef COCLUSTER_DETAIL_ASYNC_ERASED_HANDLER_HPP
#define COCLUSTER_DETAIL_ASYNC_ERASED_HANDLER_HPP

#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include "cocluster/config.hpp"

namespace cocluster::detail {

/// Holds one completion handler until its operation completes. Completing posts the handler to
/// its associated executor (never runs it inline), so an initiating function never calls the
/// handler itself. An optional keep-alive reference is released only after the handler has run.
template <class... Values>
class erased_handler {
public:
  erased_handler() = default;

  template <class Handler>
  erased_handler(Handler&& handler, const asio::any_io_executor& io_executor,
                 std::shared_ptr<void> keep_alive = {})
      : impl_(std::make_unique<impl<std::decay_t<Handler>>>(std::forward<Handler>(handler),
                                                             io_executor, std::move(keep_alive))) {}

  /// True while a handler is held.
  explicit operator bool() const noexcept { return impl_ != nullptr; }

  /// The handler's associated cancellation slot (unconnected when it has none).
  asio::cancellation_slot cancellation_slot() const {
    return impl_ ? impl_->cancellation_slot() : asio::cancellation_slot();
  }

  /// Posts the handler with these arguments; afterwards `*this` is empty.
  void post(std::error_code ec, Values... values) {
    std::unique_ptr<base> held = std::move(impl_);
    held->post(ec, std::move(values)...);
  }

private:
  struct base {
    virtual ~base() = default;
    virtual void post(std::error_code ec, Values&&... values) = 0;
    virtual asio::cancellation_slot cancellation_slot() const = 0;
  };

  template <class Handler>
  struct impl final : base {
    impl(Handler&& h, const asio::any_io_executor& ex, std::shared_ptr<void> ka)
        : handler(std::move(h)), io_executor(ex), keep_alive(std::move(ka)) {}
    impl(const Handler& h, const asio::any_io_executor& ex, std::shared_ptr<void> ka)
        : handler(h), io_executor(ex), keep_alive(std::move(ka)) {}

    void post(std::error_code ec, Values&&... values) override {
      auto executor = asio::get_associated_executor(handler, io_executor);
      asio::post(executor, [h = std::move(handler), ka = std::move(keep_alive), ec,
                            ... v = std::move(values)]() mutable { std::move(h)(ec, std::move(v)...); });
    }

    asio::cancellation_slot cancellation_slot() const override {
      return asio::get_associated_cancellation_slot(handler);
    }

    Handler handler;
    asio::any_io_executor io_executor;
    std::shared_ptr<void> keep_alive;
  };

  std::unique_ptr<base> impl_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_ASYNC_ERASED_HANDLER_HPP
