// http_cluster's command line: its options, its usage text and its parser.
#ifndef HTTP_CLUSTER_COMMAND_LINE_HPP
#define HTTP_CLUSTER_COMMAND_LINE_HPP

#include <cocluster.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace http_cluster {

struct command_line {
  int port = 8000;
  std::optional<std::size_t> workers;
  std::string policy = "rr";
  int demo_seconds = 0;
  std::optional<std::chrono::milliseconds> boot_timeout, drain_timeout, kill_timeout;
  std::optional<int> metrics_port;           // serve GET /metrics there (0: any free port)
  std::string metrics_address = "127.0.0.1"; // ... on this address
  std::optional<std::string> socket_name;    // systemd's FileDescriptorName= to serve
  bool health = false;                       // /healthz and /readyz on the metrics port
  std::optional<std::size_t> min_ready;      // ready workers that make /readyz 200 (default 1)
  std::optional<std::chrono::milliseconds> upgrade_timeout; // SIGUSR2's new primary, to be ready
};

inline void print_usage(std::FILE* to) {
  std::fprintf(
      to,
      "usage: http_cluster [options]\n"
      "  --port N            the port to serve (0: any free port; default 8000)\n"
      "  --workers N         the pool size (default: the CPUs this process may use, %zu)\n"
      "  --policy P          how connections are spread: rr (default), none, reuseport,\n"
      "                      least, iphash\n"
      "  --demo SECONDS      drive keep-alive load for SECONDS, print the rate, stop\n"
      "  --boot-timeout MS   a worker not listening within MS is killed (default 30000)\n"
      "  --drain-timeout MS  how long a retiring worker may finish its connections\n"
      "                      (default 20000)\n"
      "  --kill-timeout MS   a retiring worker still alive after MS is killed (default 25000)\n"
      "  --metrics-port N    the primary answers GET /metrics on port N (0: any free port)\n"
      "                      with Prometheus's text format\n"
      "  --metrics-address A the address of the metrics port (default 127.0.0.1; 0.0.0.0:\n"
      "                      every IPv4 address)\n"
      "  --health            the metrics port also answers GET /healthz (200 while the\n"
      "                      primary's loop runs) and GET /readyz (200 with at least\n"
      "                      --min-ready ready workers, 503 below and once stopping)\n"
      "  --min-ready N       with --health: the ready workers /readyz needs (default 1)\n"
      "  --socket-name NAME  under systemd socket activation: serve the socket named NAME\n"
      "                      (FileDescriptorName=) whatever its port\n"
      "  --upgrade-timeout MS a new primary (SIGUSR2) not ready within MS is killed\n"
      "                      (default: the boot timeout + 30000)\n"
      "  -h, --help          print this text\n"
      "signals to the primary: SIGHUP rolling reload; SIGTERM/SIGINT graceful stop (a second\n"
      "one kills); SIGTTIN/SIGTTOU one worker more/less; SIGUSR2 hot upgrade of the primary\n"
      "(this program started again by its path, with the listening sockets; this primary exits\n"
      "once the new one is ready); a worker killed is replaced\n"
      "exit codes: 0 after a stop, 1 for a failure (a crash loop), 2 for a bad command line\n",
      static_cast<std::size_t>(cocluster::available_cpus()));
}

// An integer in [low, high], the whole text.
inline std::optional<long long> parse_integer(std::string_view text, long long low,
                                              long long high) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < low || value > high)
    return std::nullopt;
  return value;
}

// Fills `c`; returns -1 to go on, or the exit code (0 after --help, 2 for a bad command line).
inline int parse(int argc, char** argv, command_line& c) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "http_cluster: %s (try --help)\n", message.c_str());
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      print_usage(stdout);
      return 0;
    }
    if (flag == "--health") {
      c.health = true;
      continue;
    }
    const bool known = flag == "--port" || flag == "--workers" || flag == "--policy" ||
                       flag == "--demo" || flag == "--boot-timeout" || flag == "--drain-timeout" ||
                       flag == "--kill-timeout" || flag == "--metrics-port" ||
                       flag == "--metrics-address" || flag == "--socket-name" ||
                       flag == "--min-ready" || flag == "--upgrade-timeout";
    if (!known)
      return fail("unknown option '" + flag + "'");
    if (i + 1 >= argc)
      return fail(flag + " needs a value");
    const std::string value = argv[++i];
    auto number = [&](long long low, long long high) { return parse_integer(value, low, high); };
    auto bad = [&](const std::string& expected) {
      return fail("bad value '" + value + "' for " + flag + ": expected " + expected);
    };
    if (flag == "--socket-name") {
      if (value.empty() || value.find(':') != std::string::npos)
        return bad("a socket name (FileDescriptorName=, no ':')");
      c.socket_name = value;
    } else if (flag == "--policy") {
      if (value != "rr" && value != "none" && value != "reuseport" && value != "least" &&
          value != "iphash")
        return bad("rr, none, reuseport, least or iphash");
      c.policy = value;
    } else if (flag == "--port" || flag == "--metrics-port") {
      const auto n = number(0, 65535);
      if (!n)
        return bad("a port from 0 to 65535");
      if (flag == "--port")
        c.port = static_cast<int>(*n);
      else
        c.metrics_port = static_cast<int>(*n);
    } else if (flag == "--metrics-address") {
      cocluster::error_code ec;
      asio::ip::make_address(value, ec);
      if (ec)
        return bad("an IP address");
      c.metrics_address = value;
    } else if (flag == "--min-ready") {
      const auto n = number(1, 4096);
      if (!n)
        return bad("a number of workers from 1 to 4096");
      c.min_ready = static_cast<std::size_t>(*n);
    } else if (flag == "--workers") {
      const auto n = number(1, 4096);
      if (!n)
        return bad("a number of workers from 1 to 4096");
      c.workers = static_cast<std::size_t>(*n);
    } else if (flag == "--demo") {
      const auto n = number(0, 86400);
      if (!n)
        return bad("a number of seconds");
      c.demo_seconds = static_cast<int>(*n);
    } else {
      // The timeouts, in milliseconds; a drain timeout may be 0 (cut connections at once).
      const auto n = number(flag == "--drain-timeout" ? 0 : 1, 24LL * 3600 * 1000);
      if (!n)
        return bad(flag == "--drain-timeout" ? "milliseconds" : "milliseconds, at least 1");
      const std::chrono::milliseconds ms(*n);
      if (flag == "--boot-timeout")
        c.boot_timeout = ms;
      else if (flag == "--upgrade-timeout")
        c.upgrade_timeout = ms;
      else if (flag == "--drain-timeout")
        c.drain_timeout = ms;
      else
        c.kill_timeout = ms;
    }
  }
  if (c.health && !c.metrics_port)
    return fail("--health needs --metrics-port (the probes are answered there)");
  if (c.min_ready && !c.health)
    return fail("--min-ready needs --health");
  return -1;
}

} // namespace http_cluster

#endif // HTTP_CLUSTER_COMMAND_LINE_HPP
