// The hot upgrade's pure decisions, tested directly (no process, no socket): the new primary's
// environment and descriptors, how it reads them back, the names its sockets are passed under,
// and the program's path. Part of the decisions suite.
#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <cocluster/detail/systemd/activation.hpp>
#include <cocluster/detail/systemd/handover.hpp>

using cocluster::detail::first_of_each;
using cocluster::detail::handover_descriptors;
using cocluster::detail::handover_environment;
using cocluster::detail::handover_key_name;
using cocluster::detail::handover_port_name;
using cocluster::detail::handover_slot_name;
using cocluster::detail::parse_handover_ready;
using cocluster::detail::parse_listen_fds;
using cocluster::detail::taken_by_name_only;
using cocluster::detail::upgrade_program;

namespace {

bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}

bool names_variable(const std::vector<std::string>& env, const std::string& name) {
  return std::any_of(env.begin(), env.end(),
                     [&](const std::string& e) { return e.rfind(name + "=", 0) == 0; });
}

} // namespace

TEST_SUITE_BEGIN("decisions");

TEST_CASE("the new primary's environment keeps the old one's and adds the sockets, their names, "
          "the parent and the ready pipe") {
  const std::vector<std::string> current{"PATH=/usr/bin", "NOTIFY_SOCKET=/run/notify",
                                         "WATCHDOG_USEC=10000000"};
  const std::vector<std::string> names{"http", "cocluster-listener=0.0.0.0%3A0"};
  const auto env = handover_environment(current, names, 5, 1234);
  CHECK(has(env, "PATH=/usr/bin"));
  CHECK(has(env, "NOTIFY_SOCKET=/run/notify"));
  CHECK(has(env, "WATCHDOG_USEC=10000000"));
  CHECK(has(env, "COCLUSTER_LISTEN_FDS=2"));
  CHECK(has(env, "COCLUSTER_LISTEN_FDNAMES=http:cocluster-listener=0.0.0.0%3A0"));
  CHECK(has(env, "COCLUSTER_LISTEN_PARENT=1234"));
  CHECK(has(env, "COCLUSTER_UPGRADE_READY_FD=5"));
  CHECK(env.size() == 7);
}

TEST_CASE("the new primary's environment drops systemd's spent activation variables, the old "
          "primary's WATCHDOG_PID and an earlier upgrade's variables") {
  const std::vector<std::string> current{"LISTEN_PID=1",
                                         "LISTEN_FDS=1",
                                         "LISTEN_FDNAMES=http",
                                         "WATCHDOG_PID=1",
                                         "COCLUSTER_LISTEN_FDS=3",
                                         "COCLUSTER_LISTEN_FDNAMES=a:b:c",
                                         "COCLUSTER_LISTEN_PARENT=7",
                                         "COCLUSTER_UPGRADE_READY_FD=9",
                                         "HOME=/root"};
  const auto env = handover_environment(current, std::vector<std::string>{"x"}, 4, 42);
  for (const char* gone : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID"})
    CHECK_FALSE(names_variable(env, gone));
  CHECK(has(env, "HOME=/root"));
  CHECK(has(env, "COCLUSTER_LISTEN_FDS=1"));
  CHECK(has(env, "COCLUSTER_LISTEN_PARENT=42"));
  CHECK(has(env, "COCLUSTER_UPGRADE_READY_FD=4"));
  CHECK(env.size() == 5);
}

TEST_CASE("with no socket to pass the new primary gets no socket variables but its ready pipe") {
  const auto env = handover_environment({}, {}, 3, 42);
  CHECK_FALSE(names_variable(env, "COCLUSTER_LISTEN_FDS"));
  CHECK_FALSE(names_variable(env, "COCLUSTER_LISTEN_FDNAMES"));
  CHECK(has(env, "COCLUSTER_UPGRADE_READY_FD=3"));
}

TEST_CASE("a socket name that is empty or holds the separator is passed as unknown") {
  const std::vector<std::string> names{"", "a:b", "web"};
  const auto env = handover_environment({}, names, 6, 1);
  CHECK(has(env, "COCLUSTER_LISTEN_FDNAMES=unknown:unknown:web"));
}

TEST_CASE("the new primary's descriptors are the standard three, the sockets from 3 in order, "
          "then the ready pipe") {
  int ready = -1;
  const std::vector<int> sockets{17, 9, 3};
  const auto fds = handover_descriptors(sockets, 21, ready);
  const std::vector<std::pair<int, int>> expected{{0, 0}, {1, 1}, {2, 2}, {3, 17},
                                                  {4, 9}, {5, 3}, {6, 21}};
  CHECK(fds == expected);
  CHECK(ready == 6);
}

TEST_CASE("with no socket the ready pipe is descriptor 3") {
  int ready = -1;
  const auto fds = handover_descriptors({}, 8, ready);
  CHECK(ready == 3);
  CHECK(fds.back() == std::make_pair(3, 8));
}

TEST_CASE("the new primary reads back what the old one wrote when it is the old one's child") {
  const std::vector<std::string> names{"http", "unknown"};
  const auto env = handover_environment({}, names, 5, 1234);
  auto value = [&](const std::string& name) -> std::string {
    for (const auto& e : env)
      if (e.rfind(name + "=", 0) == 0)
        return e.substr(name.size() + 1);
    return {};
  };
  const auto fds = value("COCLUSTER_LISTEN_FDS");
  const auto fdnames = value("COCLUSTER_LISTEN_FDNAMES");
  const auto parent = value("COCLUSTER_LISTEN_PARENT");
  const auto ready = value("COCLUSTER_UPGRADE_READY_FD");
  const auto passed = parse_listen_fds(parent.c_str(), fds.c_str(), fdnames.c_str(), 1234);
  REQUIRE(passed);
  CHECK(passed->count == 2);
  CHECK(passed->names == names);
  CHECK(parse_handover_ready(ready.c_str(), parent.c_str(), 1234) == 5);
  // Any other process (a worker of the new primary, whose parent it is) ignores them.
  CHECK_FALSE(parse_listen_fds(parent.c_str(), fds.c_str(), fdnames.c_str(), 999));
  CHECK_FALSE(parse_handover_ready(ready.c_str(), parent.c_str(), 999));
}

TEST_CASE("a ready pipe variable that is missing malformed or names a standard descriptor is "
          "ignored") {
  CHECK_FALSE(parse_handover_ready(nullptr, "1", 1));
  CHECK_FALSE(parse_handover_ready("5", nullptr, 1));
  CHECK_FALSE(parse_handover_ready("5x", "1", 1));
  CHECK_FALSE(parse_handover_ready("2", "1", 1));
  CHECK_FALSE(parse_handover_ready("-4", "1", 1));
  CHECK_FALSE(parse_handover_ready("5", "one", 1));
  CHECK(parse_handover_ready("3", "1", 1) == 3);
}

TEST_CASE("two descriptors of one socket are passed once, the first kept") {
  const std::vector<unsigned long long> inodes{10, 11, 10, 12, 11};
  CHECK(first_of_each(inodes) == std::vector<std::size_t>{0, 1, 3});
  CHECK(first_of_each({}).empty());
}

TEST_CASE("a listener's socket is named by its key with the separator escaped, and the names of "
          "reuse_port's port and slot sockets are taken by name only") {
  CHECK(handover_key_name("0.0.0.0:8000:4:-1") == "cocluster-listener=0.0.0.0%3A8000%3A4%3A-1");
  CHECK(handover_key_name("a%3Ab") == "cocluster-listener=a%253Ab");
  CHECK(handover_key_name("a:b") != handover_key_name("a%3Ab"));
  CHECK(handover_port_name("::8000") == "cocluster-port=%3A%3A8000");
  CHECK(handover_slot_name("::8000", 2) == "cocluster-slot=2=%3A%3A8000");
  CHECK(handover_slot_name("k", 1) != handover_slot_name("k", 12));
  CHECK(taken_by_name_only(handover_port_name("k")));
  CHECK(taken_by_name_only(handover_slot_name("k", 0)));
  CHECK_FALSE(taken_by_name_only(handover_key_name("k")));
  CHECK_FALSE(taken_by_name_only("http"));
  for (const auto& name :
       {handover_key_name("a:b"), handover_port_name("a:b"), handover_slot_name("a:b", 3)})
    CHECK(name.find(':') == std::string::npos);
}

TEST_CASE("the upgrade's program is argv[0] made absolute against the directory at startup, "
          "links unresolved") {
  CHECK(upgrade_program("/usr/local/bin/app", "/srv") == "/usr/local/bin/app");
  CHECK(upgrade_program("./app", "/srv/current") == "/srv/current/app");
  CHECK(upgrade_program("././bin/app", "/srv") == "/srv/bin/app");
  CHECK(upgrade_program("bin/app", "/srv/") == "/srv/bin/app");
  CHECK(upgrade_program("../releases/current/app", "/srv/x") == "/srv/x/../releases/current/app");
  CHECK_FALSE(upgrade_program("app", "/srv")); // PATH's: the caller searches it
  CHECK_FALSE(upgrade_program("", "/srv"));
}

TEST_SUITE_END();
