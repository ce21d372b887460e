// SPDX-License-Identifier: MIT
/// @file
/// `member_state`: what a supervisor knows of one worker of its pool (its slot, release, boot,
/// replacement and failure), and the decisions made on it: when it is ready, when its boot
/// timeout kills it, whether it is hang-checked, and what its exit means. Pure: the supervisor
/// feeds it what happened and carries out what it answers.
#ifndef COCLUSTER_SUPERVISION_MEMBER_STATE_HPP
#define COCLUSTER_SUPERVISION_MEMBER_STATE_HPP

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace cocluster {

/// Why a worker is being replaced by a new one in its slot. The replacement is forked first;
/// the worker it replaces is retired only once the replacement is ready (readiness-first).
enum class replacement_reason {
  none,   ///< not a replacement: the slot's first worker, or a respawn after a failure
  reload, ///< a rolling reload to a new release
};

/// What a pool member's exit means for its slot.
enum class exit_kind {
  retired,            ///< the supervisor retired it (stop, scale down, reload, upgrade): done
  left_by_itself,     ///< ready, it disconnected itself and no failure was seen: replaced at once
  crashed,            ///< ready, it exited unexpectedly (or was killed as hung): respawned
  boot_failed,        ///< it failed before it was ever ready (exit, boot timeout): respawned
  replacement_failed, ///< a replacement failed before it was ready: the worker it replaces
                      ///< serves on, and the replacement's reason decides the rest
};

/// One pool member's state, from its fork to its exit.
class member_state {
public:
  /// The clock of the boot and heartbeat times.
  using clock = std::chrono::steady_clock;

  /// A worker forked into a slot.
  /// @param slot the slot it serves, from 0
  /// @param generation the number of the release it was forked with
  /// @param listening_needed how many servers it must listen on to be ready (for readiness by
  ///        listening; at least 1)
  /// @param replaces the id of the worker it replaces (0: none)
  /// @param reason why it replaces that worker (`replacement_reason::none` when it replaces
  ///        none)
  member_state(int slot, int generation, std::size_t listening_needed, int replaces = 0,
               replacement_reason reason = replacement_reason::none) noexcept
      : slot_(slot), generation_(generation), listening_needed_(listening_needed),
        replaces_(replaces), reason_(replaces != 0 ? reason : replacement_reason::none) {}

  /// The slot it serves.
  /// @return the slot given at the fork, from 0.
  int slot() const noexcept { return slot_; }
  /// The number of the release it was forked with.
  /// @return the generation given at the fork.
  int generation() const noexcept { return generation_; }
  /// The id of the worker it replaces (0 when it replaces none, or once the replacement is
  /// done).
  /// @return the replaced worker's id, or 0.
  int replaces() const noexcept { return replaces_; }
  /// Why it replaces `replaces()`.
  /// @return the reason given at the fork; `replacement_reason::none` when it replaces none or
  /// once `replacement_done`.
  replacement_reason reason() const noexcept { return reason_; }

  // ---- boot ----

  /// One more of its servers is listening (readiness by listening).
  /// @param now when
  /// @param alive whether the worker is still alive
  /// @return true when this made it ready
  bool listened(clock::time_point now, bool alive) noexcept {
    if (++listening_ < listening_needed_)
      return false;
    return mark_ready(now, alive);
  }

  /// It said it is ready (its ready message).
  /// @param now when
  /// @param alive whether the worker is still alive (a dead worker never gets ready)
  /// @return true when this made it ready; false when it already was, is dead, retired or failed
  bool mark_ready(clock::time_point now, bool alive) noexcept {
    if (ready_at_ || !alive || retiring_ || !failure_.empty())
      return false;
    ready_at_ = now;
    return true;
  }

  /// Whether it is ready.
  /// @return true from the `listened` or `mark_ready` that made it ready on.
  bool is_ready() const noexcept { return ready_at_.has_value(); }

  /// When it got ready (none before).
  /// @return the time passed to the call that made it ready, or `std::nullopt`.
  std::optional<clock::time_point> ready_at() const noexcept { return ready_at_; }

  /// How long it has been ready at `now` (zero for a worker that never was).
  /// @param now the time of the question
  /// @return `now - ready_at()` in whole milliseconds; zero before it was ready (or for a `now`
  ///         earlier than that).
  std::chrono::milliseconds uptime(clock::time_point now) const noexcept {
    if (!ready_at_ || now < *ready_at_)
      return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(now - *ready_at_);
  }

  /// Its boot timeout passed.
  /// @param timeout the timeout, for the failure's words
  /// @param alive whether the worker is still alive
  /// @return true when it must be killed: alive and not ready (the failure is recorded)
  bool boot_timed_out(std::chrono::milliseconds timeout, bool alive) {
    if (ready_at_ || !alive || retiring_)
      return false;
    fail("not ready within the boot timeout of " + std::to_string(timeout.count()) + " ms");
    return true;
  }

  // ---- the replacement path ----

  /// The worker it replaced was retired (or is gone): it is a plain member now.
  void replacement_done() noexcept {
    replaces_ = 0;
    reason_ = replacement_reason::none;
  }

  // ---- retirement and failure ----

  /// The supervisor retires it: it is told to leave and is not replaced.
  void retire() noexcept { retiring_ = true; }
  /// Whether it was retired.
  /// @return true from `retire` on.
  bool is_retiring() const noexcept { return retiring_; }

  /// The supervisor kills it for `why` (a boot timeout, a hang); the first reason stays.
  /// @param why the words for its exit event
  void fail(std::string why) {
    if (failure_.empty())
      failure_ = std::move(why);
  }
  /// Why the supervisor killed it (empty when it did not).
  /// @return the first `fail`'s words.
  const std::string& failure() const noexcept { return failure_; }

  // ---- heartbeats ----

  /// Heartbeats were asked of it at `since` (only cocluster workers beat).
  /// @param since when they were asked for
  void heartbeats_requested(clock::time_point since) noexcept { heartbeats_since_ = since; }
  /// When heartbeats were asked for (none: it is not hang-checked).
  /// @return the time given to `heartbeats_requested`, or `std::nullopt`.
  std::optional<clock::time_point> heartbeats_since() const noexcept { return heartbeats_since_; }

  /// Whether the hang check judges it: ready, beating, neither retired nor already failed, and
  /// alive.
  /// @param alive whether the worker is still alive
  /// @return true when a silent heartbeat may get it killed as hung.
  bool is_hang_checked(bool alive) const noexcept {
    return ready_at_ && heartbeats_since_ && !retiring_ && failure_.empty() && alive;
  }

  // ---- exit ----

  /// What its exit means.
  /// @param pool_stopping whether the pool is stopping (every exit is then expected)
  /// @param disconnected_itself whether it disconnected itself before it exited (Node's
  ///        `exitedAfterDisconnect` with no disconnect from the primary)
  /// @return `retired` when stopping or retired; else `left_by_itself`, `crashed`, or (never
  ///         ready) `replacement_failed` for a replacement and `boot_failed` for any other
  exit_kind exit_meaning(bool pool_stopping, bool disconnected_itself) const noexcept {
    if (pool_stopping || retiring_)
      return exit_kind::retired;
    if (failure_.empty() && ready_at_ && disconnected_itself)
      return exit_kind::left_by_itself;
    if (ready_at_)
      return exit_kind::crashed;
    return replaces_ != 0 ? exit_kind::replacement_failed : exit_kind::boot_failed;
  }

  /// The words for a failed exit: the supervisor's reason when it killed the worker, else the
  /// exit status, marked when the worker was never ready.
  /// @param status the exit status in words ("code 3", "signal SIGKILL")
  /// @return the failure's words, or `status`, with " before it was ready" when it never was
  std::string exit_reason(const std::string& status) const {
    if (!failure_.empty())
      return failure_;
    return ready_at_ ? status : status + " before it was ready";
  }

private:
  int slot_ = 0;
  int generation_ = 0;
  std::size_t listening_needed_ = 1;
  std::size_t listening_ = 0;
  int replaces_ = 0;
  replacement_reason reason_ = replacement_reason::none;
  std::optional<clock::time_point> ready_at_;
  bool retiring_ = false;
  std::string failure_;
  std::optional<clock::time_point> heartbeats_since_;
};

} // namespace cocluster

#endif // COCLUSTER_SUPERVISION_MEMBER_STATE_HPP
