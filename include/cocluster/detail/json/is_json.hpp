// SPDX-License-Identifier: MIT
/// @file
/// What cocluster takes for an nlohmann JSON type, from its public members only.
#ifndef COCLUSTER_DETAIL_JSON_IS_JSON_HPP
#define COCLUSTER_DETAIL_JSON_IS_JSON_HPP

namespace cocluster::detail {

/// A specialization of `nlohmann::basic_json` (`nlohmann::json`, `nlohmann::ordered_json`, or
/// one with the user's own types), recognised by the member types only it declares together.
/// nlohmann's own trait for this lives in `nlohmann::detail`, and the template's parameter
/// list changed in 3.11.3, so neither is named here.
template <class T>
concept nlohmann_json_type = requires {
  typename T::value_t;
  typename T::object_t;
  typename T::array_t;
  typename T::string_t;
  typename T::binary_t;
  typename T::json_pointer;
  typename T::parse_event_t;
  typename T::error_handler_t;
};

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_JSON_IS_JSON_HPP
