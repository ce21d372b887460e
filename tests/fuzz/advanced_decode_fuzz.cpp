// libFuzzer target for the `advanced` decoder: any byte string either decodes or is refused with
// errc::malformed_message; whatever decodes must re-encode, decode to an equal value, and
// re-encode to the same bytes.
//
// Build and run (Meson builds the binary in tests/serialization/, next to the suite that adds it):
//   CXX=clang++ meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
//   ninja -C build-fuzz
//   ./build-fuzz/tests/serialization/advanced_decode_fuzz -max_total_time=60 tests/fuzz/corpus/advanced
//
// The seed corpus holds the golden vectors (node --expose-internals
// tests/serialization/v8_vectors.js corpus tests/fuzz/corpus/advanced) and a few hand-made
// frames for paths Node's serializer never takes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include <cocluster/error.hpp>
#include <cocluster/serialization/advanced.hpp>

namespace {

[[noreturn]] void failure(const char* what) {
  std::fprintf(stderr, "advanced_decode_fuzz: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  cocluster::value decoded;
  try {
    decoded = cocluster::advanced::decode(input);
  } catch (const std::system_error& e) {
    if (e.code() != cocluster::errc::malformed_message)
      failure("decode threw a system_error other than malformed_message");
    return 0;
  }
  std::string first;
  try {
    cocluster::advanced::encode(decoded, first);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    failure("a decoded value could not be encoded");
  }
  cocluster::value again;
  try {
    again = cocluster::advanced::decode(first);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    failure("our own encoding could not be decoded");
  }
  if (!(again == decoded))
    failure("re-decoded value differs");
  std::string second;
  cocluster::advanced::encode(again, second);
  if (second != first)
    failure("re-encoding is not stable");
  // The other operations on hostile values must stay bounded and safe too.
  if (!(decoded.clone() == decoded))
    failure("clone differs");
  (void)decoded.to_string();
  (void)decoded.to_json();
  (void)cocluster::advanced::take_internal(decoded);
  return 0;
}
