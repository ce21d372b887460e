// Helpers shared by the cocluster bench programs. Every program is both the primary and its
// workers (the workers get the primary's arguments), and prints one JSON line with its results.
//
// g++ 12 note: no braced initializer lists for JSON inside coroutine bodies; the JSON objects
// are built by the plain functions here.
#ifndef COCLUSTER_BENCH_COMMON_HPP
#define COCLUSTER_BENCH_COMMON_HPP

#include <cocluster.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

/// `co_await op(as_tuple)`: errors as values.
inline constexpr auto as_tuple = cocluster::as_tuple(asio::use_awaitable);

/// The spawn limit (`limit_spawn --child THIS`) and the runner's memory floor start this
/// program with BENCH_FIRST_BYTE set: answer at once, before anything else runs, so that they
/// measure exactly this executable's start-up (exec, dynamic loading, static initialisers).
/// BENCH_FIRST_BYTE=1: the byte goes to descriptor 3, and the child waits until descriptor 4
/// reaches end of file, then exits; BENCH_FIRST_BYTE=W,R names the two descriptors.
inline void first_byte_gate() {
  const char* spec = std::getenv("BENCH_FIRST_BYTE");
  if (spec == nullptr)
    return;
  int byte_fd = 3, stop_fd = 4;
  if (std::sscanf(spec, "%d,%d", &byte_fd, &stop_fd) != 2) {
    byte_fd = 3;
    stop_fd = 4;
  }
  if (::write(byte_fd, "o", 1) != 1)
    std::_Exit(1);
  char buffer[16];
  while (::read(stop_fd, buffer, sizeof buffer) > 0) {
  }
  std::_Exit(0);
}

/// `prog MODE --key value ...`: the mode and the options.
struct arguments {
  std::string mode;
  std::map<std::string, std::string> options;

  std::string get(const std::string& key, const std::string& fallback) const {
    auto it = options.find(key);
    return it == options.end() ? fallback : it->second;
  }
  int get_int(const std::string& key, int fallback) const {
    auto it = options.find(key);
    return it == options.end() ? fallback : std::stoi(it->second);
  }
  double get_double(const std::string& key, double fallback) const {
    auto it = options.find(key);
    return it == options.end() ? fallback : std::stod(it->second);
  }
};

inline arguments parse_arguments(int argc, char** argv) {
  arguments a;
  int i = 1;
  if (argc > 1 && argv[1][0] != '-') {
    a.mode = argv[1];
    i = 2;
  }
  for (; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0)
      throw std::invalid_argument("bad option " + key);
    a.options[key.substr(2)] = argv[i + 1];
  }
  return a;
}

/// "1,2,8" -> {1, 2, 8}.
inline std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos)
      end = text.size();
    out.push_back(std::stoi(text.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

using clock = std::chrono::steady_clock;

inline double seconds_since(clock::time_point start) {
  return std::chrono::duration<double>(clock::now() - start).count();
}

inline double median(std::vector<double> values) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  const auto n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/// Prints one JSON line and flushes (the runner reads it through a pipe).
inline void emit(const nlohmann::json& line) {
  const std::string text = line.dump();
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

/// Reports an exception that ended a coroutine, and exits non-zero.
inline void fail_on_exception(std::exception_ptr e) {
  if (!e)
    return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench: %s\n", error.what());
  }
  std::fflush(stderr);
  std::_Exit(3);
}

} // namespace bench

#endif // COCLUSTER_BENCH_COMMON_HPP
