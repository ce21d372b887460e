// A worker's lifecycle (`detail::worker_lifecycle`), tested directly (no process, no channel):
// a table of transition sequences, each with what every step answers and the value it leaves.
// Part of the decisions suite.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include <cocluster/detail/worker/lifecycle.hpp>
#include <cocluster/worker_state.hpp>

namespace {

using cocluster::worker_state;
using lifecycle = cocluster::detail::worker_lifecycle;
using side = lifecycle::side;
using leaving = lifecycle::leaving;

// Runs one transition by name; returns what it answered: "moved" / "-" for those that answer
// a bool, "happened" / "happened, gone" / "-" for those that answer a lifecycle_step, "" for
// those that answer nothing.
std::string apply(lifecycle& l, const std::string& transition) {
  const auto yes_no = [](bool moved) { return std::string(moved ? "moved" : "-"); };
  const auto step = [](cocluster::detail::lifecycle_step s) {
    return std::string(!s.happened ? "-" : s.gone ? "happened, gone" : "happened");
  };
  if (transition == "start") {
    l.start(true);
    return "";
  }
  if (transition == "start without a channel") {
    l.start(false);
    return "";
  }
  if (transition == "online")
    return yes_no(l.online());
  if (transition == "listening")
    return yes_no(l.listening());
  if (transition == "begin_disconnect")
    return yes_no(l.begin_disconnect());
  if (transition == "begin_kill")
    return yes_no(l.begin_kill());
  if (transition == "peer_leaving") {
    l.peer_leaving();
    return "";
  }
  if (transition == "disconnect")
    return step(l.disconnect());
  if (transition == "exit")
    return step(l.exit());
  if (transition == "detach") {
    l.detach();
    return "";
  }
  FAIL("no transition " << transition);
  return "";
}

struct row {
  const char* what;
  side whose;
  // Each transition and what it must answer.
  std::vector<std::pair<std::string, std::string>> steps;
  worker_state state;
  std::optional<bool> exited_after_disconnect;
  bool connected;
  bool gone;
  leaving how = leaving::no;
};

const std::vector<row>& table() {
  static const std::vector<row> rows = {
      {"a child starts in none and goes online once",
       side::primary,
       {{"start", ""}, {"online", "moved"}, {"online", "-"}},
       worker_state::online,
       std::nullopt,
       true,
       false},
      {"a child listens once, after online",
       side::primary,
       {{"start", ""}, {"online", "moved"}, {"listening", "moved"}, {"listening", "-"}},
       worker_state::listening,
       std::nullopt,
       true,
       false},
      {"a listening child that says online again stays listening",
       side::primary,
       {{"start", ""}, {"listening", "moved"}, {"online", "-"}},
       worker_state::listening,
       std::nullopt,
       true,
       false},
      {"a channel closed by nobody's request: disconnected, exitedAfterDisconnect false",
       side::primary,
       {{"start", ""}, {"online", "moved"}, {"disconnect", "happened"}, {"disconnect", "-"}},
       worker_state::disconnected,
       false,
       false,
       false},
      {"a disconnected child does not go back to listening",
       side::primary,
       {{"start", ""}, {"disconnect", "happened"}, {"listening", "-"}},
       worker_state::disconnected,
       false,
       false,
       false},
      {"disconnect then exit: dead, and gone at the exit",
       side::primary,
       {{"start", ""}, {"disconnect", "happened"}, {"exit", "happened, gone"}, {"exit", "-"}},
       worker_state::dead,
       false,
       false,
       true},
      {"exit then disconnect: dead stays dead, and gone at the disconnect",
       side::primary,
       {{"start", ""}, {"exit", "happened"}, {"disconnect", "happened, gone"}},
       worker_state::dead,
       false,
       false,
       true},
      {"a disconnect the primary started: exitedAfterDisconnect true through the close and exit",
       side::primary,
       {{"start", ""},
        {"begin_disconnect", "moved"},
        {"begin_disconnect", "-"},
        {"disconnect", "happened"},
        {"exit", "happened, gone"}},
       worker_state::dead,
       true,
       false,
       true,
       leaving::disconnecting},
      {"a disconnect asked for before the channel started changes nothing",
       side::primary,
       {{"begin_disconnect", "-"}},
       worker_state::none,
       std::nullopt,
       false,
       false},
      {"the worker's own exitedAfterDisconnect message makes it true",
       side::primary,
       {{"start", ""}, {"peer_leaving", ""}, {"disconnect", "happened"}},
       worker_state::disconnected,
       true,
       false,
       false},
      {"a child that never had a channel is gone at its exit",
       side::primary,
       {{"start without a channel", ""}, {"disconnect", "-"}, {"exit", "happened, gone"}},
       worker_state::dead,
       false,
       false,
       true},
      {"a detached worker is no longer connected, and its channel's close is no event",
       side::primary,
       {{"start", ""}, {"detach", ""}, {"disconnect", "-"}},
       worker_state::none,
       std::nullopt,
       false,
       false},
      {"a worker's own object starts online and keeps its state when its channel closes",
       side::self,
       {{"start", ""}, {"online", "-"}, {"disconnect", "happened"}},
       worker_state::online,
       false,
       false,
       false},
      {"a worker's own kill happens once",
       side::self,
       {{"start", ""}, {"begin_kill", "moved"}, {"begin_kill", "-"}, {"begin_disconnect", "-"}},
       worker_state::online,
       true,
       true,
       false,
       leaving::destroying},
      {"a worker's kill during its graceful disconnect still destroys it",
       side::self,
       {{"start", ""}, {"begin_disconnect", "moved"}, {"begin_kill", "moved"}},
       worker_state::online,
       true,
       true,
       false,
       leaving::destroying},
  };
  return rows;
}

} // namespace

TEST_SUITE_BEGIN("decisions");

TEST_CASE("each sequence of a worker's lifecycle transitions answers and ends as its table row "
          "says") {
  for (const auto& r : table()) {
    CAPTURE(r.what);
    lifecycle l(r.whose);
    // Named members, not a structured binding: clang 14 cannot capture a binding in the
    // lambda that CAPTURE makes.
    for (const auto& step : r.steps) {
      CAPTURE(step.first);
      CHECK(apply(l, step.first) == step.second);
    }
    CHECK(to_string(l.state()) == to_string(r.state));
    CHECK(l.exited_after_disconnect() == r.exited_after_disconnect);
    CHECK(l.exited_after_disconnect().has_value() == r.exited_after_disconnect.has_value());
    CHECK(l.connected() == r.connected);
    CHECK(l.gone() == r.gone);
    CHECK(l.how_leaving() == r.how);
  }
}

TEST_CASE("a worker is gone exactly when it has both disconnected and exited") {
  for (const bool disconnect_first : {true, false}) {
    lifecycle l(side::primary);
    l.start(true);
    if (disconnect_first)
      CHECK_FALSE(l.disconnect().gone);
    else
      CHECK_FALSE(l.exit().gone);
    CHECK_FALSE(l.gone());
    CHECK((disconnect_first ? l.exit() : l.disconnect()).gone);
    CHECK(l.gone());
  }
}

TEST_SUITE_END();
