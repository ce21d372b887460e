// The pure systemd decisions, tested directly (no process, no socket): the socket-activation
// variables, which activated socket a listen takes, NOTIFY_SOCKET, the watchdog interval and
// which notification each change of the pool sends. Part of the decisions suite.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <cocluster/detail/systemd/activation.hpp>
#include <cocluster/detail/systemd/notify.hpp>

using namespace std::chrono_literals;
using cocluster::detail::activated_kind;
using cocluster::detail::activated_socket;
using cocluster::detail::listen_wish;
using cocluster::detail::match_activated;
using cocluster::detail::parse_listen_fds;
using cocluster::detail::pool_change;

namespace {

activated_socket ip_socket(int fd, activated_kind kind, std::string address, int port,
                           std::string name = "unknown") {
  activated_socket s;
  s.fd = fd;
  s.kind = kind;
  s.address = std::move(address);
  s.port = port;
  s.name = std::move(name);
  return s;
}

listen_wish tcp_wish(int port, std::optional<std::string> address = std::nullopt) {
  listen_wish w;
  w.kind = activated_kind::tcp;
  w.port = port;
  w.address = std::move(address);
  return w;
}

} // namespace

TEST_SUITE_BEGIN("decisions");

TEST_CASE("the activation variables give the count and the names when LISTEN_PID is ours") {
  const auto fds = parse_listen_fds("42", "3", "web:admin:metrics", 42);
  REQUIRE(fds);
  CHECK(fds->count == 3);
  CHECK(fds->names == std::vector<std::string>{"web", "admin", "metrics"});
}

TEST_CASE("activation variables meant for another process or malformed adopt nothing") {
  CHECK(!parse_listen_fds("41", "1", nullptr, 42));
  CHECK(!parse_listen_fds(nullptr, "1", nullptr, 42));
  CHECK(!parse_listen_fds("42", nullptr, nullptr, 42));
  CHECK(!parse_listen_fds("42", "0", nullptr, 42));
  CHECK(!parse_listen_fds("42", "-2", nullptr, 42));
  CHECK(!parse_listen_fds("42", "2x", nullptr, 42));
  CHECK(!parse_listen_fds("42x", "2", nullptr, 42));
  CHECK(!parse_listen_fds("", "2", nullptr, 42));
}

TEST_CASE("names missing or not one per descriptor make every descriptor unknown") {
  const auto none = parse_listen_fds("7", "2", nullptr, 7);
  REQUIRE(none);
  CHECK(none->names == std::vector<std::string>{"unknown", "unknown"});
  const auto short_list = parse_listen_fds("7", "2", "web", 7);
  REQUIRE(short_list);
  CHECK(short_list->names == std::vector<std::string>{"unknown", "unknown"});
  const auto empty_one = parse_listen_fds("7", "2", "web:", 7);
  REQUIRE(empty_one);
  CHECK(empty_one->names == std::vector<std::string>{"web", ""});
}

TEST_CASE("a listen on any address takes the activated socket of its port whatever its address") {
  const std::vector<activated_socket> sockets{
      ip_socket(3, activated_kind::tcp, "127.0.0.1", 8001),
      ip_socket(4, activated_kind::tcp, "127.0.0.1", 8000),
  };
  CHECK(match_activated(tcp_wish(8000), sockets) == 1u);
  CHECK(match_activated(tcp_wish(8000, "::"), sockets) == 1u);
  CHECK(match_activated(tcp_wish(8002), sockets) == std::nullopt);
}

TEST_CASE("a listen on an address takes a socket on that address or on every address only") {
  const std::vector<activated_socket> sockets{
      ip_socket(3, activated_kind::tcp, "127.0.0.1", 8000),
      ip_socket(4, activated_kind::tcp, "::", 9000),
  };
  CHECK(match_activated(tcp_wish(8000, "127.0.0.1"), sockets) == 0u);
  CHECK(match_activated(tcp_wish(8000, "10.0.0.1"), sockets) == std::nullopt);
  CHECK(match_activated(tcp_wish(9000, "10.0.0.1"), sockets) == 1u);
  CHECK(match_activated(tcp_wish(9000, "0.0.0.0"), sockets) == 1u);
}

TEST_CASE("a port 0 listen without a name takes no activated socket") {
  const std::vector<activated_socket> sockets{ip_socket(3, activated_kind::tcp, "0.0.0.0", 0)};
  CHECK(match_activated(tcp_wish(0), sockets) == std::nullopt);
}

TEST_CASE("a name picks its socket whatever the port and a name no socket has falls back to "
          "the address") {
  const std::vector<activated_socket> sockets{
      ip_socket(3, activated_kind::tcp, "127.0.0.1", 8000, "web"),
      ip_socket(4, activated_kind::tcp, "127.0.0.1", 9000, "admin"),
      ip_socket(5, activated_kind::udp, "127.0.0.1", 9100, "stats"),
  };
  auto wish = tcp_wish(0);
  wish.name = "admin";
  CHECK(match_activated(wish, sockets) == 1u);
  wish = tcp_wish(8000);
  wish.name = "admin";
  CHECK(match_activated(wish, sockets) == 1u);
  wish.name = "missing";
  CHECK(match_activated(wish, sockets) == 0u);
  wish.name = "stats"; // a datagram socket is not a TCP server's
  CHECK(match_activated(wish, sockets) == 0u);
}

TEST_CASE("the kind must agree: TCP takes a stream socket and UDP a datagram one") {
  const std::vector<activated_socket> sockets{
      ip_socket(3, activated_kind::udp, "0.0.0.0", 8000),
      ip_socket(4, activated_kind::other, "", 8000),
  };
  CHECK(match_activated(tcp_wish(8000), sockets) == std::nullopt);
  listen_wish udp;
  udp.kind = activated_kind::udp;
  udp.port = 8000;
  CHECK(match_activated(udp, sockets) == 0u);
}

TEST_CASE("a Unix socket listen takes the activated socket of its path") {
  activated_socket unix_socket;
  unix_socket.fd = 3;
  unix_socket.kind = activated_kind::unix_stream;
  unix_socket.path = "/run/app/http.sock";
  const std::vector<activated_socket> sockets{unix_socket};
  listen_wish wish;
  wish.kind = activated_kind::unix_stream;
  wish.path = "/run/app/http.sock";
  CHECK(match_activated(wish, sockets) == 0u);
  wish.path = "/run/app/other.sock";
  CHECK(match_activated(wish, sockets) == std::nullopt);
}

TEST_CASE("NOTIFY_SOCKET is an absolute path or an abstract name and nothing else") {
  const auto path = cocluster::detail::parse_notify_socket("/run/systemd/notify");
  REQUIRE(path);
  CHECK(path->name == "/run/systemd/notify");
  CHECK(!path->abstract);
  const auto abstract = cocluster::detail::parse_notify_socket("@/org/systemd/notify/1");
  REQUIRE(abstract);
  CHECK(abstract->name == "/org/systemd/notify/1");
  CHECK(abstract->abstract);
  CHECK(!cocluster::detail::parse_notify_socket(nullptr));
  CHECK(!cocluster::detail::parse_notify_socket(""));
  CHECK(!cocluster::detail::parse_notify_socket("@"));
  CHECK(!cocluster::detail::parse_notify_socket("relative/notify"));
  CHECK(!cocluster::detail::parse_notify_socket("vsock:2:1234"));
  CHECK(cocluster::detail::parse_notify_socket(("/" + std::string(106, 'x')).c_str()));
  CHECK(!cocluster::detail::parse_notify_socket(("/" + std::string(107, 'x')).c_str()));
  CHECK(cocluster::detail::parse_notify_socket(("@" + std::string(107, 'x')).c_str()));
  CHECK(!cocluster::detail::parse_notify_socket(("@" + std::string(108, 'x')).c_str()));
}

TEST_CASE("the watchdog pings at half of WATCHDOG_USEC when WATCHDOG_PID is unset or ours") {
  using cocluster::detail::watchdog_interval;
  CHECK(watchdog_interval("3000000", nullptr, 42) == 1500000us);
  CHECK(watchdog_interval("3000000", "42", 42) == 1500000us);
  CHECK(watchdog_interval("1", nullptr, 42) == 1us);
  CHECK(watchdog_interval("3000000", "41", 42) == std::nullopt);
  CHECK(watchdog_interval("3000000", "x", 42) == std::nullopt);
  CHECK(watchdog_interval(nullptr, "42", 42) == std::nullopt);
  CHECK(watchdog_interval("0", nullptr, 42) == std::nullopt);
  CHECK(watchdog_interval("-5", nullptr, 42) == std::nullopt);
  CHECK(watchdog_interval("10s", nullptr, 42) == std::nullopt);
}

TEST_CASE("READY=1 comes with MAINPID once the pool is ready and the status lines follow the "
          "counts") {
  cocluster::detail::notify_state state;
  CHECK(state.next(pool_change::counts, 0, 2, 0, 99) == "STATUS=0/2 workers ready, starting\n");
  CHECK(state.next(pool_change::counts, 0, 2, 0, 99).empty()); // nothing new
  CHECK(state.next(pool_change::counts, 1, 2, 0, 99) == "STATUS=1/2 workers ready, starting\n");
  CHECK(state.next(pool_change::pool_ready, 2, 2, 0, 99) ==
        "READY=1\nMAINPID=99\nSTATUS=2/2 workers ready\n");
  CHECK(state.next(pool_change::pool_ready, 2, 2, 0, 99).empty()); // once
  CHECK(state.next(pool_change::counts, 1, 2, 0, 99) == "STATUS=1/2 workers ready\n");
}

TEST_CASE("a reload sends RELOADING=1 with its monotonic time then READY=1 and a stop sends "
          "STOPPING=1 once") {
  cocluster::detail::notify_state state;
  state.next(pool_change::pool_ready, 2, 2, 0, 5);
  CHECK(state.next(pool_change::reload_started, 2, 2, 123456789, 5) ==
        "RELOADING=1\nMONOTONIC_USEC=123456789\nSTATUS=2/2 workers ready, reloading\n");
  CHECK(state.next(pool_change::counts, 3, 2, 0, 5) == "STATUS=3/2 workers ready, reloading\n");
  CHECK(state.next(pool_change::reload_ended, 2, 2, 0, 5) == "READY=1\nSTATUS=2/2 workers ready\n");
  CHECK(state.next(pool_change::reload_ended, 2, 2, 0, 5).empty()); // no reload runs
  CHECK(state.next(pool_change::stopping, 2, 2, 0, 5) ==
        "STOPPING=1\nSTATUS=2/2 workers ready, stopping\n");
  CHECK(state.next(pool_change::stopping, 2, 2, 0, 5).empty()); // the second stop: the kill
  CHECK(state.next(pool_change::reload_started, 2, 2, 1, 5).empty());
  CHECK(state.next(pool_change::counts, 0, 2, 0, 5) == "STATUS=0/2 workers ready, stopping\n");
}

TEST_CASE("a reload that ends before the pool was ever ready does not send READY=1") {
  cocluster::detail::notify_state state;
  state.next(pool_change::counts, 1, 2, 0, 5);
  CHECK(state.next(pool_change::reload_started, 1, 2, 7, 5) ==
        "RELOADING=1\nMONOTONIC_USEC=7\nSTATUS=1/2 workers ready, reloading\n");
  CHECK(state.next(pool_change::reload_ended, 1, 2, 0, 5) ==
        "STATUS=1/2 workers ready, starting\n");
  CHECK(state.next(pool_change::pool_ready, 2, 2, 0, 5) ==
        "READY=1\nMAINPID=5\nSTATUS=2/2 workers ready\n");
}

TEST_SUITE_END();
