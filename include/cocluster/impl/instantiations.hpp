// SPDX-License-Identifier: MIT
/// @file
/// Separate compilation (`COCLUSTER_SEPARATE_COMPILATION`): the common instantiations that
/// every translation unit of the program only declares, because one source of the program
/// defines them by including `cocluster/impl/src.hpp`. Without the switch this header declares
/// nothing and everything is instantiated where it is used (header-only, the default).
#ifndef COCLUSTER_IMPL_INSTANTIATIONS_HPP
#define COCLUSTER_IMPL_INSTANTIATIONS_HPP

#include "cocluster/cluster.hpp"
#include "cocluster/scheduling/round_robin.hpp"
#include "cocluster/serialization/advanced.hpp"
#include "cocluster/serialization/json.hpp"

#if defined(COCLUSTER_SEPARATE_COMPILATION)
namespace cocluster {
extern template class cluster<round_robin, json>;
extern template class cluster<round_robin, advanced>;
} // namespace cocluster
#endif

#endif // COCLUSTER_IMPL_INSTANTIATIONS_HPP
