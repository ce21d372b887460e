// SPDX-License-Identifier: MIT
/// @file
/// `COCLUSTER_DECL`, in front of the functions that separate compilation moves into one source:
/// `inline` header-only (the default: the definition is in every translation unit that includes
/// it), nothing with `COCLUSTER_SEPARATE_COMPILATION` (declared in the header, defined once by the
/// source that includes `cocluster/impl/src.hpp`), as Asio's `ASIO_DECL`.
#ifndef COCLUSTER_DETAIL_DECL_HPP
#define COCLUSTER_DETAIL_DECL_HPP

#if defined(COCLUSTER_SEPARATE_COMPILATION)
#define COCLUSTER_DECL
#else
#define COCLUSTER_DECL inline
#endif

#endif // COCLUSTER_DETAIL_DECL_HPP
