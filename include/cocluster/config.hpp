// SPDX-License-Identifier: MIT
/// @file
/// Library configuration: the Asio include, version and feature checks.
///
/// cocluster is written against standalone Asio 1.22 (Debian 12's libasio-dev) and later.
/// Include cocluster before Asio (see detail/asio_setup.hpp), or define `ASIO_HAS_CO_AWAIT=1`
/// on the command line.
#ifndef COCLUSTER_CONFIG_HPP
#define COCLUSTER_CONFIG_HPP

#include "cocluster/detail/asio_setup.hpp"

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

#if !defined(__linux__)
#error "cocluster supports Linux only (pidfd, SCM_RIGHTS, close_range, PR_SET_PDEATHSIG)"
#endif

/// The library's version as a number: major * 10000 + minor * 100 + patch.
#define COCLUSTER_VERSION 100 // 0.1.0

namespace cocluster {

/// The library's version as text.
inline constexpr const char* version_string = "0.1.0";

#if __has_include(<asio/as_tuple.hpp>)
using asio::as_tuple;
using asio::as_tuple_t;
#else
/// Asio's `as_tuple` completion token adapter (`asio::as_tuple` from Asio 1.28,
/// `asio::experimental::as_tuple` before):
/// `co_await op(cocluster::as_tuple(asio::use_awaitable))` yields the error code as a value
/// instead of throwing it.
using asio::experimental::as_tuple;
/// The adapted token's type.
using asio::experimental::as_tuple_t;
#endif

} // namespace cocluster

#endif // COCLUSTER_CONFIG_HPP
