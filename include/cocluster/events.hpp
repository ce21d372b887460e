// SPDX-License-Identifier: MIT
/// @file
/// The events a cluster and its workers report, and the tags that name them in `subscribe`.
#ifndef COCLUSTER_EVENTS_HPP
#define COCLUSTER_EVENTS_HPP

#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "cocluster/exit_status.hpp"
#include "cocluster/listen_address.hpp"
#include "cocluster/settings.hpp"

namespace cocluster {

/// An error about one worker: a spawn failure, a malformed message, a failed write.
struct worker_error {
  std::error_code code;
  /// What happened, with context ("execve /usr/bin/nope: No such file or directory").
  std::string what;
};

/// A worker was forked (Node's cluster `fork`).
template <class Worker>
struct fork_event {
  Worker worker;
};

/// A worker came online (Node's `online`).
template <class Worker>
struct online_event {
  Worker worker;
};

/// A worker's server is listening (Node's `listening`).
template <class Worker>
struct listening_event {
  Worker worker;
  listen_address address;
};

/// A worker's IPC channel closed (Node's `disconnect`).
template <class Worker>
struct disconnect_event {
  Worker worker;
};

/// A worker process ended (Node's `exit`).
template <class Worker>
struct exit_event {
  Worker worker;
  exit_status status;
};

/// A worker sent a message (Node's cluster `message`).
template <class Worker>
struct message_event {
  Worker worker;
  typename Worker::value_type message;
};

/// Something went wrong with a worker (Node's worker `error`, seen cluster-wide).
template <class Worker>
struct error_event {
  Worker worker;
  worker_error error;
};

/// `setup_primary` was called, or `fork` called it (Node's `setup`).
struct setup_event {
  /// The settings now in effect.
  cocluster::settings current;
};

/// Tags naming events in `subscribe(...)`, as Node names them in `on('exit', ...)`.
namespace event {
struct fork_t { explicit fork_t() = default; };
struct online_t { explicit online_t() = default; };
struct listening_t { explicit listening_t() = default; };
struct disconnect_t { explicit disconnect_t() = default; };
struct exit_t { explicit exit_t() = default; };
struct message_t { explicit message_t() = default; };
struct error_t { explicit error_t() = default; };
struct setup_t { explicit setup_t() = default; };

inline constexpr fork_t fork{};
inline constexpr online_t online{};
inline constexpr listening_t listening{};
inline constexpr disconnect_t disconnect{};
inline constexpr exit_t exit{};
inline constexpr message_t message{};
inline constexpr error_t error{};
inline constexpr setup_t setup{};
} // namespace event

} // namespace cocluster

#endif // COCLUSTER_EVENTS_HPP
