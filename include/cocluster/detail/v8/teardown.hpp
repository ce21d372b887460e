// SPDX-License-Identifier: MIT
/// @file
/// Iterative destruction of value graphs: a node's destructor hands its child nodes to a
/// per-thread queue instead of destroying them recursively, so that a chain of a million nested
/// objects cannot overflow the stack when it is freed.
#ifndef COCLUSTER_DETAIL_V8_TEARDOWN_HPP
#define COCLUSTER_DETAIL_V8_TEARDOWN_HPP

#include <memory>
#include <utility>
#include <vector>

namespace cocluster::js {
class node_base;
}

namespace cocluster::detail::v8 {

/// The nodes whose last owner went away while another node was being destroyed.
class teardown_queue {
public:
  /// This thread's queue.
  static teardown_queue& local() noexcept {
    thread_local teardown_queue queue;
    return queue;
  }

  /// Takes ownership of `node` to release it later from `drain`. If the queue cannot grow, the
  /// node is released at once (recursively), which is what would happen without the queue.
  void defer(std::shared_ptr<js::node_base>&& node) noexcept {
    try {
      pending_.push_back(std::move(node));
    } catch (...) {
      node.reset();
    }
  }

  /// Releases queued nodes until none is left, unless an outer call is already doing so.
  void drain() noexcept {
    if (draining_)
      return;
    draining_ = true;
    while (!pending_.empty()) {
      std::shared_ptr<js::node_base> next = std::move(pending_.back());
      pending_.pop_back();
      next.reset(); // may defer more nodes
    }
    draining_ = false;
  }

private:
  std::vector<std::shared_ptr<js::node_base>> pending_;
  bool draining_ = false;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_TEARDOWN_HPP
