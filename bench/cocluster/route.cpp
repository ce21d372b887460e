// cocluster_route: worker -> worker messages through the primary.
//
//   cocluster_route relay --serialization json|advanced [--messages 100000] [--window 2000]
//       The primary forks two workers: worker 2 sends `messages` copies of the small object to
//       worker 1 with `cluster.send_to` (the primary routes them); worker 1 counts them and,
//       after every `window`, sends worker 2 an acknowledgement the same way. The sender keeps
//       at most two windows unacknowledged, so the queues stay bounded. The sender's clock runs
//       from its first message to the acknowledgement of the last window (after a warm-up
//       window). Prints {"msgs_per_s":..,"messages":..,"seconds":..}.
//
// node/route.js is the same exchange on Node's cluster, relayed through the primary by hand.
#include "common.hpp"

#include <csignal>
#include <cstdint>

namespace {

constexpr int receiver_id = 1;
constexpr int sender_id = 2;

nlohmann::json small_json() {
  nlohmann::json j;
  j["type"] = "ping";
  j["id"] = 12345;
  j["name"] = "worker-1";
  j["tags"] = nlohmann::json::array();
  j["tags"].push_back("a");
  j["tags"].push_back("b");
  j["tags"].push_back("c");
  j["ok"] = true;
  return j;
}

nlohmann::json ack_json(std::int64_t received) {
  nlohmann::json j;
  j["ack"] = received;
  return j;
}

nlohmann::json result_line(const char* serialization, std::int64_t messages, double seconds) {
  nlohmann::json j;
  j["impl"] = "cocluster";
  j["serialization"] = serialization;
  j["messages"] = messages;
  j["seconds"] = seconds;
  j["msgs_per_s"] = static_cast<double>(messages) / seconds;
  return j;
}

template <class S>
std::int64_t ack_of(const typename S::value_type& m) {
  if constexpr (std::is_same_v<S, cocluster::json>) {
    auto it = m.find("ack");
    return it == m.end() ? -1 : it->template get<std::int64_t>();
  } else {
    const auto* ack = m.is_object() ? m.find("ack") : nullptr;
    return ack == nullptr ? -1 : static_cast<std::int64_t>(ack->as_number());
  }
}

template <class S>
using cluster_of = cocluster::cluster<cocluster::round_robin, S>;

// Worker 1: counts, acknowledges every window.
template <class S>
asio::awaitable<void> receiver(cluster_of<S>& cluster, std::int64_t window) {
  auto routed = cluster.worker().subscribe(cocluster::event::routed_message);
  std::int64_t received = 0;
  for (;;) {
    auto [ec, message] = co_await routed.async_receive(bench::as_tuple);
    if (ec)
      co_return;
    if (++received % window == 0)
      cluster.send_to(message.from, S::from_json(ack_json(received)));
    while (auto more = routed.try_receive())
      if (++received % window == 0)
        cluster.send_to(more->from, S::from_json(ack_json(received)));
  }
}

// Sends until `total` messages in all were acknowledged, at most two windows ahead; returns the
// count acknowledged.
template <class S>
asio::awaitable<std::int64_t> send_until(
    cluster_of<S>& cluster,
    cocluster::event_stream<cocluster::routed_message<typename S::value_type>>& acks,
    const typename S::value_type& payload, std::int64_t acked, std::int64_t total,
    std::int64_t window) {
  auto self = cluster.worker();
  std::int64_t sent = acked;
  while (acked < total) {
    while (sent < total && sent - acked < 2 * window) {
      ++sent;
      if (!cluster.send_to(receiver_id, payload))
        co_await self.async_drain();
    }
    auto ack = co_await acks.async_receive();
    acked = ack_of<S>(ack.message);
  }
  co_return acked;
}

// Worker 2: sends a warm-up window, then `messages`, at most two windows ahead of the acks.
template <class S>
asio::awaitable<void> sender(cluster_of<S>& cluster, std::int64_t messages, std::int64_t window) {
  auto self = cluster.worker();
  auto acks = self.subscribe(cocluster::event::routed_message);
  const auto payload = S::from_json(small_json());
  const std::int64_t warm = co_await send_until<S>(cluster, acks, payload, 0, window, window);
  const auto start = bench::clock::now();
  co_await send_until<S>(cluster, acks, payload, warm, warm + messages, window);
  const double seconds = bench::seconds_since(start);
  co_await self.async_send(S::from_json(result_line(S::mode_name.data(), messages, seconds)));
}

template <class S>
nlohmann::json as_json(const typename S::value_type& m) {
  if constexpr (std::is_same_v<S, cocluster::json>)
    return m;
  else
    return S::template from_value<nlohmann::json>(m);
}

template <class S>
asio::awaitable<void> primary(cluster_of<S>& cluster) {
  auto results = cluster.subscribe(cocluster::event::message);
  auto first = cluster.fork();  // receiver_id
  auto second = cluster.fork(); // sender_id
  if (first.id() != receiver_id || second.id() != sender_id)
    throw std::logic_error("unexpected worker ids");
  auto result = co_await results.async_receive();
  bench::emit(as_json<S>(result.message));
  co_await cluster.disconnect();
}

template <class S>
int run(const bench::arguments& args) {
  asio::io_context io;
  cluster_of<S> cluster(io);
  const std::int64_t window = args.get_int("window", 2000);
  // A whole number of windows: the last acknowledgement is the last message's.
  const std::int64_t messages = (args.get_int("messages", 100000) + window - 1) / window * window;
  if (cluster.is_worker()) {
    std::signal(SIGINT, SIG_IGN);
    if (cluster.worker().id() == receiver_id)
      asio::co_spawn(io, receiver(cluster, window), bench::fail_on_exception);
    else
      asio::co_spawn(io, sender(cluster, messages, window), bench::fail_on_exception);
  } else if (args.mode == "relay") {
    asio::co_spawn(io, primary(cluster), bench::fail_on_exception);
  } else {
    std::fprintf(stderr, "usage: cocluster_route relay --serialization json|advanced\n");
    return 2;
  }
  io.run();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  bench::first_byte_gate();
  const auto args = bench::parse_arguments(argc, argv);
  if (args.get("serialization", "json") == "advanced")
    return run<cocluster::advanced>(args);
  return run<cocluster::json>(args);
}
