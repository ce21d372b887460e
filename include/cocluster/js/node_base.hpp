// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::node_base`, the common part of the node classes (object-like values), and
/// the names of the node classes, which have a header each beside this one.
#ifndef COCLUSTER_JS_NODE_BASE_HPP
#define COCLUSTER_JS_NODE_BASE_HPP

#include "cocluster/value/kind.hpp"

namespace cocluster::detail::v8 {
struct value_access;
struct node_access;
} // namespace cocluster::detail::v8

/// Node classes and JavaScript helper types used by `value`.
namespace cocluster::js {

/// The common part of every node (object-like value): its kind. Nodes are not copyable; use
/// `value::clone()` to copy a graph.
class node_base {
public:
  /// The kind of value this node is.
  /// @return the kind given at construction (`value_kind::array` for a `js::array`, ...); it
  ///   never changes.
  value_kind kind() const noexcept { return kind_; }
  node_base(const node_base&) = delete;
  node_base& operator=(const node_base&) = delete;

protected:
  /// A node of kind `kind`.
  /// @param kind the kind this node's class stands for, set by each node class.
  explicit node_base(value_kind kind) noexcept : kind_(kind) {}
  ~node_base() = default;

private:
  value_kind kind_;
  // Set once a weak reference to this node exists: the encoder must then track its identity
  // even when only one strong owner is left.
  mutable bool weak_target_ = false;
  friend struct cocluster::detail::v8::value_access;
};

class property_map;
class object;
class array;
class map;
class set;
class date;
class regexp;
class array_buffer;
class typed_array;
class error;

} // namespace cocluster::js

#endif // COCLUSTER_JS_NODE_BASE_HPP
