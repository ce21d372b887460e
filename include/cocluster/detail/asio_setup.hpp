// SPDX-License-Identifier: MIT
/// @file
/// The switches cocluster sets before any Asio header is read (config.hpp, and the pure
/// scheduling headers that use only Asio's address type), and which Asio it is written against.
///
/// clang does not turn on Asio's `co_await` support by itself with libstdc++, so it is switched
/// on here; include cocluster before Asio, or define `ASIO_HAS_CO_AWAIT=1` on the command line
/// (`BOOST_ASIO_HAS_CO_AWAIT=1` with Boost.Asio).
///
/// With `COCLUSTER_USE_BOOST_ASIO` defined, cocluster is written against Boost.Asio instead of
/// standalone Asio: `asio` is a global alias of `boost::asio` (see config.hpp).
#ifndef COCLUSTER_DETAIL_ASIO_SETUP_HPP
#define COCLUSTER_DETAIL_ASIO_SETUP_HPP

#if defined(COCLUSTER_USE_BOOST_ASIO)

#if defined(__clang__) && !defined(BOOST_ASIO_HAS_CO_AWAIT)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif

namespace boost::asio {}
/// cocluster's (and its users') `asio::` is Boost.Asio in this mode.
namespace asio = ::boost::asio;

/// The namespace that cocluster reopens to specialize Asio's traits.
#define COCLUSTER_ASIO_NAMESPACE boost::asio

#else

#if defined(__clang__) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif

/// The namespace that cocluster reopens to specialize Asio's traits.
#define COCLUSTER_ASIO_NAMESPACE asio

#endif

#endif // COCLUSTER_DETAIL_ASIO_SETUP_HPP
