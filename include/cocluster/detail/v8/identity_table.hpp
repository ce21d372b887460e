// SPDX-License-Identifier: MIT
/// @file
/// Object identities met while encoding: node address to the object id V8 gave it, so that a
/// node met again is written as a back-reference. Small tables stay in a flat vector.
#ifndef COCLUSTER_DETAIL_V8_IDENTITY_TABLE_HPP
#define COCLUSTER_DETAIL_V8_IDENTITY_TABLE_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cocluster::detail::v8 {

/// Maps node addresses to object ids.
class identity_table {
public:
  /// True when nothing was inserted.
  bool empty() const noexcept { return small_.empty() && large_.empty(); }

  /// The id of `node`, if it was inserted.
  std::optional<std::uint32_t> find(const void* node) const {
    if (large_.empty()) {
      for (const auto& [address, id] : small_)
        if (address == node)
          return id;
      return std::nullopt;
    }
    const auto it = large_.find(node);
    return it == large_.end() ? std::nullopt : std::optional<std::uint32_t>(it->second);
  }

  /// Records `node` with `id`.
  void insert(const void* node, std::uint32_t id) {
    if (large_.empty() && small_.size() < small_limit) {
      small_.emplace_back(node, id);
      return;
    }
    if (large_.empty()) {
      large_.reserve(small_limit * 4);
      large_.insert(small_.begin(), small_.end());
      small_.clear();
    }
    large_.emplace(node, id);
  }

private:
  static constexpr std::size_t small_limit = 16;
  std::vector<std::pair<const void*, std::uint32_t>> small_;
  std::unordered_map<const void*, std::uint32_t> large_;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_IDENTITY_TABLE_HPP
