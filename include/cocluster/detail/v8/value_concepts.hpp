// SPDX-License-Identifier: MIT
/// @file
/// The concepts that say what `cocluster::value` can be built from: its own constructors' types,
/// types with a `to_value` hook, and types only nlohmann::json converts.
#ifndef COCLUSTER_DETAIL_V8_VALUE_CONCEPTS_HPP
#define COCLUSTER_DETAIL_V8_VALUE_CONCEPTS_HPP

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "cocluster/js/bigint.hpp"

namespace cocluster {
class value;
} // namespace cocluster

namespace cocluster::detail::v8 {

/// Types that `value` constructs from directly (its own constructors).
template <class T>
concept native_value = std::same_as<T, bool> || std::is_arithmetic_v<T> ||
                       std::same_as<T, std::nullptr_t> || std::same_as<T, std::string> ||
                       std::same_as<T, std::string_view> || std::same_as<T, const char*> ||
                       std::same_as<T, char*> || std::same_as<T, js::bigint> ||
                       std::same_as<T, std::u16string> || std::same_as<T, std::u16string_view>;

/// Types with a `to_value(value&, const T&)` found by argument-dependent lookup (the library's
/// own overloads for standard types are in namespace `cocluster`).
template <class T>
concept has_to_value = requires(value& v, const T& x) { to_value(v, x); };

/// Class types that only nlohmann::json knows how to convert (a `to_json`): they go through
/// JSON.
template <class T>
concept has_json_only = std::is_class_v<T> && !has_to_value<T> &&
                        requires(nlohmann::json& j, const T& x) {
                          nlohmann::adl_serializer<T>::to_json(j, x);
                        };

/// Types `value` can be built from.
template <class T>
concept convertible_to_value = native_value<T> || has_to_value<T> || has_json_only<T>;

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_VALUE_CONCEPTS_HPP
