// Helpers for writing worker scenarios.
#ifndef COCLUSTER_TESTS_SUPPORT_WORKER_SCENARIOS_HPP
#define COCLUSTER_TESTS_SUPPORT_WORKER_SCENARIOS_HPP

#include <cstdlib>
#include <functional>

#include <cocluster.hpp>

#include "support/scenario.hpp"
#include "support/serializations.hpp"

namespace test {

/// Runs a worker: makes the cluster (worker role) with serialization S, spawns `body(cluster)`
/// as a coroutine, and runs the io_context until it has no more work (the channel closed and
/// the body returned). Returns `exit_code` then; if the body threw, prints the exception and exits
/// with `scenario_threw`.
template <class S, class Body>
int run_worker(Body body, int exit_code = 0, cocluster::cluster_options options = {}) {
  asio::io_context io;
  cocluster::cluster<cocluster::round_robin, S> cluster(io, options);
  if (!cluster.is_worker())
    return 93;
  asio::co_spawn(io, body(cluster), exit_on_failure("the worker's body"));
  io.run();
  return exit_code;
}

} // namespace test

#endif
