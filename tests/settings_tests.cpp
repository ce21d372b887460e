// Settings and roles: setupPrimary's merging and events, the worker's environment, arguments,
// working directory and stdio, and errors for bad settings. Node's tests are in brackets.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/exits.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/serializations.hpp"
#include "support/worker_scenarios.hpp"

using namespace std::chrono_literals;

namespace {

nlohmann::json environment_report(const cocluster::cluster<>& cluster,
                                  const std::vector<std::string>& args) {
  auto variable = [](const char* name) -> nlohmann::json {
    const char* value = std::getenv(name);
    return value ? nlohmann::json(value) : nlohmann::json(nullptr);
  };
  char cwd[4096] = {};
  if (::getcwd(cwd, sizeof cwd) == nullptr)
    cwd[0] = '\0';
  return {
      {"id", cluster.worker().id()},
      {"args", args},
      {"cwd", cwd},
      {"NODE_UNIQUE_ID", variable("NODE_UNIQUE_ID")},
      {"NODE_CHANNEL_FD", variable("NODE_CHANNEL_FD")},
      {"NODE_CHANNEL_SERIALIZATION_MODE", variable("NODE_CHANNEL_SERIALIZATION_MODE")},
      {"COCLUSTER_FROM_SETTINGS", variable("COCLUSTER_FROM_SETTINGS")},
      {"COCLUSTER_FROM_FORK", variable("COCLUSTER_FROM_FORK")},
      {"COCLUSTER_OVERRIDDEN", variable("COCLUSTER_OVERRIDDEN")},
      {"HAS_PATH", std::getenv("PATH") != nullptr},
  };
}

std::map<std::string, std::string> one_variable(const std::string& name, const std::string& value) {
  return {{name, value}};
}

std::vector<std::string> words(std::initializer_list<const char*> list) {
  return std::vector<std::string>(list.begin(), list.end());
}

} // namespace

// Reports its id, arguments, working directory and environment, then waits to be disconnected.
WORKER_SCENARIO("report") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await cluster.worker().async_send(environment_report(cluster, args));
      },
      test::exit_on_failure("the report"));
  io.run();
  return 0;
}

// Writes a line to stdout and one to descriptor 4, then exits.
WORKER_SCENARIO("write-stdio") {
  const std::string out = "to stdout\n";
  const std::string extra = "to fd 4\n";
  if (::write(1, out.data(), out.size()) < 0)
    return 3;
  if (::fcntl(4, F_GETFD) >= 0 && ::write(4, extra.data(), extra.size()) < 0)
    return 4;
  return 0;
}

// Claims the advanced serialization while being a json worker: the cluster must refuse to start.
WORKER_SCENARIO("wrong-serialization") {
  ::setenv("NODE_CHANNEL_SERIALIZATION_MODE", "advanced", 1);
  asio::io_context io;
  try {
    cocluster::cluster<> cluster(io);
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    return what.find("advanced") != std::string::npos && what.find("json") != std::string::npos ? 5
                                                                                                : 6;
  }
  return 7;
}

TEST_SUITE_BEGIN("settings");

TEST_CASE("the primary is the process without NODE_UNIQUE_ID, and one cluster object is allowed "
          "per process") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  CHECK(cluster.is_primary());
  CHECK(!cluster.is_worker());
  CHECK_THROWS_AS(cluster.worker(), std::system_error);
  CHECK_THROWS_AS(cocluster::cluster<> second(io), std::logic_error);
}

TEST_CASE("settings are empty before the first setup and get Node's defaults then "
          "[setup-primary-cumulative]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  CHECK(cluster.settings() == cocluster::settings{});
  cluster.setup_primary();
  const auto& first = cluster.settings();
  REQUIRE(first.exec.has_value());
  CHECK(first.exec->find("settings_tests") != std::string::npos); // this executable
  REQUIRE(first.args.has_value());
  CHECK(first.silent == false);
  CHECK(!first.cwd.has_value());

  cocluster::settings changes;
  changes.args = words({"a", "b"});
  cluster.setup_primary(changes);
  CHECK(cluster.settings().exec == first.exec); // kept
  CHECK(cluster.settings().args == words({"a", "b"}));

  cocluster::settings more;
  more.silent = true;
  cluster.setup_primary(more);
  CHECK(cluster.settings().args == words({"a", "b"})); // still kept
  CHECK(cluster.settings().silent == true);
}

TEST_CASE("every setup and every fork emits setup asynchronously, in order, with the settings "
          "[setup-primary-emit, setup-primary-multiple]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto setups = cluster.subscribe(cocluster::event::setup);
  for (const char* arg : {"one", "two", "three"}) {
    cocluster::settings s;
    s.args = words({arg});
    cluster.setup_primary(s);
  }
  CHECK(setups.size() == 0); // never inside the call
  io.poll();
  REQUIRE(setups.size() == 3);
  CHECK(setups.try_receive()->current.args == words({"one"}));
  CHECK(setups.try_receive()->current.args == words({"two"}));
  CHECK(setups.try_receive()->current.args == words({"three"}));

  cluster.setup_primary(test::scenario("exit-with", {"0"}));
  io.poll();
  setups.try_receive();
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto setup = co_await setups.async_receive(); // fork runs setup too, as Node's does
    CHECK(setup.current == cluster.settings());
    co_await exits.check();
  });
}

TEST_CASE("the worker gets the configured arguments, and Node's variables are gone from its "
          "environment once it runs [setup-primary, basic]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("report", {"--custom", "argument"}));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["id"] == worker.id());
    CHECK(report["args"] == nlohmann::json(words({"--custom", "argument"})));
    CHECK(report["NODE_UNIQUE_ID"].is_null());
    CHECK(report["NODE_CHANNEL_FD"].is_null());
    CHECK(report["NODE_CHANNEL_SERIALIZATION_MODE"].is_null());
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("fork(env) adds to the primary's environment and overrides settings.env and the "
          "primary's own variables [fork-env]") {
  ::setenv("COCLUSTER_OVERRIDDEN", "from the primary", 1);
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto s = test::scenario("report");
  s.env = std::map<std::string, std::string>{{"COCLUSTER_FROM_SETTINGS", "settings"},
                                             {"COCLUSTER_FROM_FORK", "settings loses"}};
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto env = one_variable("COCLUSTER_FROM_FORK", "fork");
    env["COCLUSTER_OVERRIDDEN"] = "fork";
    auto worker = cluster.fork(env);
    auto messages = worker.subscribe(cocluster::event::message);
    CHECK(worker.send(nlohmann::json("hello")));
    auto report = co_await messages.async_receive();
    CHECK(report["COCLUSTER_FROM_SETTINGS"] == "settings");
    CHECK(report["COCLUSTER_FROM_FORK"] == "fork");
    CHECK(report["COCLUSTER_OVERRIDDEN"] == "fork");
    CHECK(report["HAS_PATH"] == true);
    co_await cluster.disconnect();
    co_await exits.check();
  });
  ::unsetenv("COCLUSTER_OVERRIDDEN");
}

TEST_CASE("settings.cwd sets the worker's working directory [cwd]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto s = test::scenario("report");
  s.cwd = "/tmp";
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    auto messages = worker.subscribe(cocluster::event::message);
    auto report = co_await messages.async_receive();
    CHECK(report["cwd"] == "/tmp");
    co_await cluster.disconnect();
    co_await exits.check();
  });
}

TEST_CASE("silent workers' stdout comes to the primary, and extra stdio pipes work [fork-stdio]") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  auto s = test::scenario("write-stdio");
  s.stdio = std::vector<cocluster::stdio_entry>{cocluster::stdio_entry::ignore(),
                                                cocluster::stdio_entry::pipe(),
                                                cocluster::stdio_entry::inherit(),
                                                cocluster::stdio_entry::ipc(),
                                                cocluster::stdio_entry::pipe()};
  cluster.setup_primary(s);
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    REQUIRE(worker.stdio_pipe(1) != nullptr);
    REQUIRE(worker.stdio_pipe(4) != nullptr);
    CHECK(worker.stdio_pipe(0) == nullptr);
    std::string out, extra;
    co_await asio::async_read_until(*worker.stdio_pipe(1), asio::dynamic_buffer(out), '\n',
                                    asio::use_awaitable);
    co_await asio::async_read_until(*worker.stdio_pipe(4), asio::dynamic_buffer(extra), '\n',
                                    asio::use_awaitable);
    CHECK(out == "to stdout\n");
    CHECK(extra == "to fd 4\n");
    co_await exits.check();
  });
}

TEST_CASE("a bad setting is refused before anything is spawned, naming the setting") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  auto forks = cluster.subscribe(cocluster::event::fork);
  auto expect_refusal = [&](const cocluster::settings& s, const std::string& name) {
    CAPTURE(name);
    bool refused = false;
    try {
      cluster.setup_primary(s);
    } catch (const std::exception& e) {
      refused = std::string(e.what()).find(name) != std::string::npos;
    }
    CHECK(refused);
  };
  cocluster::settings two_ipc;
  two_ipc.stdio = std::vector<cocluster::stdio_entry>{cocluster::stdio_entry::ipc(),
                                                      cocluster::stdio_entry::ipc()};
  expect_refusal(two_ipc, "settings.stdio");
  cocluster::settings no_ipc;
  no_ipc.stdio = std::vector<cocluster::stdio_entry>{cocluster::stdio_entry::inherit()};
  expect_refusal(no_ipc, "settings.stdio");
  cocluster::settings closed_fd;
  closed_fd.stdio = std::vector<cocluster::stdio_entry>{cocluster::stdio_entry::inherit(),
                                                        cocluster::stdio_entry::inherit(),
                                                        cocluster::stdio_entry::inherit(),
                                                        cocluster::stdio_entry::ipc(),
                                                        cocluster::stdio_entry::from_fd(987)};
  expect_refusal(closed_fd, "settings.stdio[4]");
  cocluster::settings empty_exec;
  empty_exec.exec = "";
  expect_refusal(empty_exec, "settings.exec");
  cocluster::settings bad_env;
  bad_env.env = std::map<std::string, std::string>{{"A=B", "c"}};
  expect_refusal(bad_env, "settings.env");
  cocluster::settings bad_signal;
  bad_signal.parent_death_signal = 1000;
  expect_refusal(bad_signal, "settings.parent_death_signal");
  CHECK(cluster.settings() == cocluster::settings{}); // nothing changed
  CHECK_THROWS_AS(cluster.fork(one_variable("BAD=NAME", "x")), std::invalid_argument);
  CHECK(cluster.workers().empty());
  io.poll();
  CHECK(forks.size() == 0);
}

TEST_CASE("a worker built for another serialization than the primary's refuses to start with a "
          "clear error") {
  asio::io_context io;
  cocluster::cluster<> cluster(io);
  test::exit_watch exits(cluster);
  cluster.setup_primary(test::scenario("wrong-serialization"));
  test::run(io, [&]() -> asio::awaitable<void> {
    auto worker = cluster.fork();
    exits.expect_code(worker, 5); // refused, with both modes named in the error
    co_await exits.check();
  });
}

// ---- settings::validate, directly ----

namespace {

// The message settings::validate throws for `s`, or "" when it accepts them.
std::string refusal_of(const cocluster::settings& s) {
  try {
    s.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("settings::validate refuses an empty cwd, naming it") {
  cocluster::settings s;
  s.cwd = "";
  CHECK(refusal_of(s) == "cocluster: settings.cwd is empty");
  s.cwd = "/";
  CHECK(refusal_of(s) == "");
}

TEST_CASE("settings::validate refuses an env variable with an empty name, naming env") {
  cocluster::settings s;
  s.env = std::map<std::string, std::string>{{"", "value"}};
  CHECK(refusal_of(s) == "cocluster: settings.env has a bad variable name ''");
  s.env = std::map<std::string, std::string>{{"NAME", ""}};
  CHECK(refusal_of(s) == ""); // an empty value is a value
}

TEST_CASE("settings::validate refuses a NUL byte in an env value, naming the variable") {
  cocluster::settings s;
  s.env = std::map<std::string, std::string>{{"NAME", std::string("a\0b", 3)}};
  CHECK(refusal_of(s) == "cocluster: settings.env[NAME] contains a NUL character");
}

TEST_SUITE_END();
