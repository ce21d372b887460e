// SPDX-License-Identifier: MIT
/// @file
/// Signal numbers and Node's names for them ("SIGTERM").
#ifndef COCLUSTER_DETAIL_PROCESS_SIGNAL_NAMES_HPP
#define COCLUSTER_DETAIL_PROCESS_SIGNAL_NAMES_HPP

#include <csignal>
#include <optional>
#include <string>
#include <string_view>

namespace cocluster::detail {

struct signal_name_entry {
  int number;
  std::string_view name;
};

inline constexpr signal_name_entry signal_names[] = {
    {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},       {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
    {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},     {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
    {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"},     {SIGTERM, "SIGTERM"}, {SIGSTKFLT, "SIGSTKFLT"},
    {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"},
    {SIGTTIN, "SIGTTIN"}, {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"},
    {SIGXFSZ, "SIGXFSZ"}, {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"},
    {SIGIO, "SIGIO"},     {SIGPWR, "SIGPWR"},       {SIGSYS, "SIGSYS"},
};

/// "SIGTERM" for SIGTERM; "SIGRTMIN+3" for real-time signals; empty for others.
inline std::string signal_name(int number) {
  for (const auto& entry : signal_names)
    if (entry.number == number)
      return std::string(entry.name);
  if (number >= SIGRTMIN && number <= SIGRTMAX)
    return "SIGRTMIN+" + std::to_string(number - SIGRTMIN);
  return {};
}

/// The number of a signal named "SIGTERM" (or "TERM"), if there is one.
inline std::optional<int> signal_number(std::string_view name) {
  for (const auto& entry : signal_names)
    if (entry.name == name || entry.name.substr(3) == name)
      return entry.number;
  return std::nullopt;
}

/// True for a number that `kill(2)` accepts as a signal to send (not 0).
inline bool is_valid_signal(int number) noexcept { return number > 0 && number < NSIG; }

} // namespace cocluster::detail

#endif // COCLUSTER_DETAIL_PROCESS_SIGNAL_NAMES_HPP
