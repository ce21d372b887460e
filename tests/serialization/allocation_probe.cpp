// Replaces the global operator new/delete with malloc/free wrappers that can record sizes.
#include "allocation_probe.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> probing{false};
std::atomic<std::size_t> largest_seen{0};
std::atomic<std::size_t> large_threshold{~std::size_t{0}};
std::atomic<std::size_t> large_count{0};
} // namespace

void* operator new(std::size_t size) {
  if (probing.load(std::memory_order_relaxed)) {
    std::size_t seen = largest_seen.load(std::memory_order_relaxed);
    while (size > seen && !largest_seen.compare_exchange_weak(seen, size)) {
    }
    if (size >= large_threshold.load(std::memory_order_relaxed))
      large_count.fetch_add(1);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size))
    return p;
  throw std::bad_alloc();
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace sertest {

allocation_probe::allocation_probe() noexcept : allocation_probe(~std::size_t{0}) {}

allocation_probe::allocation_probe(std::size_t large) noexcept {
  largest_seen.store(0);
  large_threshold.store(large);
  large_count.store(0);
  probing.store(true);
}

std::size_t allocation_probe::large_allocations() const noexcept { return large_count.load(); }

allocation_probe::~allocation_probe() { probing.store(false); }

std::size_t allocation_probe::largest() const noexcept { return largest_seen.load(); }

} // namespace sertest
