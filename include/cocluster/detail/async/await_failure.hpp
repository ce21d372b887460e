// SPDX-License-Identifier: MIT
/// @file
/// A failure as an error code (what `async_once` completes with) and as the exception that the
/// short awaitables (`cluster.listen()`, `cluster.bind()`) throw, with the context that an error
/// code cannot carry: the call and the address.
#ifndef COCLUSTER_DETAIL_ASYNC_AWAIT_FAILURE_HPP
#define COCLUSTER_DETAIL_ASYNC_AWAIT_FAILURE_HPP

#include <exception>
#include <memory>
#include <new>
#include <system_error>
#include <utility>

#include "cocluster/config.hpp"
#include "cocluster/detail/async/async_once.hpp"
#include "cocluster/error.hpp"

namespace cocluster::detail {

/// The error code of a failure: a `std::system_error`'s own code (the call's errno, or a
/// cocluster error); a failed allocation is `std::errc::not_enough_memory`, anything else
/// (a reply of the primary that could not be read) `errc::malformed_message`.
/// @param failure the exception the operation made, or none.
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

/// The failure as a short awaitable throws it: a `std::system_error` as it is (its what()
/// names the call and the address), anything else as a `std::system_error` of
/// `error_code_of`, with its text.
/// @param failure the exception the operation made, not null.
inline std::exception_ptr as_system_error(const std::exception_ptr& failure) {
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

/// Adapts a `once_report<Value>` to what the library's operations report,
/// `(std::exception_ptr failure, Value value)`.
template <class Value>
class failure_report {
public:
  explicit failure_report(once_report<Value> report) : report_(std::move(report)) {}

  void operator()(std::exception_ptr failure, Value value) const {
    report_(error_code_of(failure), std::move(value));
  }

private:
  once_report<Value> report_;
};

/// The initiation of `await_failure`: `start(report)`, the failure reported as a value too.
template <class Value>
struct start_with_failure {
  template <class Start>
  void operator()(once_report<std::exception_ptr, Value> report, Start start) const {
    std::move(start)([report](std::exception_ptr failure, Value value) {
      report(error_code_of(failure), failure, std::move(value));
    });
  }
};

/// `co_await` of an operation started by `start(report)`, with `report(std::exception_ptr,
/// Value)` as `failure_report` takes it: returns the value, or throws the failure as
/// `as_system_error` makes it (so the call and the address are kept); a cancelled wait throws
/// `std::system_error(asio::error::operation_aborted)`. The one place the exception reaches a
/// user; every `async_*` completes with the error code alone.
/// @param executor the executor the operation completes on.
/// @param start called once, as `start(report)`.
template <class Value, class Start>
asio::awaitable<Value> await_failure(asio::any_io_executor executor, Start start) {
  // The failure travels as a value of the completion, not through a shared_ptr of the frame
  // captured by a lambda written in the co_await expression: g++ 12 freed that one while the
  // lambda still held it (a use after free, found by ASan).
  auto [ec, failure, value] = co_await async_once<std::exception_ptr, Value>(
      as_tuple(asio::use_awaitable), executor, start_with_failure<Value>{}, std::move(start));
  if (failure)
    std::rethrow_exception(as_system_error(failure));
  if (ec)
    throw std::system_error(ec);
  co_return std::move(value);
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_ASYNC_AWAIT_FAILURE_HPP
