// SPDX-License-Identifier: MIT
/// @file
/// The copy behind `value::clone()`: a deep copy of a value graph that keeps sharing, cycles and
/// weak back-references, without recursion. Included by `cocluster/value/definitions.hpp`.
#ifndef COCLUSTER_DETAIL_V8_VALUE_CLONE_HPP
#define COCLUSTER_DETAIL_V8_VALUE_CLONE_HPP

#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cocluster/detail/v8/node_access.hpp"
#include "cocluster/js/array.hpp"
#include "cocluster/js/array_buffer.hpp"
#include "cocluster/js/date.hpp"
#include "cocluster/js/error.hpp"
#include "cocluster/js/map.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/object.hpp"
#include "cocluster/js/property_map.hpp"
#include "cocluster/js/regexp.hpp"
#include "cocluster/js/set.hpp"
#include "cocluster/js/typed_array.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::detail::v8 {

/// Copies nodes breadth-first: each node is created empty on first sight, queued, and filled
/// when it leaves the queue.
class graph_cloner {
public:
  /// The copy of `v` (primitives are copied as they are).
  value copy(const value& v) {
    js::node_base* source = node_access::node(v);
    if (source == nullptr)
      return v.is_weak() ? value() : v; // a primitive, or a weak reference whose target is gone
    auto it = copies_.find(source);
    if (it == copies_.end()) {
      it = copies_.emplace(source, make_empty(*source)).first;
      work_.emplace_back(source, it->second.get());
    }
    return v.is_weak() ? node_access::weak(it->second) : node_access::strong(it->second);
  }

  /// Fills every queued node.
  void run() {
    while (!work_.empty()) {
      const auto [source, target] = work_.back();
      work_.pop_back();
      fill(*source, *target);
    }
  }

private:
  using node_ptr = std::shared_ptr<js::node_base>;

  static node_ptr make_empty(const js::node_base& source) {
    switch (source.kind()) {
    case value_kind::object: return std::make_shared<js::object>();
    case value_kind::array: return std::make_shared<js::array>();
    case value_kind::map: return std::make_shared<js::map>();
    case value_kind::set: return std::make_shared<js::set>();
    case value_kind::date:
      return std::make_shared<js::date>(static_cast<const js::date&>(source).time);
    case value_kind::regexp: {
      const auto& r = static_cast<const js::regexp&>(source);
      return std::make_shared<js::regexp>(r.pattern, r.flags);
    }
    case value_kind::array_buffer: {
      const auto& b = static_cast<const js::array_buffer&>(source);
      auto copy = std::make_shared<js::array_buffer>(b.bytes);
      copy->max_byte_length = b.max_byte_length;
      return copy;
    }
    case value_kind::typed_array: {
      const auto& t = static_cast<const js::typed_array&>(source);
      return std::make_shared<js::typed_array>(t.kind, t.bytes);
    }
    case value_kind::error: {
      const auto& e = static_cast<const js::error&>(source);
      auto copy = std::make_shared<js::error>(e.name);
      copy->message = e.message;
      copy->stack = e.stack;
      return copy;
    }
    default: return std::make_shared<js::object>();
    }
  }

  void fill_properties(js::property_map& source, js::property_map& target) {
    auto& from = node_access::entries(source);
    auto& to = node_access::entries(target);
    to.reserve(from.size());
    for (auto& [key, item] : from)
      to.emplace_back(key, copy(item));
  }

  void fill(js::node_base& source, js::node_base& target) {
    switch (source.kind()) {
    case value_kind::object:
      fill_properties(static_cast<js::object&>(source), static_cast<js::object&>(target));
      break;
    case value_kind::array: {
      auto& from = static_cast<js::array&>(source);
      auto& to = static_cast<js::array&>(target);
      auto& items = node_access::items(to);
      items.reserve(node_access::items(from).size());
      for (const auto& item : node_access::items(from))
        items.push_back(copy(item));
      for (const auto& [index, item] : node_access::far(from))
        node_access::far(to).emplace(index, copy(item));
      node_access::set_length(to, static_cast<std::uint32_t>(from.size()));
      fill_properties(from.properties(), to.properties());
      break;
    }
    case value_kind::map: {
      auto& from = node_access::entries(static_cast<js::map&>(source));
      auto& to = node_access::entries(static_cast<js::map&>(target));
      to.reserve(from.size());
      for (const auto& [key, item] : from)
        to.emplace_back(copy(key), copy(item));
      break;
    }
    case value_kind::set: {
      auto& from = node_access::items(static_cast<js::set&>(source));
      auto& to = node_access::items(static_cast<js::set&>(target));
      to.reserve(from.size());
      for (const auto& item : from)
        to.push_back(copy(item));
      break;
    }
    case value_kind::error: {
      auto& from = static_cast<js::error&>(source);
      if (from.cause)
        static_cast<js::error&>(target).cause = copy(*from.cause);
      break;
    }
    default: break;
    }
  }

  std::unordered_map<const js::node_base*, node_ptr> copies_;
  std::vector<std::pair<js::node_base*, js::node_base*>> work_;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_VALUE_CLONE_HPP
