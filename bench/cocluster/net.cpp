// cocluster_net: the conn_rate and fairness workloads (the server side; bench/loadgen drives it).
//
//   cocluster_net serve --policy rr|none|reuseport --port P [--workers 2]
//
// N workers listen on 127.0.0.1:P; each connection gets a 1-byte reply to its 1-byte request and
// is closed by the server. Prints {"ready":true,...} once every worker listens, serves until
// SIGTERM, then asks every worker how many connections it answered and prints
// {"per_worker":[...],"total":N}.
#include "common.hpp"

#include <csignal>
#include <cstdint>
#include <memory>

namespace {

using namespace asio::experimental::awaitable_operators;

nlohmann::json ready_line(int port, const char* policy, const std::vector<pid_t>& pids) {
  nlohmann::json j;
  j["ready"] = true;
  j["impl"] = "cocluster";
  j["policy"] = policy;
  j["port"] = port;
  j["primary"] = ::getpid();
  j["workers"] = pids;
  return j;
}

nlohmann::json result_line(const std::vector<std::uint64_t>& counts) {
  nlohmann::json j;
  j["impl"] = "cocluster";
  j["per_worker"] = counts;
  std::uint64_t total = 0;
  for (auto c : counts)
    total += c;
  j["total"] = total;
  return j;
}

nlohmann::json count_message(std::uint64_t count) {
  nlohmann::json j;
  j["count"] = count;
  return j;
}

// ---- worker ----

struct worker_state {
  std::uint64_t answered = 0;
};

asio::awaitable<void> answer(asio::ip::tcp::socket socket, std::shared_ptr<worker_state> state) {
  char byte = 0;
  auto [read_error, n] = co_await socket.async_read_some(asio::buffer(&byte, 1), bench::as_tuple);
  if (read_error || n != 1)
    co_return;
  byte = 'r';
  auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(&byte, 1),
                                                           bench::as_tuple);
  if (!write_error)
    ++state->answered;
  // The socket closes here: the server closes first, as the load generator expects.
}

template <class Policy>
asio::awaitable<void> run_worker(cocluster::cluster<Policy>& cluster, int port) {
  auto state = std::make_shared<worker_state>();
  auto self = cluster.worker();
  auto server = co_await cluster.listen(cocluster::tcp_listen_options(port, "127.0.0.1"));

  asio::co_spawn(
      cluster.get_executor(),
      [state, self]() -> asio::awaitable<void> {
        auto messages = self.subscribe(cocluster::event::message);
        for (;;) {
          auto [ec, message] = co_await messages.async_receive(bench::as_tuple);
          if (ec)
            co_return;
          if (message == "report")
            self.send(count_message(state->answered));
        }
      },
      asio::detached);

  auto executor = cluster.get_executor();
  for (;;) {
    auto [ec, socket] = co_await server.async_accept(bench::as_tuple);
    if (ec)
      break; // closed: the worker is disconnecting
    asio::co_spawn(executor, answer(std::move(socket), state), asio::detached);
  }
}

// ---- primary ----

template <class Policy>
asio::awaitable<void> run_primary(cocluster::cluster<Policy>& cluster, int workers_count, int port,
                                  const char* policy) {
  auto executor = co_await asio::this_coro::executor;
  auto messages = cluster.subscribe(cocluster::event::message);
  std::vector<typename cocluster::cluster<Policy>::worker_type> workers;
  for (int i = 0; i < workers_count; ++i)
    workers.push_back(cluster.fork());
  std::vector<pid_t> pids;
  for (auto& worker : workers) {
    co_await worker.listening();
    pids.push_back(worker.pid());
  }
  bench::emit(ready_line(port, policy, pids));

  asio::signal_set signals(executor, SIGTERM, SIGINT);
  co_await signals.async_wait(asio::use_awaitable);

  std::map<int, std::uint64_t> counts;
  for (auto& worker : workers)
    worker.send("report");
  asio::steady_timer patience(executor, std::chrono::seconds(5));
  while (counts.size() < workers.size()) {
    auto result = co_await (messages.async_receive(bench::as_tuple) ||
                            patience.async_wait(bench::as_tuple));
    if (result.index() == 1)
      break;
    auto [ec, event] = std::get<0>(result);
    if (ec)
      break;
    if (event.message.contains("count"))
      counts[event.worker.id()] = event.message["count"].template get<std::uint64_t>();
  }
  std::vector<std::uint64_t> per_worker;
  for (auto& worker : workers)
    per_worker.push_back(counts[worker.id()]);
  bench::emit(result_line(per_worker));
  for (auto& worker : workers)
    worker.disconnect(std::chrono::milliseconds(200));
  co_await cluster.disconnect();
}

template <class Policy>
int run(const bench::arguments& args, const char* policy) {
  asio::io_context io;
  cocluster::cluster<Policy> cluster(io);
  const int port = args.get_int("port", 0);
  if (cluster.is_worker()) {
    std::signal(SIGINT, SIG_IGN);
    asio::co_spawn(io, run_worker(cluster, port), bench::fail_on_exception);
  } else {
    asio::co_spawn(io, run_primary(cluster, args.get_int("workers", 2), port, policy),
                   bench::fail_on_exception);
  }
  io.run();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  bench::first_byte_gate();
  const auto args = bench::parse_arguments(argc, argv);
  if (args.mode != "serve" || args.get_int("port", 0) <= 0) {
    std::fprintf(stderr, "usage: cocluster_net serve --policy rr|none|reuseport --port P "
                         "[--workers N]\n");
    return 2;
  }
  const auto policy = args.get("policy", "rr");
  if (policy == "none")
    return run<cocluster::shared_socket>(args, "none");
  if (policy == "reuseport")
    return run<cocluster::reuse_port>(args, "reuseport");
  if (policy != "rr") {
    std::fprintf(stderr, "unknown policy %s\n", policy.c_str());
    return 2;
  }
  return run<cocluster::round_robin>(args, "rr");
}
