// SPDX-License-Identifier: MIT
/// @file
/// `cocluster::value`, the dynamic value of the `cocluster::advanced` serialization (the V8
/// structured-clone data model), with its node classes and conversions: the header to include
/// for it (`cocluster.hpp` includes it too).
///
/// The model is described with the class, in `cocluster/value/value.hpp`. The pieces:
/// - `cocluster/value/`: `value_kind` (`kind.hpp`), `value_error` (`error.hpp`), the class
///   `value` (`value.hpp`), SameValueZero (`same_value_zero.hpp`), the members that need the
///   node classes (`definitions.hpp`), JSON (`json.hpp`) and C++ conversions (`convert.hpp`);
/// - `cocluster/js/`: `js::bigint`, `js::typed_array_kind`, and the node classes, a header each
///   (`js::object`, `js::array`, `js::map`, `js::set`, `js::date`, `js::regexp`,
///   `js::array_buffer`, `js::typed_array`, `js::error`, and their bases `js::node_base`,
///   `js::ordered_items`, `js::property_map`).
///
/// `value` and the nodes hold each other, so they are declared in order (the class, then the
/// nodes) and the members of `value` that need complete nodes are defined last, in
/// `definitions.hpp`: no header includes another in a cycle.
#ifndef COCLUSTER_VALUE_HPP
#define COCLUSTER_VALUE_HPP

#include "cocluster/js/bigint.hpp"
#include "cocluster/js/node_base.hpp"
#include "cocluster/js/typed_array_kind.hpp"
#include "cocluster/value/error.hpp"
#include "cocluster/value/kind.hpp"
#include "cocluster/value/value.hpp"

#include "cocluster/js/array.hpp"
#include "cocluster/js/array_buffer.hpp"
#include "cocluster/js/date.hpp"
#include "cocluster/js/error.hpp"
#include "cocluster/js/map.hpp"
#include "cocluster/js/object.hpp"
#include "cocluster/js/ordered_items.hpp"
#include "cocluster/js/property_map.hpp"
#include "cocluster/js/regexp.hpp"
#include "cocluster/js/set.hpp"
#include "cocluster/js/typed_array.hpp"
#include "cocluster/value/same_value_zero.hpp"

// Last: what needs the whole graph of types.
#include "cocluster/value/definitions.hpp"

#include "cocluster/value/json.hpp"

#include "cocluster/value/convert.hpp"

#endif // COCLUSTER_VALUE_HPP
