// SPDX-License-Identifier: MIT
/// @file
/// Work deferred to the end of the handler that is running: cheaper than a post, and still
/// never inside the caller.
#ifndef COCLUSTER_DETAIL_ASYNC_HANDLER_TURN_HPP
#define COCLUSTER_DETAIL_ASYNC_HANDLER_TURN_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "cocluster/config.hpp"

namespace cocluster::detail {

/// A piece of deferred work: run it at the end of the turn, or post it instead. `run` and
/// `post` consume the object: each frees it (with `destroy`) before it calls or posts what it
/// holds, so memory allocated for a completion handler is released before the handler runs,
/// as Asio requires, even when that handler throws. Owners that neither run nor post a piece
/// free it with `deleter`.
class deferred_work {
public:
  /// Runs the work now (at the end of a turn, in the thread that runs the turn) and frees
  /// this object.
  virtual void run() = 0;
  /// Posts the work to its executor instead of running it, and frees this object.
  virtual void post() = 0;
  /// Frees this object without running the work.
  virtual void destroy() noexcept { delete this; }

  /// Frees a piece through `destroy`, for owning pointers.
  struct deleter {
    /// Frees `work`.
    void operator()(deferred_work* work) const noexcept { work->destroy(); }
  };

protected:
  deferred_work() = default;
  deferred_work(const deferred_work&) = delete;
  deferred_work& operator=(const deferred_work&) = delete;
  virtual ~deferred_work() = default;
};

/// Owns a piece of deferred work until it is run, posted or dropped.
using deferred_work_ptr = std::unique_ptr<deferred_work, deferred_work::deleter>;

/// A handler's turn: from the moment the I/O that woke a handler is done until the handler
/// returns. The library's own I/O handlers (the IPC channel's reads and writes, the round-robin
/// accept loop) open one; completions and writes that arise while it is open are kept and run,
/// in order, when it finishes, instead of being posted one by one. Where no turn is open
/// (a timer, the user's own code), `defer` posts as before.
///
/// A completion deferred this way still never runs inside the function that initiated it or
/// inside `send()`: it runs after the library's handler has left every internal state
/// consistent. A turn runs at most `max_inline` pieces of work; the rest are posted in order,
/// so that a coroutine whose operations all complete at once cannot starve the reactor.
class handler_turn {
public:
  /// The most pieces of work one turn runs before posting the rest.
  static constexpr std::size_t max_inline = 256;

  /// Opens a turn on this thread unless one is already open (then this object does nothing).
  handler_turn() noexcept : owner_(current() == nullptr) {
    if (owner_) {
      current() = &pending();
      ran() = 0;
      ++serial();
    }
  }

  handler_turn(const handler_turn&) = delete;
  handler_turn& operator=(const handler_turn&) = delete;

  /// Posts whatever is left (after an exception, or when `finish` was not called).
  ~handler_turn() {
    if (owner_)
      post_rest(0);
  }

  /// Runs the deferred work in order, including work deferred while running it, and closes the
  /// turn. Call it last in the handler. If a piece of work throws, the rest is posted and the
  /// exception goes on.
  void finish() {
    if (!owner_)
      return;
    run_pending();
    post_rest(0);
    owner_ = false;
  }

  /// Runs the work deferred so far, at a point of the handler where its state is consistent;
  /// the turn stays open. (A reader that delivers a batch lets its consumers run before it reads
  /// the next one.)
  static void run_pending() {
    auto* open = current();
    if (open == nullptr)
      return;
    auto& work = *open;
    std::size_t i = 0;
    for (; i < work.size() && ran() < max_inline; ++i, ++ran()) {
      deferred_work* piece = work[i].release(); // run() frees it
      try {
        piece->run();
      } catch (...) {
        work.erase(work.begin(), work.begin() + static_cast<std::ptrdiff_t>(i + 1));
        throw;
      }
    }
    work.erase(work.begin(), work.begin() + static_cast<std::ptrdiff_t>(i));
  }

  /// Takes `work` for the end of the current turn; without one, posts it.
  static void defer(deferred_work_ptr work) {
    if (auto* open = current())
      open->push_back(std::move(work));
    else
      work.release()->post(); // post() frees it
  }

  /// True while a turn is open on this thread.
  static bool is_open() noexcept { return current() != nullptr; }

  /// A number that differs for every turn opened on this thread (0 before the first): lets an
  /// object do something once per turn.
  static std::uint64_t current_serial() noexcept { return serial(); }

private:
  using work_list = std::vector<deferred_work_ptr>;

  static work_list*& current() noexcept {
    static thread_local work_list* open = nullptr;
    return open;
  }

  static work_list& pending() {
    static thread_local work_list list;
    return list;
  }

  static std::uint64_t& serial() noexcept {
    static thread_local std::uint64_t count = 0;
    return count;
  }

  // Pieces this turn has run.
  static std::size_t& ran() noexcept {
    static thread_local std::size_t count = 0;
    return count;
  }

  // Closes the turn and posts the work from `first` on (new deferrals post directly).
  void post_rest(std::size_t first) {
    current() = nullptr;
    auto& work = pending();
    for (std::size_t i = first; i < work.size(); ++i)
      if (work[i])
        work[i].release()->post(); // post() frees it
    work.clear();
  }

  bool owner_;
};

/// Runs `function` (a `void()` callable) at the end of the current turn, or posts it to
/// `executor` when no turn is open.
template <class Function>
void defer_to_turn_end(const asio::any_io_executor& executor, Function&& function) {
  struct work final : deferred_work {
    work(const asio::any_io_executor& ex, Function&& f)
        : executor(ex), function(std::forward<Function>(f)) {}
    void run() override {
      auto f = std::move(function);
      destroy();
      f();
    }
    void post() override {
      auto ex = std::move(executor);
      auto f = std::move(function);
      destroy();
      asio::post(ex, std::move(f));
    }
    asio::any_io_executor executor;
    std::decay_t<Function> function;
  };
  if (!handler_turn::is_open())
    return asio::post(executor, std::forward<Function>(function));
  handler_turn::defer(deferred_work_ptr(new work(executor, std::forward<Function>(function))));
}

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_ASYNC_HANDLER_TURN_HPP
