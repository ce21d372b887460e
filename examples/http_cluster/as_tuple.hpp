// The completion token of the example's coroutines: errors as values, never thrown.
#ifndef HTTP_CLUSTER_AS_TUPLE_HPP
#define HTTP_CLUSTER_AS_TUPLE_HPP

#include <cocluster.hpp>

namespace http_cluster {

inline constexpr auto as_tuple = cocluster::as_tuple(asio::use_awaitable);

} // namespace http_cluster

#endif // HTTP_CLUSTER_AS_TUPLE_HPP
