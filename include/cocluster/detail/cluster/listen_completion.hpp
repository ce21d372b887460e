// SPDX-License-Identifier: MIT
/// @file
/// How a listen or a bind completes: with `void(std::error_code, Result)` as Asio's own
/// operations do, except that `co_await` with `asio::use_awaitable` throws the failure with the
/// context an error code cannot carry (the call and the address).
#ifndef COCLUSTER_DETAIL_CLUSTER_LISTEN_COMPLETION_HPP
#define COCLUSTER_DETAIL_CLUSTER_LISTEN_COMPLETION_HPP

#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail {

/// Delivers `(args...)` to a handler once, from the handler's executor. Copyable, so it can
/// travel through std::function.
template <class Handler, class... Args>
class deliver_once {
public:
  deliver_once(Handler handler, const asio::any_io_executor& fallback)
      : handler_(std::make_shared<std::optional<Handler>>(std::move(handler))),
        executor_(asio::get_associated_executor(**handler_, fallback)) {}

  void operator()(Args... args) const {
    if (!*handler_)
      return;
    asio::post(executor_, [handler = std::move(**handler_), ... args = std::move(args)]() mutable {
      std::move(handler)(std::move(args)...);
    });
    handler_->reset();
  }

private:
  std::shared_ptr<std::optional<Handler>> handler_;
  asio::associated_executor_t<Handler, asio::any_io_executor> executor_;
};

/// The error code a failed listen or bind completes with: a `std::system_error`'s own code
/// (the call's errno, or a cocluster error); a reply of the primary that could not be read is
/// `errc::malformed_message`, a failed allocation `std::errc::not_enough_memory`.
inline std::error_code error_code_of(const std::exception_ptr& failure) noexcept {
  if (!failure)
    return {};
  try {
    std::rethrow_exception(failure);
  } catch (const std::system_error& e) {
    return e.code();
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  } catch (...) {
    return make_error_code(errc::malformed_message);
  }
}

/// The failure that `co_await` throws: a `std::system_error` as it is (its what() names the call
/// and the address), anything else as a `std::system_error` of `error_code_of`, with its text.
inline std::exception_ptr as_system_error(const std::exception_ptr& failure) {
  if (!failure)
    return nullptr;
  try {
    std::rethrow_exception(failure);
  } catch (const std::system_error&) {
    return failure;
  } catch (const std::exception& e) {
    return std::make_exception_ptr(std::system_error(error_code_of(failure), e.what()));
  } catch (...) {
    return std::make_exception_ptr(std::system_error(error_code_of(failure)));
  }
}

/// True for the token that throws a failure: `asio::use_awaitable` (the cluster's default). It
/// gets the failure as the exception the operation made, whose what() keeps the context.
template <class Token>
inline constexpr bool throws_failure = std::is_same_v<std::decay_t<Token>, asio::use_awaitable_t<>>;

/// Starts a listen or bind, `start(done)`, and completes `token` with `void(std::error_code,
/// Result)` from what it reports, once, with `done(std::exception_ptr, Result)` (from any
/// handler of the cluster's executor). With `asio::use_awaitable` the awaitable returns the
/// result or throws the `std::system_error` (what Asio's awaitable does with an error code, but
/// with the error's context kept).
template <class Result, class Token, class Start>
auto async_complete(Token&& token, const asio::any_io_executor& executor, Start start) {
  if constexpr (throws_failure<Token>) {
    return asio::async_initiate<Token, void(std::exception_ptr, Result)>(
        [executor](auto handler, Start begin) {
          deliver_once<decltype(handler), std::exception_ptr, Result> done(std::move(handler),
                                                                           executor);
          begin([done](std::exception_ptr failure, Result result) {
            done(as_system_error(failure), std::move(result));
          });
        },
        token, std::move(start));
  } else {
    return asio::async_initiate<Token, void(error_code, Result)>(
        [executor](auto handler, Start begin) {
          deliver_once<decltype(handler), error_code, Result> done(std::move(handler), executor);
          begin([done](std::exception_ptr failure, Result result) {
            done(handler_error(error_code_of(failure)), std::move(result));
          });
        },
        token, std::move(start));
  }
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_CLUSTER_LISTEN_COMPLETION_HPP
