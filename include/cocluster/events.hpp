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
#include "cocluster/ipc/handle.hpp"
#include "cocluster/listen_address.hpp"
#include "cocluster/settings.hpp"

namespace cocluster {

/// An error about one worker: a spawn failure, a malformed message, a failed write.
struct worker_error {
  /// What kind of error: a `cocluster::errc` (a message that cannot be decoded, say) or a
  /// system error (a failed spawn or write).
  std::error_code code;
  /// What happened, with context ("execve /usr/bin/nope: No such file or directory").
  std::string what;
};

/// A worker was forked (Node's cluster `fork`).
template <class Worker>
struct fork_event {
  /// The new worker.
  Worker worker;
};

/// A worker came online (Node's `online`).
template <class Worker>
struct online_event {
  /// The worker that came online.
  Worker worker;
};

/// A worker's server is listening (Node's `listening`).
template <class Worker>
struct listening_event {
  /// The worker that listens.
  Worker worker;
  /// Where it listens: address and port, a Unix socket's path, or a descriptor.
  listen_address address;
};

/// A worker's IPC channel closed (Node's `disconnect`).
template <class Worker>
struct disconnect_event {
  /// The worker whose channel closed.
  Worker worker;
};

/// A worker process ended (Node's `exit`).
template <class Worker>
struct exit_event {
  /// The worker that exited.
  Worker worker;
  /// How it ended: an exit code or the signal that killed it.
  exit_status status;
};

/// A worker sent a message (Node's cluster `message`).
template <class Worker>
struct message_event {
  /// The worker that sent it.
  Worker worker;
  /// The message, decoded by the cluster's serialization (`nlohmann::json` or `cocluster::value`).
  typename Worker::value_type message;
};

/// A worker sent a message with a handle (Node's cluster `message` with its `handle` argument).
template <class Worker>
struct handle_message_event {
  /// The worker that sent it.
  Worker worker;
  /// The message.
  typename Worker::value_type message;
  /// The socket or server that came with it.
  cocluster::handle handle;
};

/// A message another worker sent to this one through the primary (`cluster.send_to`, or a
/// worker's `cluster.broadcast`): cocluster's extension, received with
/// `cluster.worker().subscribe(event::routed_message)`.
template <class Value>
struct routed_message {
  /// The id of the worker that sent it.
  int from = 0;
  /// The message, whole: with `advanced`, BigInts, Maps, Buffers... as they were sent.
  Value message;
};

/// Something went wrong with a worker (Node's worker `error`, seen cluster-wide).
template <class Worker>
struct error_event {
  /// The worker concerned.
  Worker worker;
  /// What went wrong.
  worker_error error;
};

/// `setup_primary` was called, or `fork` called it (Node's `setup`).
struct setup_event {
  /// The settings now in effect.
  cocluster::settings current;
};

/// Tags naming events in `subscribe(...)`, as Node names them in `on("exit", ...)`.
namespace event {
/// The type of `event::fork`: a worker was forked (`fork_event`).
struct fork_t {
  explicit fork_t() = default;
};
/// The type of `event::online`: a worker came online (`online_event`).
struct online_t {
  explicit online_t() = default;
};
/// The type of `event::listening`: a worker's server listens (`listening_event`).
struct listening_t {
  explicit listening_t() = default;
};
/// The type of `event::disconnect`: a worker's IPC channel closed (`disconnect_event`).
struct disconnect_t {
  explicit disconnect_t() = default;
};
/// The type of `event::exit`: a worker process ended (`exit_event`).
struct exit_t {
  explicit exit_t() = default;
};
/// The type of `event::message`: a worker sent a message (`message_event`).
struct message_t {
  explicit message_t() = default;
};
/// The type of `event::handle_message`: a message that came with a handle
/// (`handle_message`, `handle_message_event`).
struct handle_message_t {
  explicit handle_message_t() = default;
};
/// The type of `event::routed_message`: a message from another worker (`routed_message`).
struct routed_message_t {
  explicit routed_message_t() = default;
};
/// The type of `event::error`: an error about a worker (`error_event`).
struct error_t {
  explicit error_t() = default;
};
/// The type of `event::setup`: `setup_primary` was called (`setup_event`).
struct setup_t {
  explicit setup_t() = default;
};

/// Names the `fork` event: a worker was forked (`fork_event`).
inline constexpr fork_t fork{};
/// Names the `online` event: a worker came online (`online_event`).
inline constexpr online_t online{};
/// Names the `listening` event: a worker's server listens (`listening_event`).
inline constexpr listening_t listening{};
/// Names the `disconnect` event: a worker's IPC channel closed (`disconnect_event`).
inline constexpr disconnect_t disconnect{};
/// Names the `exit` event: a worker process ended (`exit_event`).
inline constexpr exit_t exit{};
/// Names the `message` event: a worker sent a message (`message_event`).
inline constexpr message_t message{};
/// Names the messages that came with a handle (Node's `message` event with its second
/// argument): `handle_message` on a worker, `handle_message_event` on the cluster.
inline constexpr handle_message_t handle_message{};
/// Names the messages that other workers sent to this one through the primary
/// (`routed_message`): cocluster's extension, on the worker's own handle.
inline constexpr routed_message_t routed_message{};
/// Names the `error` event: an error about a worker (`error_event`).
inline constexpr error_t error{};
/// Names the `setup` event: `setup_primary` was called (`setup_event`).
inline constexpr setup_t setup{};
} // namespace event

} // namespace cocluster

#endif // COCLUSTER_EVENTS_HPP
