// The serializations every lifecycle test runs under, and the worker-side dispatch to the one
// the primary chose (NODE_CHANNEL_SERIALIZATION_MODE).
#ifndef COCLUSTER_TESTS_SUPPORT_SERIALIZATIONS_HPP
#define COCLUSTER_TESTS_SUPPORT_SERIALIZATIONS_HPP

#include <cstdlib>
#include <string_view>

#include <cocluster.hpp>

#if __has_include(<cocluster/serialization/advanced.hpp>)
#include <cocluster/serialization/advanced.hpp>
#define COCLUSTER_TEST_SERIALIZATIONS cocluster::json, cocluster::advanced
#define COCLUSTER_TEST_HAS_ADVANCED 1
#else
#define COCLUSTER_TEST_SERIALIZATIONS cocluster::json
#define COCLUSTER_TEST_HAS_ADVANCED 0
#endif

namespace test {

/// Calls `f.template operator()<S>()` with the serialization this worker was started with.
template <class F>
int with_serialization(F&& f) {
  const char* mode = std::getenv("NODE_CHANNEL_SERIALIZATION_MODE");
#if COCLUSTER_TEST_HAS_ADVANCED
  if (mode != nullptr && std::string_view(mode) == "advanced")
    return f.template operator()<cocluster::advanced>();
#endif
  (void)mode;
  return f.template operator()<cocluster::json>();
}

/// A message of serialization S made from JSON.
template <class S>
typename S::value_type message(const nlohmann::json& j) {
  if constexpr (std::is_same_v<typename S::value_type, nlohmann::json>)
    return j;
  else
    return S::from_json(nlohmann::json(j));
}

/// A message of serialization S as JSON.
template <class S>
nlohmann::json as_json(const typename S::value_type& v) {
  if constexpr (std::is_same_v<typename S::value_type, nlohmann::json>)
    return v;
  else
    return S::template from_value<nlohmann::json>(v);
}

} // namespace test

#endif
