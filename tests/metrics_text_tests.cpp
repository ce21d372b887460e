// The pure parts of the metrics, tested directly (part of the decisions suite): the parser of
// /proc/<pid>/stat and the Prometheus text exposition of a snapshot. No process, no socket;
// examples/examples_test.py parses the served text with Prometheus's own parser.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <cocluster/detail/proc/proc_stat.hpp>
#include <cocluster/metrics.hpp>
#include <cocluster/metrics/prometheus.hpp>

namespace {

// A /proc/<pid>/stat line (Linux 6.x, 52 fields) with command name `comm`, utime 150, stime
// 50, start time 9000 and 321 resident pages.
std::string stat_line(const std::string& comm) {
  return "4242 (" + comm +
         ") S 1 4242 4242 0 -1 4194560 1200 0 3 0 150 50 0 0 20 0 1 0 9000 12345678 321 "
         "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
}

cocluster::worker_metrics sample_worker() {
  cocluster::worker_metrics m;
  m.id = 3;
  m.pid = 1234;
  m.state = cocluster::worker_state::listening;
  m.cocluster_peer = true;
  m.start_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1500));
  m.online_time = m.start_time;
  m.ready_time = std::chrono::system_clock::time_point(std::chrono::seconds(2));
  m.slot = 1;
  m.restarts = 2;
  m.connections_handed = 7;
  m.connections_refused = 1;
  m.open_connections = 4;
  m.ipc.messages_sent = 20;
  m.ipc.user_messages_sent = 6;
  m.ipc.messages_received = 9;
  m.ipc.user_messages_received = 4;
  m.ipc.bytes_sent = 1000;
  m.ipc.bytes_received = 800;
  m.queued_bytes = 12;
  m.usage = cocluster::process_usage{4096000, 1.25};
  return m;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text))
    if (l == line)
      return true;
  return false;
}

bool has_sample_of(const std::string& text, const std::string& prefix) {
  for (const auto& l : lines_of(text))
    if (l.rfind(prefix, 0) == 0)
      return true;
  return false;
}

} // namespace

TEST_SUITE_BEGIN("decisions");

TEST_CASE("a stat line gives its state and CPU ticks and start time and resident pages") {
  const auto stat = cocluster::detail::parse_proc_stat(stat_line("worker"));
  REQUIRE(stat.has_value());
  CHECK(stat->state == 'S');
  CHECK(stat->utime_ticks == 150);
  CHECK(stat->stime_ticks == 50);
  CHECK(stat->start_ticks == 9000);
  CHECK(stat->rss_pages == 321);
}

TEST_CASE("a stat line is read from the last parenthesis so that a command name with spaces and "
          "parentheses is skipped") {
  for (const std::string comm : {"a) (b", "x) S 1 2 3", "((", ") ) )", "name with spaces"}) {
    CAPTURE(comm);
    const auto stat = cocluster::detail::parse_proc_stat(stat_line(comm));
    REQUIRE(stat.has_value());
    CHECK(stat->state == 'S');
    CHECK(stat->utime_ticks == 150);
    CHECK(stat->rss_pages == 321);
  }
}

TEST_CASE("stat text that is cut short or not a number where one is due is refused") {
  const std::string good = stat_line("w");
  CHECK_FALSE(cocluster::detail::parse_proc_stat("").has_value());
  CHECK_FALSE(cocluster::detail::parse_proc_stat("4242 worker S 1 2 3").has_value());
  CHECK_FALSE(cocluster::detail::parse_proc_stat("4242 (w").has_value());
  CHECK_FALSE(cocluster::detail::parse_proc_stat(good.substr(0, good.find(" 321 "))).has_value());
  CHECK_FALSE(cocluster::detail::parse_proc_stat("4242 (w) S 1 4242 4242 0 -1 4194560 1200 0 3 0 "
                                                 "1x0 50 0 0 20 0 1 0 9000 12345678 321")
                  .has_value());
  CHECK_FALSE(cocluster::detail::parse_proc_stat("4242 (w) SS 1 4242 4242 0 -1 4194560 1200 0 3 0 "
                                                 "150 50 0 0 20 0 1 0 9000 12345678 321")
                  .has_value());
  // Exactly the fields needed, nothing after: enough.
  CHECK(cocluster::detail::parse_proc_stat("4242 (w) R 1 4242 4242 0 -1 4194560 1200 0 3 0 150 50 "
                                           "0 0 20 0 1 0 9000 12345678 321")
            .has_value());
}

TEST_CASE("usage turns ticks into seconds with the tick rate and pages into bytes with the page "
          "size") {
  const auto stat = *cocluster::detail::parse_proc_stat(stat_line("w"));
  const auto usage = cocluster::detail::usage_of(stat, 100, 4096);
  CHECK(usage.cpu_seconds == doctest::Approx(2.0)); // (150 + 50) / 100
  CHECK(usage.resident_bytes == 321u * 4096u);
  const auto fast = cocluster::detail::usage_of(stat, 1000, 16384);
  CHECK(fast.cpu_seconds == doctest::Approx(0.2));
  CHECK(fast.resident_bytes == 321u * 16384u);
  // An unknown tick rate counts as Linux's USER_HZ, 100.
  CHECK(cocluster::detail::usage_of(stat, -1, 4096).cpu_seconds == doctest::Approx(2.0));
}

TEST_CASE("label values escape backslash and double quote and line feed") {
  using cocluster::detail::prometheus::escape_label_value;
  CHECK(escape_label_value("plain") == "plain");
  CHECK(escape_label_value("a\\b") == "a\\\\b");
  CHECK(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(escape_label_value("two\nlines") == "two\\nlines");
  CHECK(escape_label_value("\\\"\n") == "\\\\\\\"\\n");
}

TEST_CASE("help text escapes backslash and line feed and keeps double quotes") {
  using cocluster::detail::prometheus::escape_help;
  CHECK(escape_help("a \"b\" c\\d\ne") == "a \"b\" c\\\\d\\ne");
}

TEST_CASE("sample values print whole numbers as integers and others in shortest form") {
  using cocluster::detail::prometheus::format_value;
  CHECK(format_value(std::uint64_t{18446744073709551615u}) == "18446744073709551615");
  CHECK(format_value(3.0) == "3");
  CHECK(format_value(2.5) == "2.5");
  CHECK(format_value(0.1) == "0.1");
  CHECK(format_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(cocluster::detail::prometheus::format_time(
            std::chrono::system_clock::time_point(std::chrono::milliseconds(1500))) == "1.5");
}

TEST_CASE("every family has HELP and TYPE lines before its samples and its samples together") {
  cocluster::cluster_metrics snapshot;
  snapshot.workers.push_back(sample_worker());
  auto second = sample_worker();
  second.id = 4;
  second.pid = 1300;
  snapshot.workers.push_back(second);
  snapshot.primary = cocluster::process_usage{1000, 0.5};
  const auto text = cocluster::to_prometheus_text(snapshot);
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  std::set<std::string> families;
  std::string help, type; // of the family being written
  for (const auto& line : lines_of(text)) {
    if (line.rfind("# HELP ", 0) == 0) {
      help = line.substr(7, line.find(' ', 7) - 7);
      CHECK(families.insert(help).second); // no family twice
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const auto rest = line.substr(7);
      type = rest.substr(0, rest.find(' '));
      CHECK(type == help);
      const auto kind = rest.substr(rest.find(' ') + 1);
      CHECK((kind == "counter" || kind == "gauge"));
      CHECK(type.rfind("cocluster_", 0) == 0);
      if (kind == "counter")
        CHECK(type.substr(type.size() - 6) == "_total");
      continue;
    }
    CAPTURE(line);
    const auto name = line.substr(0, line.find_first_of("{ "));
    CHECK(name == type); // a sample of the family whose lines precede it
  }
  CHECK(families.size() >= 25);
}

TEST_CASE("per-worker samples carry the worker's id and pid and the snapshot's values") {
  cocluster::cluster_metrics snapshot;
  snapshot.workers.push_back(sample_worker());
  snapshot.totals.connections_handed = 70;
  snapshot.totals.ipc.messages_received = 90;
  snapshot.totals.ipc.user_messages_received = 40;
  snapshot.primary = cocluster::process_usage{2048, 0.75};
  const auto text = cocluster::to_prometheus_text(snapshot);
  for (
      const std::string line : {
          "cocluster_workers{state=\"listening\"} 1",
          "cocluster_workers{state=\"dead\"} 0",
          "cocluster_worker_info{worker=\"3\",pid=\"1234\",state=\"listening\",kind=\"cocluster\"} "
          "1",
          "cocluster_worker_start_time_seconds{worker=\"3\",pid=\"1234\"} 1.5",
          "cocluster_worker_ready_time_seconds{worker=\"3\",pid=\"1234\"} 2",
          "cocluster_worker_connections_handed_total{worker=\"3\",pid=\"1234\"} 7",
          "cocluster_worker_connections_refused_total{worker=\"3\",pid=\"1234\"} 1",
          "cocluster_worker_open_connections{worker=\"3\",pid=\"1234\"} 4",
          "cocluster_worker_ipc_messages_sent_total{worker=\"3\",pid=\"1234\",kind=\"user\"} 6",
          "cocluster_worker_ipc_messages_sent_total{worker=\"3\",pid=\"1234\",kind=\"internal\"} "
          "14",
          "cocluster_worker_ipc_messages_received_total{worker=\"3\",pid=\"1234\",kind=\"user\"} 4",
          "cocluster_worker_ipc_messages_received_total{worker=\"3\",pid=\"1234\",kind="
          "\"internal\"} 5",
          "cocluster_worker_ipc_sent_bytes_total{worker=\"3\",pid=\"1234\"} 1000",
          "cocluster_worker_ipc_received_bytes_total{worker=\"3\",pid=\"1234\"} 800",
          "cocluster_worker_ipc_queued_bytes{worker=\"3\",pid=\"1234\"} 12",
          "cocluster_worker_resident_memory_bytes{worker=\"3\",pid=\"1234\"} 4096000",
          "cocluster_worker_cpu_seconds_total{worker=\"3\",pid=\"1234\"} 1.25",
          "cocluster_slot_restarts_total{slot=\"1\"} 2",
          "cocluster_connections_handed_total 70",
          "cocluster_ipc_messages_received_total{kind=\"user\"} 40",
          "cocluster_ipc_messages_received_total{kind=\"internal\"} 50",
          "cocluster_primary_resident_memory_bytes 2048",
          "cocluster_primary_cpu_seconds_total 0.75",
      }) {
    CAPTURE(line);
    CHECK(has_line(text, line));
  }
}

TEST_CASE("values the snapshot does not know have no sample") {
  cocluster::cluster_metrics snapshot;
  auto node = sample_worker();
  node.cocluster_peer = false;
  node.open_connections.reset();
  node.usage.reset();
  node.ready_time.reset();
  node.slot.reset();
  node.restarts.reset();
  snapshot.workers.push_back(node);
  const auto text = cocluster::to_prometheus_text(snapshot);
  CHECK(has_line(text, "cocluster_worker_info{worker=\"3\",pid=\"1234\",state=\"listening\","
                       "kind=\"node\"} 1"));
  CHECK_FALSE(has_sample_of(text, "cocluster_worker_open_connections{"));
  CHECK_FALSE(has_sample_of(text, "cocluster_worker_resident_memory_bytes{"));
  CHECK_FALSE(has_sample_of(text, "cocluster_worker_cpu_seconds_total{"));
  CHECK_FALSE(has_sample_of(text, "cocluster_worker_ready_time_seconds{"));
  CHECK_FALSE(has_sample_of(text, "cocluster_slot_restarts_total{"));
  CHECK_FALSE(has_sample_of(text, "cocluster_primary_resident_memory_bytes "));
  CHECK_FALSE(has_sample_of(text, "cocluster_primary_cpu_seconds_total "));
  // A worker not online yet is of unknown kind.
  node.online_time.reset();
  node.state = cocluster::worker_state::none;
  snapshot.workers.assign(1, node);
  CHECK(has_line(
      cocluster::to_prometheus_text(snapshot),
      "cocluster_worker_info{worker=\"3\",pid=\"1234\",state=\"none\",kind=\"unknown\"} 1"));
}

TEST_CASE("slot restarts print once per slot with the largest count among its workers") {
  cocluster::cluster_metrics snapshot;
  auto old = sample_worker();
  old.restarts = 2;
  auto replacement = sample_worker();
  replacement.id = 9;
  replacement.restarts = 3;
  auto other = sample_worker();
  other.id = 10;
  other.slot = 0;
  other.restarts = 0;
  snapshot.workers = {old, replacement, other};
  const auto text = cocluster::to_prometheus_text(snapshot);
  CHECK(has_line(text, "cocluster_slot_restarts_total{slot=\"1\"} 3"));
  CHECK(has_line(text, "cocluster_slot_restarts_total{slot=\"0\"} 0"));
  CHECK_FALSE(has_line(text, "cocluster_slot_restarts_total{slot=\"1\"} 2"));
}

TEST_SUITE_END();
