// SPDX-License-Identifier: MIT
// libcocluster.a (meson -Dseparate_compilation=true): the one source of a separately compiled
// cocluster, built with COCLUSTER_SEPARATE_COMPILATION like every program that links it.
#include <cocluster/impl/src.hpp>
