// Measures the largest single heap allocation made while a probe is active, by replacing the
// global operator new of this test program.
#ifndef COCLUSTER_TESTS_SERIALIZATION_ALLOCATION_PROBE_HPP
#define COCLUSTER_TESTS_SERIALIZATION_ALLOCATION_PROBE_HPP

#include <cstddef>

namespace sertest {

/// While alive, records the size of the largest allocation made by operator new.
class allocation_probe {
public:
  allocation_probe() noexcept;
  ~allocation_probe();
  allocation_probe(const allocation_probe&) = delete;
  allocation_probe& operator=(const allocation_probe&) = delete;

  /// The largest allocation so far, in bytes.
  std::size_t largest() const noexcept;

  /// How many allocations of at least `size` bytes were made so far (`size` as given to the
  /// constructor).
  std::size_t large_allocations() const noexcept;

  /// A probe that also counts allocations of at least `large` bytes.
  explicit allocation_probe(std::size_t large) noexcept;
};

} // namespace sertest

#endif
