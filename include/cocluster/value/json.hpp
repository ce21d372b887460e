// SPDX-License-Identifier: MIT
/// @file
/// Conversions between `cocluster::value` and nlohmann::json: `value::from_json`,
/// `value::to_json`, and the hook that lets nlohmann::json convert a value.
///
/// JSON to value: null, booleans, strings, arrays and objects map one to one (object keys in
/// JavaScript order); integers that fit in int32, and integral floats in int32 range other
/// than -0, become int32 numbers (what `JSON.parse` gives V8), other numbers doubles; binary
/// becomes a Buffer; a discarded value becomes `undefined`. Nesting beyond `max_nesting` throws
/// `value_error`.
///
/// Value to JSON (`value::to_json`), which never throws for any graph:
/// - `undefined` and holes: dropped from objects (as `JSON.stringify` does), `null` elsewhere;
/// - numbers: integers when integral and within +-2^53 (except -0), NaN and infinities `null`;
/// - BigInt: an integer when it fits 64 bits, else a string (decimal up to 4096 bits, `0x` hex
///   beyond);
/// - strings: UTF-8, with each lone surrogate replaced by U+FFFD;
/// - arrays: holes become `null`, named properties are dropped; an array with more than 1024
///   holes and more holes than elements becomes an object keyed by index instead (spelling out
///   the holes of `a[4294967294] = 1` would take 4 G elements);
/// - Map: an array of `[key, value]` pairs; Set: an array;
/// - Date: its ISO string (`null` when invalid); RegExp: `{"source", "flags"}`;
/// - Buffer: `{"type": "Buffer", "data": [bytes]}` (Node's `Buffer.toJSON`); ArrayBuffer and
///   DataView: the same with `"ArrayBuffer"`/`"DataView"`; other typed arrays: arrays of their
///   elements;
/// - Error: `{"name", "message", "stack", "cause"}` (those present);
/// - a node met again on the path that leads to it (a cycle) becomes `null`, and so does
///   anything deeper than `max_nesting`; a node shared by several branches is copied into each,
///   but copies of repeats are budgeted (about 2^20 JSON values, strings counted by 16 bytes),
///   after which repeats become `null`: a small message whose nodes repeat cannot blow up.
#ifndef COCLUSTER_VALUE_JSON_HPP
#define COCLUSTER_VALUE_JSON_HPP

#include <concepts>

#include <nlohmann/json.hpp>

#include "cocluster/detail/json/is_json.hpp"
#include "cocluster/detail/v8/value_json.hpp"
#include "cocluster/value/definitions.hpp"
#include "cocluster/value/value.hpp"

namespace cocluster {

template <class BasicJson>
value value::from_json(const BasicJson& json) {
  return detail::v8::value_from_json(json, 0);
}

template <class BasicJson>
BasicJson value::to_json() const {
  return detail::v8::json_builder<BasicJson>().convert(*this, 0);
}

/// nlohmann::json's hook: `nlohmann::json j = v;` converts with `value::to_json`. (There is
/// deliberately no `from_json(const json&, value&)`: it would make `value v = json(...)`
/// ambiguous. Write `value v = j;` or `value::from_json(j)` rather than `j.get<value>()`.)
/// @param json the JSON value written: replaced by `v` as `value::to_json` converts it.
/// @param v the value converted.
template <class BasicJson, class V>
  requires(detail::nlohmann_json_type<BasicJson> && std::same_as<V, value>)
void to_json(BasicJson& json, const V& v) {
  json = v.template to_json<BasicJson>();
}

} // namespace cocluster

#endif // COCLUSTER_VALUE_JSON_HPP
