// The pure decisions, tested directly (no process, no socket): the scheduling policies, the
// primary's hand-off table, the keys that tell shared servers apart, and the supervisor's pure
// layer (restart backoff, crash-loop guard, CPU limits; available_cpus over a fake cgroup tree
// in a temporary folder). This suite builds without Asio's I/O, which also proves those headers
// need none.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <cocluster/detail/ipc/protocol.hpp>
#include <cocluster/detail/scheduling/handoff_table.hpp>
#include <cocluster/scheduling/ip_hash.hpp>
#include <cocluster/scheduling/least_connections.hpp>
#include <cocluster/scheduling/round_robin.hpp>
#include <cocluster/supervision/cpu_limit.hpp>
#include <cocluster/supervision/crash_loop_guard.hpp>
#include <cocluster/supervision/restart_backoff.hpp>
#include <cocluster/supervisor/available_cpus.hpp>

using namespace std::chrono_literals;

namespace {

using table_clock = std::chrono::steady_clock;
using rr_table = cocluster::detail::handoff_table<cocluster::round_robin, int>;

// A load as the table would show it.
cocluster::worker_load load(int id, std::uint64_t idle_since, std::size_t in_flight = 0,
                            std::size_t queued = 0, std::size_t window = 4) {
  cocluster::worker_load l;
  l.id = id;
  l.idle_since = idle_since;
  l.in_flight = in_flight;
  l.queued = queued;
  l.window = window;
  l.available = in_flight < window;
  return l;
}

cocluster::connection_request from(const char* address) {
  return cocluster::connection_request{asio::ip::make_address(address)};
}

// What a run of the table gave each worker (the connections they accepted).
using accepted_by = std::map<int, int>;

// Equal workers in a burst: `connections` arrive at once; every round, all that can be handed
// over are, then the workers answer them all, in an order drawn by `seed`. Returns what each
// worker accepted.
accepted_by burst(int workers, int connections, unsigned seed, std::size_t window = 4) {
  rr_table table;
  for (int id = 1; id <= workers; ++id)
    table.add(id, window);
  for (int c = 0; c < connections; ++c)
    table.push(c, std::nullopt);
  std::mt19937 random(seed);
  accepted_by accepted;
  auto now = table_clock::now();
  while (table.queued() != 0 || table.waiting() != 0 || table.in_flight() != 0) {
    std::vector<rr_table::handover> sent;
    while (auto next = table.next(now))
      sent.push_back(*next);
    REQUIRE(!sent.empty());
    std::shuffle(sent.begin(), sent.end(), random);
    for (const auto& h : sent) {
      CHECK(table.answered(h.ticket, true, now).has_value());
      ++accepted[h.worker];
    }
    now += 1ms;
  }
  return accepted;
}

int spread(const accepted_by& accepted) {
  const auto [low, high] = std::minmax_element(accepted.begin(), accepted.end(),
                                               [](const auto& a, const auto& b) {
                                                 return a.second < b.second;
                                               });
  return high->second - low->second;
}

// The delays of `count` consecutive failures, each after `uptime`, without jitter's spread.
std::vector<long long> delays(cocluster::restart_backoff& backoff, int count,
                              std::chrono::milliseconds uptime = 0ms) {
  std::vector<long long> out;
  for (int n = 0; n < count; ++n)
    out.push_back(backoff.failed(uptime, 0.5).count());
  return out;
}

// Backoff options without jitter.
cocluster::backoff_options steady(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                  double factor) {
  return cocluster::backoff_options{
      .initial = initial, .max = max, .factor = factor, .jitter = 0.0, .reset_after = 30s};
}

// The CPUs this machine lets the test process use with no quota: its online CPUs, lowered to
// its affinity mask, at least 1.
unsigned host_cpus() {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  unsigned cpus = online > 0 ? static_cast<unsigned>(online) : 1u;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    cpus = std::min(cpus, static_cast<unsigned>(CPU_COUNT(&set)));
  return std::max(cpus, 1u);
}

// The CPUs of the machine a fake cgroup tree stands on (more than any quota below gives).
constexpr unsigned fake_machine_cpus = 8;

// A fake cgroup tree in a fresh temporary folder: a membership file standing for
// /proc/self/cgroup, cpu.max files (v2) or CFS quota files under a hierarchy's folder (v1)
// under a folder standing for /sys/fs/cgroup, and, when a test writes one, a file standing for
// /proc/self/mountinfo. The folder is removed when the tree ends.
class fake_cgroups {
public:
  explicit fake_cgroups(const std::string& membership) {
    static int made = 0;
    folder_ = std::filesystem::temp_directory_path() /
              ("cocluster-cgroups-" + std::to_string(::getpid()) + "-" + std::to_string(++made));
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_ / "mount");
    write(folder_ / "self_cgroup", membership);
  }
  fake_cgroups(const fake_cgroups&) = delete;
  fake_cgroups& operator=(const fake_cgroups&) = delete;
  ~fake_cgroups() {
    std::error_code ignored;
    std::filesystem::remove_all(folder_, ignored);
  }

  // Writes `text` as the cpu.max of `cgroup` ("/" for the root, "/a/b" for a nested one).
  void cpu_max(const std::string& cgroup, const std::string& text) const {
    const auto dir = folder_ / "mount" / std::filesystem::path(cgroup).relative_path();
    std::filesystem::create_directories(dir);
    write(dir / "cpu.max", text);
  }

  // Writes a cgroup v1 CFS quota and period for `cgroup` under the hierarchy folder `hierarchy`
  // ("cpu,cpuacct").
  void cfs(const std::string& hierarchy, const std::string& cgroup, const std::string& quota,
           const std::string& period) const {
    const auto dir = folder_ / "mount" / hierarchy / std::filesystem::path(cgroup).relative_path();
    std::filesystem::create_directories(dir);
    write(dir / "cpu.cfs_quota_us", quota);
    write(dir / "cpu.cfs_period_us", period);
  }

  // Writes the file standing for /proc/self/mountinfo (without it, none is read).
  void mountinfo(const std::string& text) const { write(folder_ / "mountinfo", text); }

  // The tree's files, on a machine of `fake_machine_cpus` CPUs that the process's mask all
  // allows: a quota's effect shows whatever this machine's size.
  cocluster::cpu_limit_sources sources() const {
    return cocluster::cpu_limit_sources{.mountinfo = folder_ / "mountinfo",
                                        .cgroup_root = folder_ / "mount",
                                        .self_cgroup = folder_ / "self_cgroup",
                                        .online_cpus = fake_machine_cpus,
                                        .mask_cpus = fake_machine_cpus};
  }

  const std::filesystem::path& folder() const noexcept { return folder_; }

private:
  static void write(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    REQUIRE(out.good());
  }

  std::filesystem::path folder_;
};

} // namespace

TEST_SUITE_BEGIN("decisions");

// ---- round_robin ----

TEST_CASE("round_robin gives equal workers one connection each in turn") {
  cocluster::round_robin policy;
  for (int id = 1; id <= 3; ++id)
    policy.worker_added(id);
  std::vector<int> order;
  std::uint64_t clock = 0;
  std::vector<cocluster::worker_load> workers{load(1, 0), load(2, 0), load(3, 0)};
  for (int n = 0; n < 6; ++n) {
    const auto pick = policy.pick({}, workers);
    REQUIRE(pick.has_value());
    order.push_back(*pick);
    for (auto& w : workers)
      if (w.id == *pick)
        w.idle_since = ++clock;
  }
  CHECK(order == std::vector<int>{1, 2, 3, 1, 2, 3});
}

TEST_CASE("round_robin makes the next connection wait for a worker whose turn it is and that has "
          "twice its window outstanding, unless that worker stalled") {
  cocluster::round_robin policy;
  policy.worker_added(1);
  policy.worker_added(2);
  // Worker 1's turn (it was used longest ago), but it has 2 x 4 outstanding.
  std::vector<cocluster::worker_load> workers{load(1, 1, 4, 4), load(2, 2)};
  CHECK_FALSE(policy.pick({}, workers).has_value());
  workers[0].stalled = true;
  CHECK(policy.pick({}, workers) == 2);
}

TEST_CASE("round_robin gives a worker back the turns it missed while it stalled, at most one "
          "window of them") {
  cocluster::round_robin policy;
  policy.worker_added(1);
  policy.worker_added(2);
  std::uint64_t clock = 0;
  std::vector<cocluster::worker_load> workers{load(1, 0, 4, 4, 4), load(2, 0)};
  workers[0].stalled = true;
  for (int n = 0; n < 10; ++n) { // worker 2 takes ten turns alone
    CHECK(policy.pick({}, workers) == 2);
    workers[1].idle_since = ++clock;
  }
  // Worker 1 answers again: four turns in a row (one window), then they alternate.
  workers[0] = load(1, 0);
  std::vector<int> order;
  for (int n = 0; n < 8; ++n) {
    const auto pick = policy.pick({}, workers);
    REQUIRE(pick.has_value());
    order.push_back(*pick);
    workers[static_cast<std::size_t>(*pick - 1)].idle_since = ++clock;
  }
  CHECK(order == std::vector<int>{1, 1, 1, 1, 2, 1, 2, 1});
}

TEST_CASE("round_robin lets a worker that joins take its turn after those already there") {
  cocluster::round_robin policy;
  policy.worker_added(1);
  policy.worker_added(2);
  std::vector<cocluster::worker_load> workers{load(1, 1), load(2, 2)};
  for (int n = 0; n < 5; ++n) // 1 2 1 2 1: worker 2 is one behind
    workers[static_cast<std::size_t>(*policy.pick({}, workers) - 1)].idle_since =
        3u + static_cast<unsigned>(n);
  policy.worker_added(3);
  workers.push_back(load(3, 100)); // joined just now
  CHECK(policy.pick({}, workers) == 2);
}

// ---- the hand-off table, with round_robin ----

TEST_CASE("a burst splits across equal workers to within one connection, for 2, 3, 4 and 8 "
          "workers, whatever order their answers come in") {
  for (const int workers : {2, 3, 4, 8})
    for (unsigned seed = 1; seed <= 20; ++seed) {
      const auto accepted = burst(workers, 64 + static_cast<int>(seed), seed);
      INFO(workers << " workers, seed " << seed);
      CHECK(accepted.size() == static_cast<std::size_t>(workers));
      CHECK(spread(accepted) <= 1);
    }
}

TEST_CASE("a worker slow to answer keeps its turns: the burst waits for it and still splits "
          "within one") {
  rr_table table; // stalled after 50 ms without an answer
  table.add(1, 4);
  table.add(2, 4);
  for (int c = 0; c < 40; ++c)
    table.push(c, std::nullopt);
  auto now = table_clock::now();
  accepted_by accepted;
  std::deque<rr_table::handover> slow; // worker 1 answers one connection a round, always owing
  for (int round = 0; table.queued() + table.waiting() + table.in_flight() != 0; ++round) {
    REQUIRE(round < 1000);
    std::vector<rr_table::handover> fast;
    while (auto next = table.next(now))
      (next->worker == 1 ? slow.push_back(*next) : fast.push_back(*next));
    for (const auto& h : fast) {
      table.answered(h.ticket, true, now);
      ++accepted[h.worker];
    }
    if (!slow.empty()) {
      table.answered(slow.front().ticket, true, now);
      ++accepted[1];
      slow.pop_front();
    }
    now += 20ms; // under the stall timeout between two of its answers
  }
  CHECK(accepted[1] == 20);
  CHECK(accepted[2] == 20);
}

TEST_CASE("a worker that never answers holds twice its window; once it stalled, the others take "
          "the rest, and it is told again when to look") {
  rr_table table(50ms);
  table.add(1, 4);
  table.add(2, 4);
  for (int c = 0; c < 30; ++c)
    table.push(c, std::nullopt);
  auto now = table_clock::now();
  int to_stuck = 0, to_other = 0;
  auto drain = [&] {
    while (auto next = table.next(now)) {
      if (next->worker == 1) {
        ++to_stuck; // never answered
      } else {
        ++to_other;
        table.answered(next->ticket, true, now);
      }
    }
  };
  drain();
  // Worker 1 has 4 handed over and 4 waiting for its window; it is its turn, so the rest wait.
  CHECK(to_stuck == 4);
  CHECK(table.queued() != 0);
  const auto wait = table.until_stall(now);
  REQUIRE(wait.has_value());
  CHECK(*wait == 50ms);
  now += *wait; // it counts as stalled now
  drain();
  CHECK(to_stuck == 4);
  CHECK(to_other == 30 - 8);
  CHECK(table.queued() == 0);
}

TEST_CASE("a refused connection goes to another worker before any newer connection") {
  rr_table table;
  table.add(1, 1);
  table.add(2, 1);
  table.push(100, std::nullopt);
  table.push(200, std::nullopt);
  const auto now = table_clock::now();
  auto first = table.next(now);
  REQUIRE(first.has_value());
  CHECK(*first->connection == 100);
  auto second = table.next(now);
  REQUIRE(second.has_value());
  CHECK(*second->connection == 200);
  CHECK(table.answered(second->ticket, true, now).has_value());
  table.push(300, std::nullopt);
  CHECK_FALSE(table.answered(first->ticket, false, now).has_value()); // refused
  auto again = table.next(now);
  REQUIRE(again.has_value());
  CHECK(*again->connection == 100);
  CHECK(again->worker != first->worker);
}

TEST_CASE("a connection every worker refused waits until take_retry says to offer it again") {
  rr_table table;
  table.add(1, 1);
  table.add(2, 1);
  table.push(7, std::nullopt);
  const auto now = table_clock::now();
  for (int n = 0; n < 2; ++n) {
    auto next = table.next(now);
    REQUIRE(next.has_value());
    table.answered(next->ticket, false, now);
  }
  CHECK_FALSE(table.next(now).has_value());
  CHECK(table.take_retry());
  CHECK_FALSE(table.take_retry()); // once
  auto offered = table.next(now);
  REQUIRE(offered.has_value());
  CHECK(*offered->connection == 7);
}

TEST_CASE("the connections a removed worker had not accepted go back first, oldest first") {
  rr_table table;
  table.add(1, 2);
  table.add(2, 2);
  for (int c = 0; c < 6; ++c)
    table.push(c, std::nullopt);
  const auto now = table_clock::now();
  std::vector<int> to_one;
  std::vector<rr_table::handover> to_two;
  while (auto next = table.next(now))
    (next->worker == 1 ? to_one.push_back(*next->connection) : to_two.push_back(*next));
  CHECK(to_one == std::vector<int>{0, 2}); // 4 waits for worker 1's window
  CHECK_FALSE(table.remove(1));
  CHECK_FALSE(table.has(1));
  table.push(99, std::nullopt); // newer than all of them
  for (const auto& h : to_two)
    table.answered(h.ticket, true, now);
  std::vector<int> next_ones;
  while (auto next = table.next(now)) {
    CHECK(next->worker == 2);
    next_ones.push_back(*next->connection);
    table.answered(next->ticket, true, now);
  }
  // 5 was worker 2's already (it waited for its window); then worker 1's, oldest first.
  CHECK(next_ones == std::vector<int>{5, 0, 2, 4, 99});
  CHECK(table.remove(2)); // the last one
}

TEST_CASE("a retired worker takes no new connection, and leaves once its last hand-over is "
          "answered") {
  rr_table table;
  table.add(1, 4);
  table.add(2, 4);
  table.push(1, std::nullopt);
  const auto now = table_clock::now();
  auto first = table.next(now);
  REQUIRE(first.has_value());
  CHECK_FALSE(table.retire(first->worker));
  CHECK(table.has(first->worker));
  table.push(2, std::nullopt);
  auto second = table.next(now);
  REQUIRE(second.has_value());
  CHECK(second->worker != first->worker);
  table.answered(first->ticket, true, now);
  CHECK_FALSE(table.has(first->worker));
}

TEST_CASE("once the windows are lifted (a hot upgrade's hand-over), next() gives out every "
          "connection, those waiting for a full window first") {
  rr_table table;
  table.add(1, 2);
  table.add(2, 2);
  for (int c = 0; c < 10; ++c)
    table.push(c, std::nullopt);
  const auto now = table_clock::now();
  int sent = 0;
  while (table.next(now))
    ++sent;
  CHECK(sent == 4); // two windows of two
  CHECK(table.in_flight() == 4);
  table.lift_windows();
  std::vector<int> rest;
  while (auto next = table.next(now))
    rest.push_back(*next->connection);
  CHECK(rest.size() == 6);
  CHECK(table.queued() == 0);
  CHECK(table.waiting() == 0);
  CHECK(table.in_flight() == 10);
  std::vector<int> sorted = rest;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<int>{4, 5, 6, 7, 8, 9});
  table.add(3, 1); // (a worker that joins later takes any number too)
  for (int c = 10; c < 13; ++c)
    table.push(c, std::nullopt);
  int later = 0;
  while (table.next(now))
    ++later;
  CHECK(later == 3);
}

TEST_CASE("a hand-over that could not be sent goes back first, and its worker takes no more") {
  rr_table table;
  table.add(1, 4);
  table.add(2, 4);
  table.push(5, std::nullopt);
  table.push(6, std::nullopt);
  const auto now = table_clock::now();
  auto first = table.next(now);
  REQUIRE(first.has_value());
  table.unsent(first->ticket);
  std::vector<std::pair<int, int>> sent;
  while (auto next = table.next(now))
    sent.emplace_back(next->worker, *next->connection);
  const int other = first->worker == 1 ? 2 : 1;
  CHECK(sent == std::vector<std::pair<int, int>>{{other, 5}, {other, 6}});
}

namespace {

// Counts what the table tells it.
struct counting_policy : cocluster::round_robin {
  std::map<int, int> closed;
  std::map<int, int> removed;
  void connection_closed(int id) { ++closed[id]; }
  void worker_removed(int id) {
    ++removed[id];
    cocluster::round_robin::worker_removed(id);
  }
};

} // namespace

TEST_CASE("the policy hears of each ended connection once, only while the worker is its, and of "
          "a worker's leaving once") {
  cocluster::detail::handoff_table<counting_policy, int> table;
  table.add(1, 4);
  table.report_counts(1, 3, 2);
  table.report_counts(1, 1, 2); // nothing new ended
  table.report_counts(1, 0, 5);
  CHECK(table.policy().closed[1] == 5);
  table.push(0, std::nullopt);
  REQUIRE(table.next(table_clock::now()).has_value());
  CHECK_FALSE(table.retire(1)); // a hand-over is still unanswered
  table.report_counts(1, 0, 9); // retired: no longer the policy's
  CHECK(table.policy().closed[1] == 5);
  CHECK(table.remove(1));
  CHECK(table.policy().removed[1] == 1);
}

// ---- least_connections ----

TEST_CASE("least_connections picks the available worker with the fewest open connections, ties "
          "to the one idle longest") {
  cocluster::least_connections policy;
  std::vector<cocluster::worker_load> workers{load(1, 5), load(2, 3), load(3, 1, 4)};
  workers[0].open_connections = 2;
  workers[1].open_connections = 2;
  workers[2].open_connections = 0; // the fewest, but its window is full
  CHECK(policy.pick({}, workers) == 2);
  workers[1].in_flight = 1; // in flight counts as open
  CHECK(policy.pick({}, workers) == 1);
  for (auto& w : workers)
    w.available = false;
  CHECK_FALSE(policy.pick({}, workers).has_value());
}

// ---- ip_hash ----

TEST_CASE("ip_hash sends one address to one worker, whoever is busy, and places it again only "
          "when that worker leaves") {
  cocluster::ip_hash policy;
  std::vector<cocluster::worker_load> workers{load(1, 0), load(2, 0), load(3, 0)};
  const auto first = policy.pick(from("10.0.0.7"), workers);
  REQUIRE(first.has_value());
  for (auto& w : workers)
    w.available = false; // sticky even when busy
  CHECK(policy.pick(from("10.0.0.7"), workers) == first);
  policy.worker_removed(*first);
  workers.erase(std::remove_if(workers.begin(), workers.end(),
                               [&](const auto& w) { return w.id == *first; }),
                workers.end());
  const auto moved = policy.pick(from("10.0.0.7"), workers);
  REQUIRE(moved.has_value());
  CHECK(moved != first);
  CHECK(policy.size() == 1);
}

TEST_CASE("ip_hash places a client the same way whatever order clients arrive in, and spreads "
          "clients over the workers") {
  std::vector<std::string> clients;
  for (int n = 1; n <= 200; ++n)
    clients.push_back("192.168.1." + std::to_string(n));
  std::vector<cocluster::worker_load> workers{load(1, 0), load(2, 0), load(3, 0), load(4, 0)};
  cocluster::ip_hash forward, backward;
  std::map<std::string, int> placed;
  std::map<int, int> per_worker;
  for (const auto& c : clients) {
    placed[c] = *forward.pick(from(c.c_str()), workers);
    ++per_worker[placed[c]];
  }
  for (auto it = clients.rbegin(); it != clients.rend(); ++it)
    CHECK(backward.pick(from(it->c_str()), workers) == placed[*it]);
  CHECK(per_worker.size() == 4);
  for (const auto& entry : per_worker)
    CHECK(entry.second >= 25); // 50 each on average
}

TEST_CASE("ip_hash remembers at most its capacity of clients, and a Unix client (no address) "
          "goes to the available worker idle longest") {
  cocluster::ip_hash policy(2);
  std::vector<cocluster::worker_load> workers{load(1, 9), load(2, 4)};
  policy.pick(from("10.0.0.1"), workers);
  policy.pick(from("10.0.0.2"), workers);
  policy.pick(from("::1"), workers);
  CHECK(policy.size() == 2);
  CHECK(policy.pick({}, workers) == 2);
  workers[1].available = false;
  CHECK(policy.pick({}, workers) == 1);
}

// ---- server keys ----

TEST_CASE("a server's key names address, port, address type and descriptor as Node prints them, "
          "and the listen index only for port 0") {
  using cocluster::detail::protocol::server_key;
  nlohmann::json query = {{"address", nullptr}, {"port", 8000}, {"addressType", 4}, {"index", 2}};
  CHECK(server_key(query) == "null:8000:4:undefined");
  query["port"] = 0;
  CHECK(server_key(query) == "null:0:4:undefined:2");
  query = {{"address", "/tmp/s.sock"}, {"port", -1}, {"addressType", -1}, {"fd", 5}, {"index", 0}};
  CHECK(server_key(query) == "/tmp/s.sock:-1:-1:5");
  query = {{"address", "::"}, {"port", 53}, {"addressType", "udp6"}};
  CHECK(server_key(query) == ":::53:udp6:undefined");
}

// ---- supervision: restart backoff ----

TEST_CASE("restart_backoff waits the initial delay, then multiplies it by the factor at each "
          "consecutive failure") {
  cocluster::restart_backoff doubling(steady(100ms, 30s, 2.0));
  CHECK(delays(doubling, 5) == std::vector<long long>{100, 200, 400, 800, 1600});
  CHECK(doubling.streak() == 5);
  cocluster::restart_backoff tripling(steady(100ms, 30s, 3.0));
  CHECK(delays(tripling, 3) == std::vector<long long>{100, 300, 900});
}

TEST_CASE("restart_backoff never waits longer than max, however many failures") {
  cocluster::restart_backoff backoff(steady(100ms, 1000ms, 2.0));
  CHECK(delays(backoff, 6) == std::vector<long long>{100, 200, 400, 800, 1000, 1000});
  for (const auto delay : delays(backoff, 50))
    CHECK(delay == 1000);
}

TEST_CASE("restart_backoff spreads a delay by up to plus or minus jitter: random 0 is the "
          "shortest, 0.5 the delay itself, and higher values longer") {
  cocluster::backoff_options options = steady(1000ms, 30s, 1.0);
  options.jitter = 0.1;
  cocluster::restart_backoff backoff(options);
  CHECK(backoff.failed(0ms, 0.0) == 900ms);
  CHECK(backoff.failed(0ms, 0.25) == 950ms);
  CHECK(backoff.failed(0ms, 0.5) == 1000ms);
  CHECK(backoff.failed(0ms, 0.75) == 1050ms);
  for (int n = 0; n < 100; ++n) {
    const auto delay = backoff.failed(0ms, n / 100.0);
    CHECK(delay >= 900ms);
    CHECK(delay <= 1100ms);
  }
}

TEST_CASE("restart_backoff's jitter never takes a delay above max") {
  cocluster::backoff_options options = steady(1000ms, 1000ms, 2.0);
  options.jitter = 0.5;
  cocluster::restart_backoff backoff(options);
  CHECK(backoff.failed(0ms, 0.9) == 1000ms);
  CHECK(backoff.failed(0ms, 0.0) == 500ms);
}

TEST_CASE("a failure after reset_after of uptime waits the initial delay again; a shorter uptime "
          "continues the streak") {
  cocluster::restart_backoff backoff(steady(100ms, 30s, 2.0)); // reset_after 30 s
  CHECK(backoff.failed(0ms, 0.5) == 100ms);
  CHECK(backoff.failed(1s, 0.5) == 200ms);
  CHECK(backoff.failed(29'999ms, 0.5) == 400ms);
  CHECK(backoff.failed(30s, 0.5) == 100ms);
  CHECK(backoff.streak() == 1);
  CHECK(backoff.failed(0ms, 0.5) == 200ms);
}

TEST_CASE("restart_backoff::reset forgets the streak: the next failure waits the initial delay") {
  cocluster::restart_backoff backoff(steady(100ms, 30s, 2.0));
  delays(backoff, 3);
  backoff.reset();
  CHECK(backoff.streak() == 0);
  CHECK(backoff.failed(0ms, 0.5) == 100ms);
}

TEST_CASE("backoff_options::validate rejects a negative initial delay, an initial above max, a "
          "factor under 1 and a jitter outside 0 to 1") {
  CHECK_NOTHROW(cocluster::backoff_options{}.validate());
  CHECK_NOTHROW(steady(0ms, 0ms, 1.0).validate());
  CHECK_THROWS_AS(steady(-1ms, 1s, 2.0).validate(), std::invalid_argument);
  CHECK_THROWS_AS(steady(2s, 1s, 2.0).validate(), std::invalid_argument);
  CHECK_THROWS_AS(steady(1s, 2s, 0.5).validate(), std::invalid_argument);
  CHECK_THROWS_AS(steady(1s, 2s, std::nan("")).validate(), std::invalid_argument);
  auto jittery = steady(1s, 2s, 2.0);
  jittery.jitter = -0.1;
  CHECK_THROWS_AS(jittery.validate(), std::invalid_argument);
  jittery.jitter = 1.5;
  CHECK_THROWS_AS(cocluster::restart_backoff{jittery}, std::invalid_argument);
}

// ---- supervision: crash-loop guard ----

TEST_CASE("crash_loop_guard reports a crash loop at the max_failures-th failure within the "
          "window, not before") {
  const auto t0 = cocluster::crash_loop_guard::clock::time_point{} + 1h;
  cocluster::crash_loop_guard guard({.max_failures = 3, .window = 10s});
  CHECK_FALSE(guard.failed(t0));
  CHECK_FALSE(guard.failed(t0 + 1s));
  CHECK(guard.failed(t0 + 2s));
  CHECK(guard.failures(t0 + 2s) == 3);
  cocluster::crash_loop_guard once({.max_failures = 1, .window = 10s});
  CHECK(once.failed(t0));
}

TEST_CASE("crash_loop_guard forgets a failure once it is a window old, not sooner") {
  const auto t0 = cocluster::crash_loop_guard::clock::time_point{} + 1h;
  cocluster::crash_loop_guard guard({.max_failures = 3, .window = 10s});
  CHECK_FALSE(guard.failed(t0));
  CHECK_FALSE(guard.failed(t0 + 1s));
  CHECK(guard.failures(t0 + 9'999ms) == 2);
  CHECK(guard.failures(t0 + 10s) == 1);
  CHECK_FALSE(guard.failed(t0 + 10'500ms)); // the failures at 1 s and 10.5 s
  CHECK(guard.failures(t0 + 60s) == 0);
  CHECK_FALSE(guard.failed(t0 + 60s));
}

TEST_CASE("crash_loop_options::validate rejects zero max_failures and a window that is not "
          "positive") {
  CHECK_NOTHROW(cocluster::crash_loop_options{}.validate());
  CHECK_THROWS_AS(cocluster::crash_loop_options({.max_failures = 0, .window = 1s}).validate(),
                  std::invalid_argument);
  CHECK_THROWS_AS(cocluster::crash_loop_options({.max_failures = 1, .window = 0s}).validate(),
                  std::invalid_argument);
  CHECK_THROWS_AS(cocluster::crash_loop_guard({.max_failures = 1, .window = -1s}),
                  std::invalid_argument);
}

// ---- supervision: CPU limits ----

TEST_CASE("cgroup_v2_path finds the 0:: line of /proc/self/cgroup among the cgroup v1 lines") {
  using cocluster::cpu_limit::cgroup_v2_path;
  CHECK(cgroup_v2_path("12:cpu,cpuacct:/x\n1:name=systemd:/y\n0::/a/b\n") == "/a/b");
  CHECK(cgroup_v2_path("0::/kubepods/pod1/c2") == "/kubepods/pod1/c2");
  CHECK(cgroup_v2_path("0::/\n") == "/");
}

TEST_CASE("cgroup_v2_path finds no path for a process in cgroup v1 only") {
  using cocluster::cpu_limit::cgroup_v2_path;
  CHECK_FALSE(cgroup_v2_path("12:cpu,cpuacct:/x\n1:name=systemd:/y\n").has_value());
  CHECK_FALSE(cgroup_v2_path("").has_value());
}

TEST_CASE("cgroup_v1_cpu finds the hierarchy that has the cpu controller and the path in it") {
  using cocluster::cpu_limit::cgroup_v1_cpu;
  const auto docker = cgroup_v1_cpu("12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n"
                                    "1:name=systemd:/docker/abc\n0::/\n");
  REQUIRE(docker);
  CHECK(docker->controllers == "cpu,cpuacct");
  CHECK(docker->path == "/docker/abc");
  const auto reversed = cgroup_v1_cpu("3:cpuacct,cpu:/kubepods/pod1/c2");
  REQUIRE(reversed);
  CHECK(reversed->controllers == "cpuacct,cpu");
  CHECK(reversed->path == "/kubepods/pod1/c2");
  const auto alone = cgroup_v1_cpu("2:cpu:/");
  REQUIRE(alone);
  CHECK(alone->controllers == "cpu");
  CHECK(alone->path == "/");
}

TEST_CASE("cgroup_v1_cpu finds no place under cgroup v2 only, nor in cpuacct or cpuset alone") {
  using cocluster::cpu_limit::cgroup_v1_cpu;
  CHECK_FALSE(cgroup_v1_cpu("0::/a/b\n").has_value());
  CHECK_FALSE(cgroup_v1_cpu("5:cpuset:/x\n2:cpuacct:/x\n9:net_cls,net_prio:/x\n").has_value());
  CHECK_FALSE(cgroup_v1_cpu("").has_value());
}

TEST_CASE("cgroup_v1_cpu keeps the colons of a path") {
  const auto place = cocluster::cpu_limit::cgroup_v1_cpu("4:cpu,cpuacct:/a:b/c\n");
  REQUIRE(place);
  CHECK(place->path == "/a:b/c");
}

TEST_CASE("cgroup_mount_of finds the cgroup v1 cpu hierarchy's mount and its root among the "
          "others") {
  using cocluster::cpu_limit::cgroup_mount_of;
  const std::string docker_v1 =
      "600 599 0:52 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l\n"
      "610 609 0:29 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
      "611 609 0:30 /docker/abc /sys/fs/cgroup/cpuset ro,nosuid - cgroup cgroup rw,cpuset\n"
      "612 609 0:31 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup "
      "rw,cpu,cpuacct\n"
      "613 609 0:32 / /sys/fs/cgroup/systemd ro,nosuid - cgroup cgroup rw,name=systemd\n";
  const auto mount = cgroup_mount_of(docker_v1, false);
  REQUIRE(mount);
  CHECK(mount->root == "/docker/abc");
  CHECK(mount->mount_point == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK_FALSE(cgroup_mount_of(docker_v1, true).has_value());
}

TEST_CASE("cgroup_mount_of finds the cgroup2 mount past optional fields and decodes its escapes") {
  using cocluster::cpu_limit::cgroup_mount_of;
  const std::string v2 = "40 31 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                         "41 31 0:38 /a\\040b /my\\040cgroups rw,nosuid shared:9 master:2 - "
                         "cgroup2 cgroup2 rw,nsdelegate\n";
  const auto mount = cgroup_mount_of(v2, true);
  REQUIRE(mount);
  CHECK(mount->root == "/a b");
  CHECK(mount->mount_point == "/my cgroups");
  const auto v1 = cgroup_mount_of(v2, false);
  REQUIRE(v1);
  CHECK(v1->mount_point == "/sys/fs/cgroup/cpu");
  CHECK_FALSE(cgroup_mount_of("", true).has_value());
  CHECK_FALSE(cgroup_mount_of("12 1 0:5 / /proc rw - proc proc rw\n", false).has_value());
}

TEST_CASE("path_under_mount takes the mount's root off a cgroup path") {
  using cocluster::cpu_limit::path_under_mount;
  CHECK(path_under_mount("/a/b", "/") == "/a/b");
  CHECK(path_under_mount("/docker/abc/app", "/docker/abc") == "/app");
  CHECK(path_under_mount("/docker/abc/app", "/docker/abc/") == "/app");
  CHECK(path_under_mount("/docker/abc", "/docker/abc") == "/");
}

TEST_CASE("path_under_mount gives the mount's own folder for a cgroup that is not under its "
          "root") {
  using cocluster::cpu_limit::path_under_mount;
  CHECK(path_under_mount("/docker/abcdef", "/docker/abc") == "/");
  CHECK(path_under_mount("/other", "/docker/abc") == "/");
}

TEST_CASE("quota_of_cfs divides cpu.cfs_quota_us by cpu.cfs_period_us") {
  using cocluster::cpu_limit::quota_of_cfs;
  CHECK(quota_of_cfs("150000\n", "100000\n") == 1.5);
  CHECK(quota_of_cfs("50000", "200000") == 0.25);
  CHECK(quota_of_cfs("400000\n", "100000\n") == 4.0);
}

TEST_CASE("quota_of_cfs finds no limit in -1, nor in text that is not a quota") {
  using cocluster::cpu_limit::quota_of_cfs;
  CHECK_FALSE(quota_of_cfs("-1\n", "100000\n").has_value());
  CHECK_FALSE(quota_of_cfs("0\n", "100000\n").has_value());
  CHECK_FALSE(quota_of_cfs("", "100000\n").has_value());
  CHECK_FALSE(quota_of_cfs("lots", "100000").has_value());
  CHECK_FALSE(quota_of_cfs("100000", "0").has_value());
  CHECK_FALSE(quota_of_cfs("100000", "").has_value());
  CHECK_FALSE(quota_of_cfs("100000", "often").has_value());
}

TEST_CASE("quota_of_cpu_max divides the quota by the period, 100000 when none is written") {
  using cocluster::cpu_limit::quota_of_cpu_max;
  CHECK(quota_of_cpu_max("150000 100000\n") == 1.5);
  CHECK(quota_of_cpu_max("50000 200000") == 0.25);
  CHECK(quota_of_cpu_max("400000 100000") == 4.0);
  CHECK(quota_of_cpu_max("200000\n") == 2.0);
}

TEST_CASE("quota_of_cpu_max finds no limit in max, nor in text that is not a quota") {
  using cocluster::cpu_limit::quota_of_cpu_max;
  CHECK_FALSE(quota_of_cpu_max("max 100000\n").has_value());
  CHECK_FALSE(quota_of_cpu_max("max").has_value());
  CHECK_FALSE(quota_of_cpu_max("").has_value());
  CHECK_FALSE(quota_of_cpu_max("lots 100000").has_value());
  CHECK_FALSE(quota_of_cpu_max("0 100000").has_value());
  CHECK_FALSE(quota_of_cpu_max("100000 0").has_value());
  CHECK_FALSE(quota_of_cpu_max("100000 often").has_value());
}

TEST_CASE("usable_cpus is the affinity mask's CPUs, lowered to the quota rounded up") {
  using cocluster::cpu_limit::usable_cpus;
  CHECK(usable_cpus(8, std::nullopt, 8) == 8);
  CHECK(usable_cpus(4, std::nullopt, 8) == 4);
  CHECK(usable_cpus(8, 1.5, 8) == 2);
  CHECK(usable_cpus(8, 2.0, 8) == 2);
  CHECK(usable_cpus(8, 0.25, 8) == 1);
  CHECK(usable_cpus(4, 6.0, 8) == 4);
}

TEST_CASE("usable_cpus is never more than the machine's CPUs, and counts those when the mask is "
          "unknown") {
  using cocluster::cpu_limit::usable_cpus;
  CHECK(usable_cpus(16, std::nullopt, 8) == 8);
  CHECK(usable_cpus(16, 12.0, 8) == 8);
  CHECK(usable_cpus(0, std::nullopt, 6) == 6);
  CHECK(usable_cpus(0, 2.5, 6) == 3);
}

TEST_CASE("usable_cpus is at least 1") {
  using cocluster::cpu_limit::usable_cpus;
  CHECK(usable_cpus(0, std::nullopt, 0) == 1);
  CHECK(usable_cpus(4, 0.0, 4) == 1);
}

TEST_CASE("available_cpus lowers the CPUs to the process's cgroup quota, rounded up") {
  {
    fake_cgroups tree("0::/a/b");
    tree.cpu_max("/a/b", "150000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 2);
  }
  {
    fake_cgroups tree("1:name=systemd:/a\n0::/a/b\n");
    tree.cpu_max("/a/b", "50000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
}

TEST_CASE("available_cpus takes the smallest quota on the way from the process's cgroup up to "
          "the root") {
  { // a parent's quota limits the cgroups below it
    fake_cgroups tree("0::/a/b");
    tree.cpu_max("/a/b", "max 100000\n");
    tree.cpu_max("/a", "50000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
  { // and the child's when it is the smaller
    fake_cgroups tree("0::/a/b");
    tree.cpu_max("/a/b", "50000 100000\n");
    tree.cpu_max("/a", "400000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
  { // the mount's own cpu.max counts: a container with its own cgroup namespace sees "0::/"
    fake_cgroups tree("0::/\n");
    tree.cpu_max("/", "50000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
  { // a quota above the machine's stops at the machine's CPUs
    fake_cgroups tree("0::/a/b");
    tree.cpu_max("/a/b", "6400000 100000\n");
    tree.cpu_max("/a", "max 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == fake_machine_cpus);
  }
}

TEST_CASE("available_cpus reads only the namespace's root for a cgroup outside its cgroup "
          "namespace, never a path outside the mount") {
  { // "/../x": the process's cgroup is not under the mount; a file beside the mount is not read
    fake_cgroups tree("0::/../x\n");
    std::filesystem::create_directories(tree.folder() / "x");
    std::ofstream(tree.folder() / "x" / "cpu.max") << "50000 100000\n";
    CHECK(cocluster::available_cpus(tree.sources()) == fake_machine_cpus);
  }
  { // the root's quota still counts
    fake_cgroups tree("0::/../x\n");
    tree.cpu_max("/", "50000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
}

TEST_CASE("available_cpus reads a cgroup v1 CFS quota in the cpu controller's hierarchy") {
  { // a container's own cgroup is the hierarchy's mount: its path from the host is not there
    fake_cgroups tree("11:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n");
    tree.cfs("cpu,cpuacct", "/", "50000\n", "100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
  { // on a host, the smallest quota on the way up: here a parent's
    fake_cgroups tree("4:cpu,cpuacct:/a/b\n");
    tree.cfs("cpu,cpuacct", "/a/b", "-1\n", "100000\n");
    tree.cfs("cpu,cpuacct", "/a", "50000\n", "100000\n");
    tree.cfs("cpu,cpuacct", "/", "-1\n", "100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
  { // the period counts: 300000 over 200000 is 1.5 CPUs, 2 rounded up
    fake_cgroups tree("4:cpu,cpuacct:/a\n");
    tree.cfs("cpu,cpuacct", "/a", "300000\n", "200000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 2);
  }
}

TEST_CASE("available_cpus finds the cgroup v1 hierarchy under cpu when the controllers' folder "
          "is missing") {
  fake_cgroups tree("4:cpuacct,cpu:/a\n");
  tree.cfs("cpu", "/a", "50000\n", "100000\n");
  CHECK(cocluster::available_cpus(tree.sources()) == 1);
}

TEST_CASE("available_cpus takes the smaller of the v1 and v2 quotas on a hybrid system") {
  {
    fake_cgroups tree("4:cpu,cpuacct:/a\n0::/a\n");
    tree.cfs("cpu,cpuacct", "/a", "50000\n", "100000\n");
    tree.cpu_max("/a", "150000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
  {
    fake_cgroups tree("4:cpu,cpuacct:/a\n0::/a\n");
    tree.cfs("cpu,cpuacct", "/a", "150000\n", "100000\n");
    tree.cpu_max("/a", "50000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
  {
    fake_cgroups tree("4:cpu,cpuacct:/a\n0::/a\n");
    tree.cfs("cpu,cpuacct", "/a", "50000\n", "100000\n");
    tree.cpu_max("/a", "max 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
  {
    fake_cgroups tree("4:cpu,cpuacct:/a\n0::/a\n");
    tree.cfs("cpu,cpuacct", "/a", "-1\n", "100000\n");
    tree.cpu_max("/a", "50000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == 1);
  }
}

TEST_CASE("available_cpus reads a v1 container's quota in a cgroup below its root, through "
          "mountinfo's root") {
  // Docker on cgroup v1 with the host's cgroup namespace: /proc/self/cgroup names the host's
  // path, the mount's root is the container's cgroup, and the process sits below it.
  fake_cgroups tree("4:cpu,cpuacct:/docker/abc/app\n");
  const auto hierarchy = tree.folder() / "mount" / "cpu,cpuacct";
  tree.mountinfo("612 609 0:31 /docker/abc " + hierarchy.string() +
                 " ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n");
  tree.cfs("cpu,cpuacct", "/app", "50000\n", "100000\n");
  tree.cfs("cpu,cpuacct", "/", "-1\n", "100000\n");
  CHECK(cocluster::available_cpus(tree.sources()) == 1);
}

TEST_CASE("available_cpus reads cgroup v2 where mountinfo says it is mounted") {
  fake_cgroups tree("0::/a\n");
  const auto elsewhere = tree.folder() / "elsewhere";
  std::filesystem::create_directories(elsewhere / "a");
  std::ofstream(elsewhere / "a" / "cpu.max") << "50000 100000\n";
  tree.mountinfo("41 31 0:38 / " + elsewhere.string() + " rw - cgroup2 cgroup2 rw\n");
  tree.cpu_max("/a", "max 100000\n"); // the usual place, not the mount: not read
  CHECK(cocluster::available_cpus(tree.sources()) == 1);
}

TEST_CASE("available_cpus finds no limit in max or -1, in missing quota files, or for a process "
          "in cgroup v1 whose quota is in cpu.max only") {
  const unsigned all = fake_machine_cpus;
  {
    fake_cgroups tree("0::/a/b");
    tree.cpu_max("/a/b", "max 100000\n");
    tree.cpu_max("/a", "max 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == all);
  }
  {
    fake_cgroups tree("0::/a/b"); // no cpu.max anywhere
    CHECK(cocluster::available_cpus(tree.sources()) == all);
  }
  {
    fake_cgroups tree("4:memory:/x\n1:cpu:/x\n");
    tree.cpu_max("/", "50000 100000\n");
    tree.cpu_max("/x", "50000 100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == all);
  }
  {
    fake_cgroups tree("4:cpu,cpuacct:/x\n");
    tree.cfs("cpu,cpuacct", "/x", "-1\n", "100000\n");
    tree.cfs("cpu,cpuacct", "/", "-1\n", "100000\n");
    CHECK(cocluster::available_cpus(tree.sources()) == all);
  }
  { // a quota without its period is not read
    fake_cgroups tree("4:cpu,cpuacct:/x\n");
    tree.cfs("cpu,cpuacct", "/x", "50000\n", "100000\n");
    std::filesystem::remove(tree.folder() / "mount" / "cpu,cpuacct" / "x" / "cpu.cfs_period_us");
    CHECK(cocluster::available_cpus(tree.sources()) == all);
  }
  {
    fake_cgroups tree("0::/a/b");
    tree.cpu_max("/a/b", "50000 100000\n");
    auto sources = tree.sources();
    sources.self_cgroup = tree.folder() / "no-such-file";
    CHECK(cocluster::available_cpus(sources) == all);
  }
}

TEST_CASE("available_cpus without a quota is the mask's CPUs, never more than the machine's "
          "online ones") {
  fake_cgroups tree("0::/a\n"); // no cpu.max anywhere
  auto sources = tree.sources();
  sources.online_cpus = 8;
  sources.mask_cpus = 3;
  CHECK(cocluster::available_cpus(sources) == 3);
  sources.online_cpus = 4;
  sources.mask_cpus = 6;
  CHECK(cocluster::available_cpus(sources) == 4);
}

TEST_CASE("available_cpus of the real process is at least 1 and no more than its mask and the "
          "machine allow") {
  const unsigned cpus = cocluster::available_cpus();
  CHECK(cpus >= 1);
  CHECK(cpus <= host_cpus());
}

TEST_SUITE_END();
