// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::js::object`: a plain JavaScript object.
#ifndef COCLUSTER_JS_OBJECT_HPP
#define COCLUSTER_JS_OBJECT_HPP

#include "cocluster/detail/v8/teardown.hpp"
#include "cocluster/detail/v8/value_access.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/property_map.hpp"
#include "cocluster/value/kind.hpp"

namespace cocluster::js {

/// A plain JavaScript object: string-keyed properties (see `property_map` for the order).
class object final : public node_base, public property_map {
public:
  /// An empty object.
  object() noexcept : node_base(value_kind::object) {}
  ~object();
};

inline object::~object() {
  auto& queue = detail::v8::teardown_queue::local();
  for (auto& e : items_)
    detail::v8::value_access::defer(queue, e.second);
  queue.drain();
}

} // namespace cocluster::js

#endif // COCLUSTER_JS_OBJECT_HPP
