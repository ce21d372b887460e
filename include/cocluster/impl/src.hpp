// SPDX-License-Identifier: MIT
/// @file
/// Separate compilation: the one source of a program built with
/// `COCLUSTER_SEPARATE_COMPILATION` defined everywhere includes this header, and nothing else
/// does. It instantiates what `cocluster/impl/instantiations.hpp` declares, so that the other
/// translation units skip that work (Asio's `asio/impl/src.hpp` model), and defines the functions
/// declared `COCLUSTER_DECL` (the `advanced` codec). Without the switch it only includes
/// `cocluster.hpp`: a header-only program needs no such source.
#ifndef COCLUSTER_IMPL_SRC_HPP
#define COCLUSTER_IMPL_SRC_HPP

#include "cocluster.hpp"
#include "cocluster/detail/serialization/advanced_codec_impl.hpp"
#include "cocluster/impl/instantiations.hpp"

#if defined(COCLUSTER_SEPARATE_COMPILATION)
namespace cocluster {
template class cluster<round_robin, json>;
template class cluster<round_robin, advanced>;
} // namespace cocluster
#endif

#endif // COCLUSTER_IMPL_SRC_HPP
