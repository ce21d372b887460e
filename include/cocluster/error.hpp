// SPDX-License-Identifier: MIT
/// @file
/// cocluster's own error codes, in the `cocluster` error category.
#ifndef COCLUSTER_ERROR_HPP
#define COCLUSTER_ERROR_HPP

#include <string>
#include <system_error>

namespace cocluster {

/// Errors that cocluster reports beside the operating system's own `errno` values.
enum class errc {
  /// The IPC channel is closed, or was closed while the operation waited.
  channel_closed = 1,
  /// A frame read from the IPC channel could not be decoded (bad JSON, blank line, bad UTF-8,
  /// a malformed V8 value).
  malformed_message,
  /// A frame is longer than the channel's `max_message_size`.
  message_too_large,
  /// The write queue is over its hard limit (`write_queue_limit`); the message was not queued.
  write_queue_full,
  /// A value cannot be encoded by the serialization policy.
  unencodable_value,
  /// The worker exited before it came online (or before the awaited event happened).
  worker_exited,
  /// The worker process could not be started (exec, cwd, setuid, ...).
  spawn_failed,
  /// A `NODE_HANDLE` message arrived without its file descriptor.
  handle_lost,
  /// The event stream was closed because its source (cluster or worker) went away.
  stream_closed,
  /// The operation is not valid in this process's role (primary or worker).
  wrong_role,
  /// The supervisor saw too many failed starts or crashes within its window and stopped
  /// respawning (`crash_loop_options`).
  crash_loop,
  /// A worker failed before it was ever ready: it exited during boot, or did not get ready
  /// within the boot timeout.
  boot_failed,
  /// A rolling reload stopped because a replacement worker failed; the old release serves on.
  reload_failed,
  /// The supervisor is stopping or has stopped: the operation was refused or cut short.
  supervisor_stopped,
  /// A handle is not of the kind it was announced or asked for (a `NODE_HANDLE` of type
  /// `net.Server` whose descriptor is not a listening socket; `take_tcp_socket` of a Unix
  /// socket), or it was already taken.
  wrong_handle_kind,
  /// Too many handles sent on one channel are waiting for the peer's acknowledgement
  /// (`ipc_options::max_pending_handles`): a peer that does not acknowledge cannot make the
  /// sender hold descriptors without bound.
  too_many_handles,
  /// A message routed through the primary (`send_to`, a worker's `broadcast`) names a worker
  /// that is not connected: it has exited, is leaving, or never existed.
  no_such_worker,
  /// Worker-to-worker messages need a cocluster primary to route them; this worker's primary is
  /// not one (a Node primary ignores the routing request: the message would be lost silently).
  no_routing,
  /// A hot upgrade of the primary failed: the new primary could not be started, exited, or was
  /// not ready within `supervisor_options::upgrade_timeout` (it was killed); the old primary
  /// serves on.
  upgrade_failed,
};

namespace detail {

class error_category final : public std::error_category {
public:
  const char* name() const noexcept override { return "cocluster"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
    case errc::channel_closed: return "IPC channel closed";
    case errc::malformed_message: return "malformed IPC message";
    case errc::message_too_large: return "IPC message larger than max_message_size";
    case errc::write_queue_full: return "IPC write queue over its limit";
    case errc::unencodable_value: return "value cannot be encoded";
    case errc::worker_exited: return "worker exited";
    case errc::spawn_failed: return "worker could not be spawned";
    case errc::handle_lost: return "file descriptor announced by NODE_HANDLE was not received";
    case errc::stream_closed: return "event stream closed";
    case errc::wrong_role: return "operation not valid in this process's cluster role";
    case errc::crash_loop: return "workers keep failing: crash loop, respawning stopped";
    case errc::boot_failed: return "worker failed before it was ready";
    case errc::reload_failed: return "rolling reload failed: a replacement worker failed";
    case errc::supervisor_stopped: return "supervisor stopped";
    case errc::wrong_handle_kind: return "handle of the wrong kind, or already taken";
    case errc::too_many_handles: return "too many handles waiting for the peer's acknowledgement";
    case errc::no_such_worker: return "no such worker is connected";
    case errc::no_routing: return "the primary does not route messages between workers";
    case errc::upgrade_failed:
      return "hot upgrade of the primary failed: the old primary serves on";
    }
    return "unknown cocluster error";
  }
};

} // namespace detail

/// The `cocluster` error category.
/// @return the one category object, named "cocluster", whose `message` words each `errc`.
inline const std::error_category& error_category() noexcept {
  static const detail::error_category instance;
  return instance;
}

/// Makes an `std::error_code` from a cocluster error value.
/// @param e the error; `errc` is an error code enum, so `ec == errc::channel_closed` compares
///   with it directly.
/// @return the code of `e` in `error_category()`.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace cocluster

template <>
struct std::is_error_code_enum<cocluster::errc> : std::true_type {};

#endif // COCLUSTER_ERROR_HPP
