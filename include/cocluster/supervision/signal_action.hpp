// SPDX-License-Identifier: MIT
/// @file
/// `signal_action_of`: what a signal asks of a supervisor, as the pre-fork masters do it
/// (gunicorn, nginx): SIGTERM and SIGINT stop (the second one kills), SIGHUP reloads, SIGTTIN
/// and SIGTTOU add and remove a worker, SIGUSR2 hot-upgrades the primary. Pure.
#ifndef COCLUSTER_SUPERVISION_SIGNAL_ACTION_HPP
#define COCLUSTER_SUPERVISION_SIGNAL_ACTION_HPP

#include <csignal>
#include <cstddef>

namespace cocluster {

/// What a supervisor does on a signal.
enum class signal_action {
  none,       ///< nothing (not a supervisor's signal, or not now)
  stop,       ///< stop gracefully; a second time, kill the workers
  reload,     ///< a rolling reload to the same release (new code on disk)
  scale_up,   ///< one worker more
  scale_down, ///< one worker less (never below one)
  upgrade,    ///< a hot upgrade of the primary
};

/// The signals a supervisor handles (`supervisor::handle_signals`).
inline constexpr int supervisor_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR2};

/// What `signal` asks of a supervisor.
/// @param signal the signal's number
/// @param running whether the pool is running (a stopping pool only hears SIGTERM, SIGINT and
///        SIGHUP, which then answer themselves)
/// @param pool_size the pool's size now (SIGTTOU does nothing at 1: a pool never shrinks to 0)
/// @return the action to take; `signal_action::none` for a signal not in `supervisor_signals`
///         (a SIGTTIN, SIGTTOU or SIGUSR2 too, while the pool is not running)
inline signal_action signal_action_of(int signal, bool running, std::size_t pool_size) noexcept {
  if (signal == SIGTERM || signal == SIGINT)
    return signal_action::stop;
  if (signal == SIGHUP)
    return signal_action::reload;
  if (!running)
    return signal_action::none;
  if (signal == SIGTTIN)
    return signal_action::scale_up;
  if (signal == SIGTTOU)
    return pool_size > 1 ? signal_action::scale_down : signal_action::none;
  if (signal == SIGUSR2)
    return signal_action::upgrade;
  return signal_action::none;
}

} // namespace cocluster

#endif // COCLUSTER_SUPERVISION_SIGNAL_ACTION_HPP
