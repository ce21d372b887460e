// SPDX-License-Identifier: MIT
/// @file
/// One worker's lifecycle as one value: its Node state, whether its channel is still
/// connected, whether its process has exited, whether it is leaving (and how), and Node's
/// `exitedAfterDisconnect`. Each transition says what its owner does next: whether it happened
/// now (emit its event, complete its waiters) and whether the worker is now gone (both
/// disconnected and exited: end its error stream, drop it from the registry). Pure: no I/O, no
/// Asio; `worker_impl` and its two kinds carry the steps out.
#ifndef COCLUSTER_DETAIL_WORKER_LIFECYCLE_HPP
#define COCLUSTER_DETAIL_WORKER_LIFECYCLE_HPP

#include <optional>

#include "cocluster/worker_state.hpp"

namespace cocluster::detail {

/// What a transition of `worker_lifecycle` asks its owner to do.
struct lifecycle_step {
  /// The transition took place now (a repeat does nothing): emit its event, complete its
  /// waiters.
  bool happened = false;
  /// The worker is now both disconnected and exited (Node's removeWorker): end its error
  /// stream, drop it from the registry.
  bool gone = false;
};

/// The lifecycle of one worker object (`worker_impl`).
class worker_lifecycle {
public:
  /// Whose object it is: the primary's for a child (Node's `cluster.workers[id]`), or a
  /// worker's own (`cluster.worker`, which starts online and never sees its own exit).
  enum class side { primary, self };

  /// How the worker leaves, once it does.
  enum class leaving {
    no,            ///< not leaving
    disconnecting, ///< a graceful disconnect (either side asked): servers close, then the channel
    destroying,    ///< a worker's own `kill()`: it tells the primary and exits
  };

  /// A lifecycle in its first state: `none` for the primary's child, `online` for a worker's
  /// own object.
  /// @param whose the side whose object this is.
  explicit worker_lifecycle(side whose) noexcept
      : side_(whose), state_(whose == side::self ? worker_state::online : worker_state::none) {}

  /// Node's `worker.state`.
  worker_state state() const noexcept { return state_; }

  /// Node's `exitedAfterDisconnect`: empty until it is known, true once either side started
  /// the worker's leaving, false when the channel closed or the process ended first.
  std::optional<bool> exited_after_disconnect() const noexcept { return exited_after_disconnect_; }

  /// Whether the channel is connected (started, and its close not seen yet).
  bool connected() const noexcept { return connected_; }

  /// Whether the process's exit has been seen.
  bool exited() const noexcept { return exited_; }

  /// Whether the worker is gone: disconnected and exited both.
  bool gone() const noexcept { return !connected_ && exited_; }

  /// How the worker is leaving.
  leaving how_leaving() const noexcept { return leaving_; }

  /// The object starts reading its channel.
  /// @param channel_open whether the channel is open then (a child that failed to spawn has
  /// none).
  void start(bool channel_open) noexcept { connected_ = channel_open; }

  /// The worker said `online`. Returns true when the state moved (`none` → `online`); the
  /// `online` event is emitted on every such message, as Node does.
  bool online() noexcept {
    if (state_ != worker_state::none)
      return false;
    state_ = worker_state::online;
    return true;
  }

  /// One of the worker's servers listens: the state becomes `listening` unless the worker has
  /// disconnected or died. Returns true when the state moved.
  bool listening() noexcept {
    if (state_ == worker_state::dead || state_ == worker_state::disconnected ||
        state_ == worker_state::listening)
      return false;
    state_ = worker_state::listening;
    return true;
  }

  /// A graceful disconnect starts (the user's `disconnect()`, or the primary's `disconnect`
  /// message in a worker). Returns false, changing nothing, when one started already or the
  /// channel is not connected: nothing is to be sent or closed.
  bool begin_disconnect() noexcept {
    if (leaving_ != leaving::no || !connected_)
      return false;
    leaving_ = leaving::disconnecting;
    exited_after_disconnect_ = true;
    return true;
  }

  /// A worker's own `kill()`: it leaves at once. Returns false, changing nothing, when it is
  /// being destroyed already.
  bool begin_kill() noexcept {
    if (leaving_ == leaving::destroying)
      return false;
    leaving_ = leaving::destroying;
    exited_after_disconnect_ = true;
    return true;
  }

  /// The peer said it leaves on purpose (a worker's `exitedAfterDisconnect` message to its
  /// primary).
  void peer_leaving() noexcept { exited_after_disconnect_ = true; }

  /// The channel closed. The primary's child becomes `disconnected` unless dead; a worker's own
  /// state stays (as in Node). A close nobody started makes `exitedAfterDisconnect` false.
  lifecycle_step disconnect() noexcept {
    if (!connected_)
      return {};
    connected_ = false;
    if (!exited_after_disconnect_)
      exited_after_disconnect_ = false;
    if (side_ == side::primary && state_ != worker_state::dead)
      state_ = worker_state::disconnected;
    return {true, gone()};
  }

  /// The process ended (or never started): the state becomes `dead`. An exit nobody started
  /// makes `exitedAfterDisconnect` false.
  lifecycle_step exit() noexcept {
    if (exited_)
      return {};
    exited_ = true;
    if (!exited_after_disconnect_)
      exited_after_disconnect_ = false;
    state_ = worker_state::dead;
    return {true, gone()};
  }

  /// The object lets go of its channel and process (destroyed, or the cluster closed): no
  /// longer connected, with no event.
  void detach() noexcept { connected_ = false; }

private:
  side side_;
  worker_state state_;
  std::optional<bool> exited_after_disconnect_;
  leaving leaving_ = leaving::no;
  bool connected_ = false;
  bool exited_ = false;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_WORKER_LIFECYCLE_HPP
