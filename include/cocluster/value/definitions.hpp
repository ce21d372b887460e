// SPDX-License-Identifier: MIT
/// @file
/// The members of `cocluster::value` that need the node classes complete (the factories, the
/// node accessors, subscripts, `size`, `strong`) or the graph algorithms (`clone`, `==`,
/// `to_string`). `cocluster/value.hpp` includes it after the node classes; this is what lets
/// `value` and the nodes, which hold each other, be declared without an include cycle.
#ifndef COCLUSTER_VALUE_DEFINITIONS_HPP
#define COCLUSTER_VALUE_DEFINITIONS_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "cocluster/detail/v8/iso_date.hpp"
#include "cocluster/detail/v8/value_access.hpp"
#include "cocluster/detail/v8/value_clone.hpp"
#include "cocluster/detail/v8/value_equal.hpp"
#include "cocluster/detail/v8/value_format.hpp"
#include "cocluster/js/array.hpp"
#include "cocluster/js/array_buffer.hpp"
#include "cocluster/js/date.hpp"
#include "cocluster/js/error.hpp"
#include "cocluster/js/map.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/object.hpp"
#include "cocluster/js/regexp.hpp"
#include "cocluster/js/set.hpp"
#include "cocluster/js/typed_array.hpp"
#include "cocluster/js/typed_array_kind.hpp"
#include "cocluster/value/error.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster {

inline js::object& value::as_object() const { return node_as<js::object>(value_kind::object); }

inline js::array& value::as_array() const { return node_as<js::array>(value_kind::array); }

inline js::map& value::as_map() const { return node_as<js::map>(value_kind::map); }

inline js::set& value::as_set() const { return node_as<js::set>(value_kind::set); }

inline js::date& value::as_date() const { return node_as<js::date>(value_kind::date); }

inline js::regexp& value::as_regexp() const { return node_as<js::regexp>(value_kind::regexp); }

inline js::array_buffer& value::as_array_buffer() const {
  return node_as<js::array_buffer>(value_kind::array_buffer);
}

inline js::typed_array& value::as_typed_array() const {
  return node_as<js::typed_array>(value_kind::typed_array);
}

inline js::error& value::as_error() const { return node_as<js::error>(value_kind::error); }

inline value::value(std::initializer_list<value> items) {
  bool is_object = items.size() > 0;
  for (const auto& item : items) {
    if (!item.is_array() || item.as_array().size() != 2 ||
        !std::as_const(item.as_array())[0].is_string()) {
      is_object = false;
      break;
    }
  }
  if (is_object) {
    auto node = std::make_shared<js::object>();
    for (const auto& item : items) {
      const js::array& pair = std::as_const(item.as_array());
      node->insert_or_assign(pair[0].as_string(), pair[1]);
    }
    data_ = node_ptr(std::move(node));
  } else {
    data_ = node_ptr(std::make_shared<js::array>(std::vector<value>(items)));
  }
}

inline value value::object(std::initializer_list<std::pair<std::string, value>> entries) {
  auto node = std::make_shared<js::object>();
  for (const auto& [key, item] : entries)
    node->insert_or_assign(key, item);
  return from_node(std::move(node));
}

inline value value::array(std::initializer_list<value> items) {
  return from_node(std::make_shared<js::array>(std::vector<value>(items)));
}

inline value value::array(std::vector<value> items) {
  return from_node(std::make_shared<js::array>(std::move(items)));
}

inline value value::map(std::initializer_list<std::pair<value, value>> entries) {
  auto node = std::make_shared<js::map>();
  for (const auto& [key, item] : entries)
    node->set(key, item);
  return from_node(std::move(node));
}

inline value value::set(std::initializer_list<value> items) {
  auto node = std::make_shared<js::set>();
  for (const auto& item : items)
    node->add(item);
  return from_node(std::move(node));
}

inline value value::date(double time) {
  return from_node(std::make_shared<js::date>(detail::v8::time_clip(time)));
}

inline value value::date(std::chrono::system_clock::time_point time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  return date(static_cast<double>(ms));
}

inline value value::regexp(std::string pattern, std::string flags) {
  return from_node(std::make_shared<js::regexp>(std::move(pattern), std::move(flags)));
}

inline value value::array_buffer(std::vector<std::uint8_t> bytes) {
  return from_node(std::make_shared<js::array_buffer>(std::move(bytes)));
}

inline value value::typed_array(js::typed_array_kind kind, std::vector<std::uint8_t> bytes) {
  return from_node(std::make_shared<js::typed_array>(kind, std::move(bytes)));
}

inline value value::buffer(std::vector<std::uint8_t> bytes) {
  return typed_array(js::typed_array_kind::buffer, std::move(bytes));
}

inline value value::buffer(std::string_view bytes) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  return buffer(std::vector<std::uint8_t>(p, p + bytes.size()));
}

inline value value::error(std::string message, std::string name) {
  auto node = std::make_shared<js::error>(std::move(name));
  node->message = std::move(message);
  return from_node(std::move(node));
}

inline value value::weak_ref(const value& target) {
  node_ptr node = detail::v8::value_access::share(target);
  if (!node)
    throw value_error("cocluster::value: weak_ref needs an object-like value, got " +
                      std::string(kind_name(target.kind())));
  return detail::v8::value_access::weak(node);
}

inline bool value::is_buffer() const noexcept {
  return is_typed_array() && as_typed_array().kind == js::typed_array_kind::buffer;
}

inline value& value::operator[](std::string_view key) {
  if (std::holds_alternative<undefined_t>(data_))
    data_ = node_ptr(std::make_shared<js::object>());
  return as_object()[key];
}

namespace detail::v8 {
/// A shared `undefined` to return by reference.
inline const value& undefined_value() noexcept {
  static const value instance;
  return instance;
}
} // namespace detail::v8

inline const value& value::operator[](std::string_view key) const noexcept {
  const js::node_base* n = node();
  if (n != nullptr && n->kind() == value_kind::object)
    if (const value* v = static_cast<const js::object*>(n)->find(key))
      return *v;
  if (n != nullptr && n->kind() == value_kind::array)
    if (const value* v = static_cast<const js::array*>(n)->properties().find(key))
      return *v;
  return detail::v8::undefined_value();
}

inline value& value::operator[](std::size_t index) {
  if (std::holds_alternative<undefined_t>(data_))
    data_ = node_ptr(std::make_shared<js::array>());
  return as_array()[index];
}

inline const value& value::operator[](std::size_t index) const noexcept {
  const js::node_base* n = node();
  if (n != nullptr && n->kind() == value_kind::array)
    return (*static_cast<const js::array*>(n))[index];
  return detail::v8::undefined_value();
}

inline value* value::find(std::string_view key) const noexcept {
  js::node_base* n = node();
  if (n == nullptr || n->kind() != value_kind::object)
    return nullptr;
  return static_cast<js::object*>(n)->find(key);
}

inline std::size_t value::size() const noexcept {
  switch (kind()) {
  case value_kind::object: return as_object().size();
  case value_kind::array: return as_array().size();
  case value_kind::map: return as_map().size();
  case value_kind::set: return as_set().size();
  case value_kind::string: return std::get<std::string>(data_).size();
  case value_kind::array_buffer: return as_array_buffer().bytes.size();
  case value_kind::typed_array: return as_typed_array().length();
  default: return 0;
  }
}

inline void value::push_back(value item) {
  if (std::holds_alternative<undefined_t>(data_))
    data_ = node_ptr(std::make_shared<js::array>());
  as_array().push_back(std::move(item));
}

inline value value::strong() const {
  if (!is_weak())
    return *this;
  node_ptr node = detail::v8::value_access::share(*this);
  return node ? from_node(std::move(node)) : value();
}

inline value value::clone() const {
  detail::v8::graph_cloner cloner;
  value root = cloner.copy(strong());
  cloner.run();
  return root;
}

/// Deep equality (declared as a friend of `value`, which describes it).
inline bool operator==(const value& a, const value& b) {
  return detail::v8::graph_comparer().equal(a, b);
}

inline std::string value::to_string() const {
  detail::v8::value_formatter formatter;
  formatter.write(*this);
  return formatter.take();
}

} // namespace cocluster

#endif // COCLUSTER_VALUE_DEFINITIONS_HPP
