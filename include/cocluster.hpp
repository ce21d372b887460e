// SPDX-License-Identifier: MIT
/// @file
/// cocluster: Node.js's `cluster` module for C++20 on Asio. This is the only header to include.
#ifndef COCLUSTER_HPP
#define COCLUSTER_HPP

/// @namespace cocluster
/// The whole public API: `cluster`, its workers and events, the `supervisor`, the listen
/// options, the scheduling and serialization policies, and `value` for V8-serialized messages.
/// Names in `cocluster::detail` are internal.

#include "cocluster/config.hpp"

// What the examples and most users await with: error codes as values (cocluster::as_tuple, from
// config.hpp, for every Asio version), and timeouts by racing.
#if defined(COCLUSTER_USE_BOOST_ASIO)
#include <boost/asio/experimental/awaitable_operators.hpp>
#else
#include <asio/experimental/awaitable_operators.hpp>
#endif

#include "cocluster/cluster.hpp"
#include "cocluster/error.hpp"
#include "cocluster/event_stream.hpp"
#include "cocluster/events.hpp"
#include "cocluster/exit_status.hpp"
#include "cocluster/listen_address.hpp"
#include "cocluster/metrics.hpp"
#include "cocluster/metrics/prometheus.hpp"
#include "cocluster/net/listen_options.hpp"
#include "cocluster/net/server.hpp"
#include "cocluster/options.hpp"
#include "cocluster/scheduling/ip_hash.hpp"
#include "cocluster/scheduling/least_connections.hpp"
#include "cocluster/scheduling/policy.hpp"
#include "cocluster/scheduling/round_robin.hpp"
#include "cocluster/scheduling/shared_socket.hpp"
#include "cocluster/serialization/advanced.hpp"
#include "cocluster/serialization/json.hpp"
#include "cocluster/serialization/policy.hpp"
#include "cocluster/settings.hpp"
#include "cocluster/supervisor.hpp"
#include "cocluster/value.hpp"
#include "cocluster/worker.hpp"

// Last: with COCLUSTER_SEPARATE_COMPILATION, the instantiations one source of the program makes.
#include "cocluster/impl/instantiations.hpp"

#endif // COCLUSTER_HPP
