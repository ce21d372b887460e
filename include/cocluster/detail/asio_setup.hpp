// SPDX-License-Identifier: MIT
/// @file
/// The switches cocluster sets before any Asio header is read (config.hpp, and the pure
/// scheduling headers that use only Asio's address type).
///
/// clang does not turn on Asio's `co_await` support by itself with libstdc++, so it is switched
/// on here; include cocluster before Asio, or define `ASIO_HAS_CO_AWAIT=1` on the command line.
#ifndef COCLUSTER_DETAIL_ASIO_SETUP_HPP
#define COCLUSTER_DETAIL_ASIO_SETUP_HPP

#if defined(__clang__) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif

#endif // COCLUSTER_DETAIL_ASIO_SETUP_HPP
