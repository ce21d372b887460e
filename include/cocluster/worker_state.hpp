// SPDX-License-Identifier: MIT
/// @file
/// A worker's state, as Node names it.
#ifndef COCLUSTER_WORKER_STATE_HPP
#define COCLUSTER_WORKER_STATE_HPP

#include <string_view>

namespace cocluster {

/// A worker's state, as Node names it.
enum class worker_state {
  none,         ///< forked, not online yet
  online,       ///< sent `online`
  listening,    ///< one of its servers listens
  disconnected, ///< its IPC channel closed
  dead,         ///< its process ended
};

/// "none", "online", "listening", "disconnected", "dead".
/// @param state the state.
/// @return Node's name of it (`worker.state`), a static string; "none" for a value outside the
///   enumeration.
inline std::string_view to_string(worker_state state) {
  switch (state) {
  case worker_state::none: return "none";
  case worker_state::online: return "online";
  case worker_state::listening: return "listening";
  case worker_state::disconnected: return "disconnected";
  case worker_state::dead: return "dead";
  }
  return "none";
}

} // namespace cocluster

#endif // COCLUSTER_WORKER_STATE_HPP
