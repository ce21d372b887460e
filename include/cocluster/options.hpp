// SPDX-License-Identifier: MIT
/// @file
/// Options of a cluster object that apply in both roles (primary and worker).
#ifndef COCLUSTER_OPTIONS_HPP
#define COCLUSTER_OPTIONS_HPP

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "cocluster/ipc/options.hpp"
#include "cocluster/net/handoff_options.hpp"
#include "cocluster/settings.hpp"

namespace cocluster {

/// Options given to a cluster object when it is made.
struct cluster_options {
  /// Limits of the IPC channels.
  ipc_options ipc{};
  /// In a worker: exit the process (code 0) when the channel to the primary closes without the
  /// worker having asked for it, as Node does. This is what makes workers of a dead primary go
  /// away. Set false to handle the `disconnected` event yourself.
  bool exit_on_unexpected_disconnect = true;
  /// In a worker: how long a graceful disconnect waits for the connections its servers accepted
  /// to end before it shuts them down. Empty: wait as long as they last (Node's behaviour). The
  /// primary can give a timeout per disconnect (`worker.disconnect(timeout)`).
  std::optional<std::chrono::milliseconds> drain_timeout{};
  /// The round-robin hand-off windows (`cocluster::handoff_options`).
  using handoff_options = cocluster::handoff_options;
  /// In the primary: how many round-robin connections may wait for one worker's answer at
  /// once, per shared port.
  handoff_options handoff{};
};

/// How `cluster::fork_with` starts one worker: cocluster's extension of `fork(env)` for pools
/// such as the `supervisor`'s.
struct fork_options {
  /// Settings for this worker only, merged over the cluster's settings (which stay as they
  /// are): a release of the program that a rolling reload rolls out, or rolls back from.
  cocluster::settings overrides{};
  /// Variables added to the worker's environment, as `fork(env)`.
  std::map<std::string, std::string> env{};
  /// The pool slot the worker serves in. Under `reuse_port`, workers of one slot share one
  /// SO_REUSEPORT socket per port, kept by the primary: a replacement accepts from the same
  /// socket as the worker it replaces, so the connections queued there are served instead of
  /// reset when the old worker closes (the kernel resets what waits in a closed reuseport
  /// socket). `cluster::release_slot` closes a slot's sockets.
  std::optional<int> slot{};
};

} // namespace cocluster

#endif // COCLUSTER_OPTIONS_HPP
