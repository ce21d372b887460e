// SPDX-License-Identifier: MIT
/// @file
/// Library configuration: the Asio include, version and feature checks.
///
/// cocluster is written against standalone Asio 1.22 (Debian 12's libasio-dev) and later.
/// Include cocluster before Asio (see detail/asio_setup.hpp), or define `ASIO_HAS_CO_AWAIT=1`
/// on the command line.
///
/// Boost.Asio (and so Boost.Beast): define `COCLUSTER_USE_BOOST_ASIO` (before any cocluster
/// header, best on the command line) and cocluster is written against `<boost/asio.hpp>`
/// (Boost 1.81 and later) instead: `asio` is then a global alias of `boost::asio`, so a worker's
/// accepted `asio::ip::tcp::socket` is a `boost::asio::ip::tcp::socket` on the program's own
/// `io_context`, and completion handlers receive `boost::system::error_code`
/// (`cocluster::error_code`). Standalone Asio cannot be used in the same program then.
#ifndef COCLUSTER_CONFIG_HPP
#define COCLUSTER_CONFIG_HPP

#include <system_error>

#include "cocluster/detail/asio_setup.hpp"

#if defined(COCLUSTER_USE_BOOST_ASIO)

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/system/error_code.hpp>
#include <boost/version.hpp>

#if BOOST_VERSION < 108100
#error "COCLUSTER_USE_BOOST_ASIO needs Boost 1.81 or later"
#endif
#if !defined(BOOST_ASIO_HAS_CO_AWAIT)
#error "cocluster needs Boost.Asio's co_await support: define BOOST_ASIO_HAS_CO_AWAIT=1"
#endif

#else

#include <asio.hpp>

// `as_tuple` (errors as values) left Asio's experimental namespace in 1.28 and is gone from it
// in 1.38: cocluster::as_tuple is whichever this Asio has.
#if __has_include(<asio/as_tuple.hpp>)
#include <asio/as_tuple.hpp>
#else
#include <asio/experimental/as_tuple.hpp>
#endif

#if ASIO_VERSION < 102200
#error "cocluster needs standalone Asio 1.22 or newer (asio/version.hpp's ASIO_VERSION)"
#endif

#if !defined(ASIO_HAS_CO_AWAIT)
#error "cocluster needs Asio's co_await support: define ASIO_HAS_CO_AWAIT=1 before Asio is included"
#endif

#endif

#if !defined(__linux__)
#error "cocluster supports Linux only (pidfd, SCM_RIGHTS, close_range, PR_SET_PDEATHSIG)"
#endif

/// The library's version as a number: major * 10000 + minor * 100 + patch.
#define COCLUSTER_VERSION 100 // 0.1.0

namespace cocluster {

/// The library's version as text.
inline constexpr const char* version_string = "0.1.0";

#if defined(COCLUSTER_USE_BOOST_ASIO) || __has_include(<asio/as_tuple.hpp>)
using asio::as_tuple;
using asio::as_tuple_t;
#else
/// Asio's `as_tuple` completion token adapter (`asio::as_tuple` from Asio 1.28 and in
/// Boost.Asio, `asio::experimental::as_tuple` before):
/// `co_await op(cocluster::as_tuple(asio::use_awaitable))` yields the error code as a value
/// instead of throwing it.
using asio::experimental::as_tuple;
/// The adapted token's type.
using asio::experimental::as_tuple_t;
#endif

/// The error code that cocluster's completion handlers receive: Asio's own, which is
/// `boost::system::error_code` under `COCLUSTER_USE_BOOST_ASIO` and `std::error_code` otherwise.
/// (cocluster's errors inside the library, and the `std::system_error`s it throws itself, are
/// `std::error_code`s either way; the two convert into each other.)
#if defined(COCLUSTER_USE_BOOST_ASIO)
using error_code = boost::system::error_code;
#else
using error_code = std::error_code;
#endif

namespace detail {

/// `ec` as the error code a completion handler receives. With Boost.Asio an errno value (system
/// or generic category) becomes Boost's own code again, so that it compares equal to Asio's
/// constants (`asio::error::operation_aborted`); other categories are kept as they are.
inline error_code handler_error(const std::error_code& ec) noexcept {
#if defined(COCLUSTER_USE_BOOST_ASIO)
  if (ec.category() == std::system_category())
    return error_code(ec.value(), boost::system::system_category());
  if (ec.category() == std::generic_category())
    return error_code(ec.value(), boost::system::generic_category());
#endif
  return ec;
}

} // namespace detail

} // namespace cocluster

#endif // COCLUSTER_CONFIG_HPP
