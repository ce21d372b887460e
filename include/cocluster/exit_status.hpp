// SPDX-License-Identifier: MIT
/// @file
/// How a worker process ended.
#ifndef COCLUSTER_EXIT_STATUS_HPP
#define COCLUSTER_EXIT_STATUS_HPP

#include <optional>
#include <string>
#include <system_error>

#include "cocluster/detail/process/signal_names.hpp"

namespace cocluster {

/// How a worker process ended: Node's `(code, signal)` pair of the `exit` event, plus the
/// reason when the process never started.
struct exit_status {
  /// The exit code, when the process exited (Node's `code`; null when killed by a signal).
  std::optional<int> code;
  /// The signal that killed the process (Node's `signal`), as a number.
  std::optional<int> signal;
  /// Set when the worker could not be started: the spawn's error (exec, cwd, setuid, ...).
  /// `code` is 127 then, as a shell would report it.
  std::error_code spawn_error;

  /// Node's signal name ("SIGTERM"), or empty when no signal killed the process.
  /// @return the name of `signal`, as `os.constants.signals` spells it.
  std::string signal_name() const { return signal ? detail::signal_name(*signal) : std::string(); }

  /// True when the process exited with code 0.
  /// @return false for any other code, a signal, a spawn error, or a process still running.
  bool success() const noexcept { return code && *code == 0 && !spawn_error; }

  /// "exit code 3", "signal SIGKILL", "spawn failed: No such file or directory".
  /// @return the status in words, for logs; "running" while neither a code nor a signal is set.
  std::string to_string() const {
    if (spawn_error)
      return "spawn failed: " + spawn_error.message();
    if (signal)
      return "signal " + signal_name();
    if (code)
      return "exit code " + std::to_string(*code);
    return "running";
  }

  friend bool operator==(const exit_status&, const exit_status&) = default;
};

} // namespace cocluster

#endif // COCLUSTER_EXIT_STATUS_HPP
