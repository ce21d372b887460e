// SPDX-License-Identifier: MIT
/// @file
/// A per-thread cache of large byte vectors, so that decoding a stream of large Buffers,
/// typed arrays or ArrayBuffers reuses the storage of the ones already released.
#ifndef COCLUSTER_DETAIL_V8_BYTE_POOL_HPP
#define COCLUSTER_DETAIL_V8_BYTE_POOL_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace cocluster::detail::v8 {

/// Recycles the storage of `std::vector<std::uint8_t>` contents of the nodes that hold bytes.
///
/// Why: a receiver of 64 KiB Buffers allocates one 64 KiB vector per message and frees it once
/// the message was handled. Such a block sits at the top of glibc's heap, so every free trims
/// the heap (`brk` down) and the next allocation grows it again (`brk` up, page faults, page
/// clearing): thousands of system calls per second. Keeping a few released vectors and copying
/// the next decoded bytes into one of them makes that path allocation-free.
///
/// A receiver decodes a whole batch of frames (one turn of reads) before the application
/// releases any of them, so the cache must hold a batch's worth, not one vector: without that
/// the heap still grows by the batch and is trimmed after it. Only vectors with a capacity in
/// [`min_capacity`, `max_capacity`] are kept, at most `slots` of them and `max_cached_bytes` in
/// all per thread.
class byte_pool {
public:
  /// Smaller vectors are left to malloc, which handles them well.
  static constexpr std::size_t min_capacity = 16 * 1024;
  /// Larger vectors are freed: glibc maps them separately and the cache would hold too much.
  static constexpr std::size_t max_capacity = 1024 * 1024;
  /// Vectors kept per thread, at most.
  static constexpr std::size_t slots = 64;
  /// Capacity kept per thread, at most.
  static constexpr std::size_t max_cached_bytes = 4 * 1024 * 1024;

  /// A vector holding a copy of `[data, data + size)`, reusing cached storage when some fits.
  static std::vector<std::uint8_t> copy(const std::uint8_t* data, std::size_t size) {
    if (size >= min_capacity && size <= max_capacity) {
      if (byte_pool* pool = local()) {
        // The smallest cached vector that fits, and not one more than twice as large: the
        // caller may keep the bytes for long, holding the whole capacity.
        std::size_t best = pool->count_;
        for (std::size_t i = 0; i < pool->count_; ++i) {
          const std::size_t capacity = pool->cache_[i].capacity();
          if (capacity >= size && capacity / 2 <= size &&
              (best == pool->count_ || capacity < pool->cache_[best].capacity()))
            best = i;
        }
        if (best != pool->count_) {
          std::vector<std::uint8_t> bytes = std::move(pool->cache_[best]);
          if (best != --pool->count_)
            pool->cache_[best] = std::move(pool->cache_[pool->count_]);
          pool->cached_bytes_ -= bytes.capacity();
          bytes.assign(data, data + size); // fits: no reallocation
          return bytes;
        }
      }
    }
    return std::vector<std::uint8_t>(data, data + size);
  }

  /// Takes the storage of `bytes` into the cache when it is worth keeping (leaving `bytes`
  /// empty); otherwise leaves it alone.
  static void recycle(std::vector<std::uint8_t>& bytes) noexcept {
    const std::size_t capacity = bytes.capacity();
    if (capacity < min_capacity || capacity > max_capacity)
      return;
    byte_pool* pool = local();
    if (pool == nullptr || pool->count_ == slots ||
        pool->cached_bytes_ + capacity > max_cached_bytes)
      return;
    pool->cache_[pool->count_++] = std::move(bytes); // moving a vector does not throw
    pool->cached_bytes_ += capacity;
    bytes.clear();
  }

private:
  byte_pool() noexcept { alive() = true; }
  ~byte_pool() { alive() = false; }

  // Nodes may be released after this thread's cache was destroyed (a static value destroyed at
  // exit): a trivially destructible flag, valid for the whole life of the thread, says so.
  static bool& alive() noexcept {
    thread_local bool flag = false;
    return flag;
  }

  static byte_pool* local() noexcept {
    thread_local byte_pool pool;
    return alive() ? &pool : nullptr;
  }

  std::array<std::vector<std::uint8_t>, slots> cache_;
  std::size_t count_ = 0;
  std::size_t cached_bytes_ = 0;
};

} // namespace cocluster::detail::v8

#endif // COCLUSTER_DETAIL_V8_BYTE_POOL_HPP
