// cocluster_ipc: the IPC workloads, primary <-> one worker.
//
//   cocluster_ipc rtt        --serialization json|advanced [--seconds 1] [--busy-poll-us 0]
//       Ping-pong of a small object: the primary sends, the worker sends the message it got
//       back, the primary waits for it. Prints {"rtt_us":..,"round_trips":..,"frame_bytes":..}.
//       --busy-poll-us sets ipc_options::busy_poll on both sides (the worker runs with the
//       primary's arguments); the default 0 is the library's default.
//   cocluster_ipc throughput --serialization json|advanced --payload small|string|binary
//                            [--seconds 1]
//       The primary sends as fast as the channel takes (send() until it says the queue is above
//       the high-water mark, then async_drain), for `seconds`, then "end"; the worker counts what
//       it received and answers {"count":N}. Rate = N / (time until that answer). Prints
//       {"msgs_per_s":..,"mb_per_s":..,"frame_bytes":..}; MB/s counts payload bytes (64 KiB per
//       string or binary message).
//
// Payloads (the Node side sends the same JavaScript values):
//   small   {"type":"ping","id":12345,"name":"worker-1","tags":["a","b","c"],"ok":true}
//   string  a 65536-character ASCII string
//   binary  64 KiB of bytes: a Buffer in advanced mode; in json mode what Node's
//           JSON.stringify(buffer) sends, {"type":"Buffer","data":[...65536 numbers...]}
#include "common.hpp"

#include <csignal>
#include <cstdint>

namespace {

constexpr std::size_t big = 65536;

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

std::string big_string() {
  std::string s(big, 'a');
  for (std::size_t i = 0; i < big; ++i)
    s[i] = static_cast<char>('a' + i % 26);
  return s;
}

std::vector<std::uint8_t> big_bytes() {
  std::vector<std::uint8_t> bytes(big);
  for (std::size_t i = 0; i < big; ++i)
    bytes[i] = static_cast<std::uint8_t>((i * 31 + 7) & 0xff);
  return bytes;
}

// Node's Buffer.prototype.toJSON.
nlohmann::json buffer_as_json() {
  nlohmann::json j;
  j["type"] = "Buffer";
  auto& data = j["data"] = nlohmann::json::array();
  for (auto byte : big_bytes())
    data.push_back(byte);
  return j;
}

template <class S>
typename S::value_type make_payload(const std::string& kind) {
  if constexpr (std::is_same_v<S, cocluster::json>) {
    if (kind == "small")
      return small_json();
    if (kind == "string")
      return big_string();
    if (kind == "binary")
      return buffer_as_json();
  } else {
    if (kind == "small")
      return cocluster::value::from_json(small_json());
    if (kind == "string")
      return cocluster::value(big_string());
    if (kind == "binary")
      return cocluster::value::buffer(big_bytes());
  }
  throw std::invalid_argument("unknown payload " + kind);
}

template <class S>
typename S::value_type end_marker() {
  return typename S::value_type("end");
}

template <class S>
bool is_end(const typename S::value_type& m) {
  if constexpr (std::is_same_v<S, cocluster::json>)
    return m.is_string() && m.template get_ref<const std::string&>() == "end";
  else
    return m.is_string() && m.as_string() == "end";
}

template <class S>
typename S::value_type count_message(std::uint64_t count) {
  nlohmann::json j;
  j["count"] = count;
  return S::from_json(std::move(j));
}

template <class S>
std::uint64_t count_of(const typename S::value_type& m) {
  if constexpr (std::is_same_v<S, cocluster::json>)
    return m.at("count").template get<std::uint64_t>();
  else
    return static_cast<std::uint64_t>(m["count"].as_number());
}

template <class S>
std::size_t frame_bytes(const typename S::value_type& m) {
  std::string out;
  S::encode(m, out);
  return out.size() + (S::frame_format == cocluster::framing::length_prefixed ? 4 : 1);
}

nlohmann::json rtt_line(const char* serialization, double seconds, std::uint64_t round_trips,
                        std::size_t frame, long busy_poll_us) {
  nlohmann::json j;
  j["impl"] = "cocluster";
  j["serialization"] = serialization;
  j["rtt_us"] = seconds * 1e6 / static_cast<double>(round_trips);
  j["round_trips"] = round_trips;
  j["frame_bytes"] = frame;
  j["busy_poll_us"] = busy_poll_us;
  return j;
}

nlohmann::json throughput_line(const char* serialization, const std::string& payload,
                               double seconds, std::uint64_t sent, std::uint64_t received,
                               std::size_t frame) {
  nlohmann::json j;
  j["impl"] = "cocluster";
  j["serialization"] = serialization;
  j["payload"] = payload;
  j["seconds"] = seconds;
  j["sent"] = sent;
  j["messages"] = received;
  j["msgs_per_s"] = static_cast<double>(received) / seconds;
  j["mb_per_s"] = payload == "small" ? 0.0 : static_cast<double>(received) * big / seconds / 1e6;
  j["frame_bytes"] = frame;
  return j;
}

// ---- primary ----

template <class S>
asio::awaitable<void> primary_rtt(cocluster::cluster<cocluster::round_robin, S>& cluster,
                                  double seconds, long busy_poll_us) {
  auto worker = cluster.fork();
  co_await worker.online();
  auto replies = worker.subscribe(cocluster::event::message);
  const auto message = make_payload<S>("small");
  for (int i = 0; i < 2000; ++i) { // warm-up
    worker.send(message);
    co_await replies.async_receive();
  }
  std::uint64_t round_trips = 0;
  const auto start = bench::clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 64; ++i) {
      worker.send(message);
      auto [ec, reply] = co_await replies.async_receive(bench::as_tuple);
      if (ec)
        throw std::system_error(ec, "rtt: no reply");
    }
    round_trips += 64;
    elapsed = bench::seconds_since(start);
  }
  bench::emit(rtt_line(S::mode_name.data(), elapsed, round_trips, frame_bytes<S>(message),
                       busy_poll_us));
  co_await cluster.disconnect();
}

template <class S>
asio::awaitable<void> primary_throughput(cocluster::cluster<cocluster::round_robin, S>& cluster,
                                         std::string kind, double seconds) {
  auto worker = cluster.fork();
  co_await worker.online();
  auto replies = worker.subscribe(cocluster::event::message);
  const auto payload = make_payload<S>(kind);
  const auto end = end_marker<S>();
  // Warm-up: one message and an answer.
  worker.send(payload);
  worker.send(end);
  co_await replies.async_receive();

  const int batch = kind == "small" ? 64 : 4;
  std::uint64_t sent = 0;
  const auto start = bench::clock::now();
  while (bench::seconds_since(start) < seconds) {
    for (int i = 0; i < batch; ++i) {
      ++sent;
      if (!worker.send(payload))
        co_await worker.async_drain();
    }
  }
  worker.send(end);
  auto [ec, reply] = co_await replies.async_receive(bench::as_tuple);
  if (ec)
    throw std::system_error(ec, "throughput: no count");
  const double elapsed = bench::seconds_since(start);
  bench::emit(throughput_line(S::mode_name.data(), kind, elapsed, sent, count_of<S>(reply),
                              frame_bytes<S>(payload)));
  co_await cluster.disconnect();
}

// ---- worker ----

template <class S>
asio::awaitable<void> worker_echo(cocluster::cluster<cocluster::round_robin, S>& cluster) {
  auto self = cluster.worker();
  auto messages = self.subscribe(cocluster::event::message);
  for (;;) {
    auto [ec, message] = co_await messages.async_receive(bench::as_tuple);
    if (ec)
      co_return;
    self.send(message);
  }
}

template <class S>
asio::awaitable<void> worker_count(cocluster::cluster<cocluster::round_robin, S>& cluster) {
  auto self = cluster.worker();
  auto messages = self.subscribe(cocluster::event::message);
  std::uint64_t count = 0;
  auto take = [&](const typename S::value_type& message) {
    if (is_end<S>(message)) {
      self.send(count_message<S>(count));
      count = 0;
    } else {
      ++count;
    }
  };
  for (;;) {
    auto [ec, message] = co_await messages.async_receive(bench::as_tuple);
    if (ec)
      co_return;
    take(message);
    // Whatever else already arrived, without suspending for each message.
    while (auto more = messages.try_receive())
      take(*more);
  }
}

template <class S>
int run(const bench::arguments& args) {
  asio::io_context io;
  cocluster::cluster_options options;
  options.ipc.busy_poll = std::chrono::microseconds(args.get_int("busy-poll-us", 0));
  cocluster::cluster<cocluster::round_robin, S> cluster(io, options);
  if (cluster.is_worker()) {
    std::signal(SIGINT, SIG_IGN);
    if (args.mode == "rtt")
      asio::co_spawn(io, worker_echo(cluster), bench::fail_on_exception);
    else
      asio::co_spawn(io, worker_count(cluster), bench::fail_on_exception);
  } else if (args.mode == "rtt") {
    asio::co_spawn(
        io, primary_rtt(cluster, args.get_double("seconds", 1.0), options.ipc.busy_poll.count()),
        bench::fail_on_exception);
  } else if (args.mode == "throughput") {
    asio::co_spawn(io,
                   primary_throughput(cluster, args.get("payload", "small"),
                                      args.get_double("seconds", 1.0)),
                   bench::fail_on_exception);
  } else {
    std::fprintf(stderr, "usage: cocluster_ipc rtt|throughput --serialization json|advanced\n");
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
