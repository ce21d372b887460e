// SPDX-License-Identifier: MIT
/// @file
/// `reload_plan`: the decisions of a rolling reload. Which workers are replaced next, a batch at
/// a time; when a batch's replacements are all ready, which old workers are retired; and when a
/// replacement fails, the roll back to the previous release. `change_queue` merges the reloads
/// asked for while one runs. Pure: the supervisor forks, retires and kills as told.
#ifndef COCLUSTER_SUPERVISION_RELOAD_PLAN_HPP
#define COCLUSTER_SUPERVISION_RELOAD_PLAN_HPP

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cocluster {

/// One member of the pool as the reload plan sees it.
struct reload_member {
  /// The worker's id.
  int id = 0;
  /// The number of the release it runs.
  int generation = 0;
  /// The id of the worker it replaces (0: none).
  int replaces = 0;
  /// Whether it was retired.
  bool retiring = false;
  /// Whether it is ready.
  bool ready = false;
};

/// What the supervisor does at one step of a reload.
struct reload_step {
  /// Replacements whose batch is ready: each is a plain member from now on.
  std::vector<int> completed;
  /// The old workers to retire now, each with its ready replacement: (replacement, old).
  std::vector<std::pair<int, int>> retire;
  /// The workers to replace next: one replacement each, forked into its slot.
  std::vector<int> replace;
  /// Whether the reload is over (every worker runs the plan's release).
  bool finished = false;
  /// Whether the batch in flight is still booting: nothing to do until it is ready.
  bool waiting = false;
};

/// What the supervisor does when a replacement failed before it was ready.
struct reload_failure_step {
  /// The batch's other replacements, to kill (their old workers serve on).
  std::vector<int> kill;
  /// Whether the reload rolls back: forks get the previous release from now on, and every
  /// worker already replaced is replaced again by it.
  bool roll_back = false;
  /// Whether the reload is over, failed (the rollback failed too).
  bool finished = false;
};

/// The rollout of one release over the pool, `batch_size` workers at a time.
class reload_plan {
public:
  /// A plan with nothing forked yet: its first `next` picks the first batch.
  /// @param previous_generation the release the pool ran before (the one to roll back to)
  /// @param target_generation the release to roll out
  /// @param batch_size how many workers are replaced at once (0 counts as 1)
  reload_plan(int previous_generation, int target_generation, std::size_t batch_size) noexcept
      : previous_(previous_generation), target_(target_generation),
        batch_size_(std::max<std::size_t>(batch_size, 1)) {}

  /// The release forks get now: the target, or the previous one once rolling back.
  /// @return a generation number given at construction.
  int generation() const noexcept { return rolling_back_ ? previous_ : target_; }

  /// Whether the plan is rolling back after a failed replacement.
  /// @return true from the first `replacement_failed` on.
  bool rolling_back() const noexcept { return rolling_back_; }

  /// The failure that stopped the rollout, in words (empty while none did).
  /// @return the first failure's words, with "; the rollback failed too: ..." after a second.
  const std::string& failure() const noexcept { return failure_; }

  /// The replacements forked and not yet retired into plain members.
  /// @return their ids, in the order `forked` was called.
  const std::vector<int>& batch() const noexcept { return batch_; }

  /// The next step, given the pool's members (oldest first).
  /// @param members every member of the pool, retired ones included
  /// @return `waiting` while a replacement of the batch is not ready; otherwise the batch
  ///         completed (with the old workers to retire) and the next workers to replace, at most
  ///         `batch_size` members of another release, or `finished` when there is none
  reload_step next(std::vector<reload_member> members) {
    reload_step step;
    for (int id : batch_)
      if (const auto* m = find(members, id); m && !m->ready) {
        step.waiting = true;
        return step;
      }
    for (int id : batch_) {
      auto* replacement = find(members, id);
      if (!replacement)
        continue; // gone already
      auto* old = find(members, replacement->replaces);
      if (old && !old->retiring) {
        step.retire.emplace_back(id, old->id);
        old->retiring = true;
      }
      step.completed.push_back(id);
      replacement->replaces = 0;
    }
    batch_.clear();
    for (const auto& m : members)
      if (!m.retiring && m.replaces == 0 && m.generation != generation() &&
          step.replace.size() < batch_size_)
        step.replace.push_back(m.id);
    step.finished = step.replace.empty();
    return step;
  }

  /// The supervisor forked `replacement` for one of the step's `replace`.
  /// @param replacement the new worker's id
  void forked(int replacement) { batch_.push_back(replacement); }

  /// A replacement of the batch failed before it was ready.
  /// @param replacement its id
  /// @param what the failure in words ("worker 4 (pid 123) code 1 before it was ready")
  /// @return the batch's other replacements to kill, and either `roll_back` (the first failure:
  ///         `generation()` is now the previous release) or `finished` (the rollback failed)
  reload_failure_step replacement_failed(int replacement, const std::string& what) {
    reload_failure_step step;
    for (int id : batch_)
      if (id != replacement)
        step.kill.push_back(id);
    batch_.clear();
    if (rolling_back_) {
      failure_ += "; the rollback failed too: " + what;
      step.finished = true;
      return step;
    }
    failure_ = what;
    rolling_back_ = true;
    step.roll_back = true;
    return step;
  }

private:
  static reload_member* find(std::vector<reload_member>& members, int id) {
    for (auto& m : members)
      if (m.id == id)
        return &m;
    return nullptr;
  }

  int previous_ = 0;
  int target_ = 0;
  std::size_t batch_size_ = 1;
  std::vector<int> batch_;
  std::string failure_;
  bool rolling_back_ = false;
};

/// The changes of the reloads asked for while one runs: they run as one reload after it, with
/// every change asked for (a later change of the same setting wins).
/// @tparam Changes a release's settings, with `Changes merged_with(const Changes&) const`
template <class Changes>
class change_queue {
public:
  /// Queues `changes` over those already queued.
  /// @param changes the settings a reload asked for
  void add(const Changes& changes) { queued_ = queued_ ? queued_->merged_with(changes) : changes; }

  /// Whether nothing is queued.
  /// @return true before any `add` and after `take` or `clear`.
  bool empty() const noexcept { return !queued_.has_value(); }

  /// The merged changes, and the queue emptied (empty changes when none were queued).
  /// @return every queued change merged in the order added; `Changes{}` when none.
  Changes take() {
    Changes changes = queued_ ? std::move(*queued_) : Changes{};
    queued_.reset();
    return changes;
  }

  /// Forgets what is queued.
  void clear() noexcept { queued_.reset(); }

private:
  std::optional<Changes> queued_;
};

} // namespace cocluster

#endif // COCLUSTER_SUPERVISION_RELOAD_PLAN_HPP
