// SPDX-License-Identifier: MIT
/// @file
/// The conversions between `cocluster::value` and nlohmann::json behind `value::from_json` and
/// `value::to_json` (`value_from_json`, `json_builder`); the mapping is documented in
/// `cocluster/value/json.hpp`.
#ifndef COCLUSTER_DETAIL_V8_VALUE_JSON_HPP
#define COCLUSTER_DETAIL_V8_VALUE_JSON_HPP

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cocluster/detail/v8/limits.hpp"
#include "cocluster/detail/v8/node_access.hpp"
#include "cocluster/detail/v8/number_text.hpp"
#include "cocluster/detail/v8/wtf8.hpp"
#include "cocluster/js/array.hpp"
#include "cocluster/js/array_buffer.hpp"
#include "cocluster/js/bigint.hpp"
#include "cocluster/js/date.hpp"
#include "cocluster/js/error.hpp"
#include "cocluster/js/map.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/object.hpp"
#include "cocluster/js/property_map.hpp"
#include "cocluster/js/regexp.hpp"
#include "cocluster/js/set.hpp"
#include "cocluster/js/typed_array.hpp"
#include "cocluster/js/typed_array_kind.hpp"
#include "cocluster/value/error.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster::detail::v8 {

/// Builds a value from JSON.
template <class BasicJson>
value value_from_json(const BasicJson& j, std::size_t depth) {
  using type = nlohmann::json::value_t;
  switch (j.type()) {
  case type::null: return nullptr;
  case type::boolean: return j.template get<bool>();
  case type::number_integer: return value(j.template get<std::int64_t>());
  case type::number_unsigned: return value(j.template get<std::uint64_t>());
  case type::number_float: {
    const double d = j.template get<double>();
    if (d >= -2147483648.0 && d <= 2147483647.0 && std::trunc(d) == d &&
        !(d == 0 && std::signbit(d)))
      return value(static_cast<std::int32_t>(d));
    return value(d);
  }
  case type::string: return value(j.template get_ref<const std::string&>());
  case type::binary: {
    const auto& bytes = j.get_binary();
    return value::buffer(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
  }
  case type::array: {
    if (depth >= max_nesting)
      throw value_error("cocluster::value::from_json: nesting deeper than " +
                        std::to_string(max_nesting));
    std::vector<value> items;
    items.reserve(j.size());
    for (const auto& item : j)
      items.push_back(value_from_json(item, depth + 1));
    return value::array(std::move(items));
  }
  case type::object: {
    if (depth >= max_nesting)
      throw value_error("cocluster::value::from_json: nesting deeper than " +
                        std::to_string(max_nesting));
    auto node = std::make_shared<js::object>();
    auto& entries = node_access::entries(*node);
    entries.reserve(j.size());
    // JSON keys are unique: place index keys first, by index, and keep the others in order.
    std::vector<std::pair<std::uint32_t, const std::string*>> indices;
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::uint32_t index = 0;
      if (parse_array_index(it.key(), index))
        indices.emplace_back(index, &it.key());
    }
    std::sort(indices.begin(), indices.end());
    for (const auto& [index, key] : indices)
      entries.emplace_back(*key, value_from_json(j.at(*key), depth + 1));
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!is_array_index(it.key()))
        entries.emplace_back(it.key(), value_from_json(it.value(), depth + 1));
    return node_access::strong(std::move(node));
  }
  case type::discarded: return value();
  }
  return value();
}

/// Converts values to JSON (see the file comment for the mapping).
template <class BasicJson>
class json_builder {
public:
  /// The JSON form of `v` at nesting `depth`.
  BasicJson convert(const value& v, std::size_t depth) {
    if (!charge(1))
      return nullptr;
    switch (v.kind()) {
    case value_kind::undefined:
    case value_kind::null:
    case value_kind::hole: return nullptr;
    case value_kind::boolean: return v.as_bool();
    case value_kind::int32: return static_cast<std::int64_t>(v.as_int32());
    case value_kind::number: return number(v.as_double());
    case value_kind::bigint: return bigint(v.as_bigint());
    case value_kind::string:
      return charge(v.as_string().size() / 16) ? text(v.as_string()) : BasicJson(nullptr);
    default: break;
    }
    const js::node_base* n = node_access::node(v);
    if (depth >= max_nesting || on_path_.count(n) != 0)
      return nullptr;
    const bool repeat = !seen_.insert(n).second;
    if (repeat && repeat_budget_ == 0)
      return nullptr;
    repeat_level_ += repeat ? 1 : 0;
    on_path_.insert(n);
    BasicJson result = convert_node(*n, depth + 1);
    on_path_.erase(n);
    repeat_level_ -= repeat ? 1 : 0;
    return result;
  }

private:
  // Spends `units` of the repeat budget while converting a repeated node; false when spent.
  bool charge(std::size_t units) noexcept {
    if (repeat_level_ == 0)
      return true;
    if (units > repeat_budget_) {
      repeat_budget_ = 0;
      return false;
    }
    repeat_budget_ -= units;
    return true;
  }

  static BasicJson number(double d) {
    if (!std::isfinite(d))
      return nullptr;
    if (std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0 && !(d == 0 && std::signbit(d)))
      return static_cast<std::int64_t>(d);
    return d;
  }

  static BasicJson bigint(const js::bigint& b) {
    if (const auto i = b.to_int64())
      return *i;
    if (const auto u = b.to_uint64())
      return *u;
    return b.to_string(b.magnitude().size() <= 64 ? 10 : 16);
  }

  static BasicJson text(const std::string& s) {
    if (all_ascii(s.data(), s.size()))
      return s;
    return utf8_from_wtf8(s);
  }

  BasicJson bytes_object(const char* type, const std::vector<std::uint8_t>& bytes) {
    if (!charge(bytes.size()))
      return nullptr;
    BasicJson data = BasicJson::array();
    for (const auto b : bytes)
      data.push_back(b);
    BasicJson result = BasicJson::object();
    result["type"] = type;
    result["data"] = std::move(data);
    return result;
  }

  template <class T>
  static T element(const std::vector<std::uint8_t>& bytes, std::size_t i) {
    T x;
    std::memcpy(&x, bytes.data() + i * sizeof(T), sizeof(T));
    return x;
  }

  BasicJson elements(const js::typed_array& t) {
    const std::size_t n = t.length();
    if (!charge(n))
      return nullptr;
    BasicJson out = BasicJson::array();
    for (std::size_t i = 0; i < n; ++i) {
      switch (t.kind) {
      case js::typed_array_kind::int8: out.push_back(element<std::int8_t>(t.bytes, i)); break;
      case js::typed_array_kind::int16: out.push_back(element<std::int16_t>(t.bytes, i)); break;
      case js::typed_array_kind::uint16: out.push_back(element<std::uint16_t>(t.bytes, i)); break;
      case js::typed_array_kind::int32: out.push_back(element<std::int32_t>(t.bytes, i)); break;
      case js::typed_array_kind::uint32: out.push_back(element<std::uint32_t>(t.bytes, i)); break;
      case js::typed_array_kind::float32:
        out.push_back(number(static_cast<double>(element<float>(t.bytes, i))));
        break;
      case js::typed_array_kind::float64: out.push_back(number(element<double>(t.bytes, i))); break;
      case js::typed_array_kind::bigint64: out.push_back(element<std::int64_t>(t.bytes, i)); break;
      case js::typed_array_kind::biguint64:
        out.push_back(element<std::uint64_t>(t.bytes, i));
        break;
      default: out.push_back(t.bytes[i]); break;
      }
    }
    return out;
  }

  void add_properties(BasicJson& out, const js::property_map& properties, std::size_t depth) {
    for (const auto& [key, item] : properties) {
      const value_kind k = item.kind();
      if (k == value_kind::undefined || k == value_kind::hole || !charge(key.size() / 16))
        continue;
      out[text(key).template get<std::string>()] = convert(item, depth);
    }
  }

  BasicJson convert_node(const js::node_base& n, std::size_t depth) {
    switch (n.kind()) {
    case value_kind::object: {
      BasicJson out = BasicJson::object();
      add_properties(out, static_cast<const js::object&>(n), depth);
      return out;
    }
    case value_kind::array: {
      const auto& a = static_cast<const js::array&>(n);
      const std::size_t present = a.count();
      const std::size_t holes = a.size() - present;
      if (holes > 1024 && holes > present) {
        BasicJson out = BasicJson::object();
        a.for_each([&](std::size_t index, const value& item) {
          out[std::to_string(index)] = convert(item, depth);
        });
        return out;
      }
      BasicJson out = BasicJson::array();
      for (std::size_t i = 0; i < a.size(); ++i)
        out.push_back(convert(a[i], depth));
      return out;
    }
    case value_kind::map: {
      BasicJson out = BasicJson::array();
      for (const auto& [key, item] : static_cast<const js::map&>(n)) {
        BasicJson pair = BasicJson::array();
        pair.push_back(convert(key, depth));
        pair.push_back(convert(item, depth));
        out.push_back(std::move(pair));
      }
      return out;
    }
    case value_kind::set: {
      BasicJson out = BasicJson::array();
      for (const auto& item : static_cast<const js::set&>(n))
        out.push_back(convert(item, depth));
      return out;
    }
    case value_kind::date: {
      const auto& d = static_cast<const js::date&>(n);
      if (!d.valid())
        return nullptr;
      return d.iso_string();
    }
    case value_kind::regexp: {
      const auto& r = static_cast<const js::regexp&>(n);
      if (!charge(r.pattern.size() / 16))
        return nullptr;
      BasicJson out = BasicJson::object();
      out["source"] = text(r.pattern);
      out["flags"] = r.flags;
      return out;
    }
    case value_kind::array_buffer:
      return bytes_object("ArrayBuffer", static_cast<const js::array_buffer&>(n).bytes);
    case value_kind::typed_array: {
      const auto& t = static_cast<const js::typed_array&>(n);
      if (t.kind == js::typed_array_kind::buffer)
        return bytes_object("Buffer", t.bytes);
      if (t.kind == js::typed_array_kind::data_view)
        return bytes_object("DataView", t.bytes);
      return elements(t);
    }
    case value_kind::error: {
      const auto& e = static_cast<const js::error&>(n);
      if (!charge((e.message ? e.message->size() : 0) / 16 + (e.stack ? e.stack->size() : 0) / 16))
        return nullptr;
      BasicJson out = BasicJson::object();
      out["name"] = text(e.name);
      if (e.message)
        out["message"] = text(*e.message);
      if (e.stack)
        out["stack"] = text(*e.stack);
      if (e.cause)
        out["cause"] = convert(*e.cause, depth);
      return out;
    }
    default: return nullptr;
    }
  }

  std::unordered_set<const js::node_base*> on_path_;
  std::unordered_set<const js::node_base*> seen_;
  std::size_t repeat_budget_ = std::size_t{1} << 20;
  std::size_t repeat_level_ = 0;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_VALUE_JSON_HPP
