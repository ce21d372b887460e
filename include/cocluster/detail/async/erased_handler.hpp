// SPDX-License-Identifier: MIT
/// @file
/// A move-only, type-erased completion handler for `void(std::error_code, Values...)`.
#ifndef COCLUSTER_DETAIL_ASYNC_ERASED_HANDLER_HPP
#define COCLUSTER_DETAIL_ASYNC_ERASED_HANDLER_HPP

#include <memory>
#include <optional>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/handler_turn.hpp"

namespace cocluster::detail {

/// Holds one completion handler until its operation completes. Completing never runs the
/// handler inside the caller: it runs at the end of the library handler that is running (see
/// `handler_turn`), through the handler's associated executor, or is posted there when no such
/// handler runs. An optional keep-alive reference is released only after the handler has run.
///
/// The handler is stored in memory from its associated allocator (Asio's recycling allocator
/// when it has none, which reuses blocks per thread instead of calling `malloc` for every
/// operation), and that memory is freed before the handler runs.
template <class... Values>
class erased_handler {
public:
  erased_handler() = default;

  template <class Handler>
  erased_handler(Handler&& handler, const asio::any_io_executor& io_executor,
                 std::shared_ptr<void> keep_alive = {})
      : impl_(make_impl(std::forward<Handler>(handler), io_executor, std::move(keep_alive))) {}

  /// True while a handler is held.
  explicit operator bool() const noexcept { return impl_ != nullptr; }

  /// The handler's associated cancellation slot (unconnected when it has none).
  asio::cancellation_slot cancellation_slot() const {
    return impl_ ? impl_->cancellation_slot() : asio::cancellation_slot();
  }

  /// Completes the handler with these arguments, at the end of the current turn or posted;
  /// afterwards `*this` is empty.
  void complete(std::error_code ec, Values... values) {
    impl_->set_result(ec, std::move(values)...);
    handler_turn::defer(std::move(impl_));
  }

private:
  struct base : deferred_work {
    virtual void set_result(std::error_code ec, Values&&... values) = 0;
    virtual asio::cancellation_slot cancellation_slot() const = 0;
  };

  // The allocator a handler's storage comes from.
  template <class Handler>
  using allocator_for = asio::associated_allocator_t<Handler, asio::recycling_allocator<void>>;

  template <class Handler>
  struct impl final : base {
    using allocator_type =
        typename std::allocator_traits<allocator_for<Handler>>::template rebind_alloc<impl>;

    impl(Handler&& h, const asio::any_io_executor& ex, std::shared_ptr<void> ka,
         const allocator_type& a)
        : handler(std::move(h)), io_executor(ex), keep_alive(std::move(ka)), allocator(a) {}
    impl(const Handler& h, const asio::any_io_executor& ex, std::shared_ptr<void> ka,
         const allocator_type& a)
        : handler(h), io_executor(ex), keep_alive(std::move(ka)), allocator(a) {}

    void set_result(std::error_code ec, Values&&... values) override {
      result.emplace(ec, std::move(values)...);
    }

    // At the end of a turn the handler's executor is normally the one running: dispatch then
    // calls it in place (a strand or another context still gets it posted). The usual case, an
    // io_context's executor running on this thread, is recognised here and the handler called
    // directly, as dispatch would, without its type-erased execution. Either way this object
    // is freed first; the keep-alive is released after the handler has run.
    void run() override {
      auto executor = asio::get_associated_executor(handler, io_executor);
      if (running_here(executor)) {
        Handler h(std::move(handler));
        auto r = std::move(*result);
        auto ka = std::move(keep_alive);
        destroy();
        std::apply([&h](std::error_code ec,
                        Values&... v) { std::move(h)(handler_error(ec), std::move(v)...); },
                   r);
        return;
      }
      auto call = bound();
      destroy();
      asio::dispatch(executor, std::move(call));
    }

    void destroy() noexcept override {
      allocator_type a(allocator);
      std::allocator_traits<allocator_type>::destroy(a, this);
      std::allocator_traits<allocator_type>::deallocate(a, this, 1);
    }
    template <class Executor>
    static bool running_here(const Executor& executor) noexcept {
      using io_executor_type = asio::io_context::executor_type;
      if constexpr (std::is_same_v<Executor, io_executor_type>) {
        return executor.running_in_this_thread();
      } else if constexpr (std::is_same_v<Executor, asio::any_io_executor>) {
        const auto* target = executor.template target<io_executor_type>();
        return target != nullptr && target->running_in_this_thread();
      } else {
        return false;
      }
    }

    void post() override {
      auto executor = asio::get_associated_executor(handler, io_executor);
      auto call = bound();
      destroy();
      asio::post(executor, std::move(call));
    }

    auto bound() {
      return
          [h = std::move(handler), ka = std::move(keep_alive), r = std::move(*result)]() mutable {
            std::apply([&](std::error_code ec,
                           Values&... v) { std::move(h)(handler_error(ec), std::move(v)...); },
                       r);
          };
    }

    asio::cancellation_slot cancellation_slot() const override {
      return asio::get_associated_cancellation_slot(handler);
    }

    Handler handler;
    asio::any_io_executor io_executor;
    std::shared_ptr<void> keep_alive;
    std::optional<std::tuple<std::error_code, Values...>> result;
    allocator_type allocator;
  };

  using impl_ptr = std::unique_ptr<base, deferred_work::deleter>;

  template <class Handler>
  static impl_ptr make_impl(Handler&& handler, const asio::any_io_executor& io_executor,
                            std::shared_ptr<void> keep_alive) {
    using stored = impl<std::decay_t<Handler>>;
    using traits = std::allocator_traits<typename stored::allocator_type>;
    typename stored::allocator_type allocator(
        asio::get_associated_allocator(handler, asio::recycling_allocator<void>()));
    stored* storage = traits::allocate(allocator, 1);
    try {
      traits::construct(allocator, storage, std::forward<Handler>(handler), io_executor,
                        std::move(keep_alive), allocator);
    } catch (...) {
      traits::deallocate(allocator, storage, 1);
      throw;
    }
    return impl_ptr(storage);
  }

  impl_ptr impl_;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_ASYNC_ERASED_HANDLER_HPP
