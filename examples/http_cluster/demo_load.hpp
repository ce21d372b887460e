// --demo: keep-alive load driven at the pool's own port for a few seconds, its rate printed,
// then a graceful stop under that load.
#ifndef HTTP_CLUSTER_DEMO_LOAD_HPP
#define HTTP_CLUSTER_DEMO_LOAD_HPP

#include <cocluster.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "as_tuple.hpp"

namespace http_cluster {

using namespace asio::experimental::awaitable_operators;

// What the demo's clients and its timer share with the primary.
struct demo_state {
  bool stopping = false;                  // a stop has begun: demo clients do not reconnect
  std::uint64_t responses = 0;            // received by the demo's clients
  asio::steady_timer* demo_end = nullptr; // cut short by a stop
};

// 32 keep-alive clients hammering the server until the stop: each reconnects when its worker
// retires its connection (`Connection: close`, a reload) and ends when that happens during the
// stop.
inline asio::awaitable<void> drive_load(int port, demo_state& state) {
  auto executor = co_await asio::this_coro::executor;
  auto remaining = std::make_shared<int>(32);
  auto finished = std::make_shared<asio::steady_timer>(executor,
                                                       asio::steady_timer::time_point::max());
  const asio::ip::tcp::endpoint server(asio::ip::make_address("127.0.0.1"),
                                       static_cast<unsigned short>(port));
  for (int c = 0; c < 32; ++c)
    asio::co_spawn(
        executor,
        [=, &state]() -> asio::awaitable<void> {
          const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
          while (!state.stopping) {
            asio::ip::tcp::socket socket(executor);
            auto [connect_error] = co_await socket.async_connect(server, as_tuple);
            if (connect_error)
              break;
            std::string in;
            for (bool open = true; open;) {
              auto [we, wn] = co_await asio::async_write(socket, asio::buffer(request), as_tuple);
              if (we)
                break;
              // A response ends with "Hello World\n".
              std::size_t end;
              while ((end = in.find("Hello World\n")) == std::string::npos) {
                char buffer[4096];
                auto [re, rn] = co_await socket.async_read_some(asio::buffer(buffer), as_tuple);
                if (re) {
                  open = false;
                  break;
                }
                in.append(buffer, rn);
              }
              if (!open)
                break;
              open = in.find("Connection: close") > end; // the worker retires this connection
              in.erase(0, end + 12);
              ++state.responses;
            }
          }
          if (--*remaining == 0)
            finished->cancel();
        },
        asio::detached);
  co_await finished->async_wait(as_tuple);
}

// The demo's end: the rate so far, then a graceful stop under load (unless a signal stopped the
// supervisor first).
template <class Supervisor>
asio::awaitable<void> stop_after(Supervisor& supervisor, int seconds, demo_state& state) {
  const auto start = std::chrono::steady_clock::now();
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(seconds));
  state.demo_end = &timer;
  co_await timer.async_wait(as_tuple);
  state.demo_end = nullptr;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("demo: %llu responses, %.0f requests/s\n",
              static_cast<unsigned long long>(state.responses),
              static_cast<double>(state.responses) / elapsed);
  std::fflush(stdout);
  if (state.stopping)
    co_return; // (a second stop would kill the workers)
  std::printf("demo: stopping under load\n");
  std::fflush(stdout);
  state.stopping = true;
  co_await supervisor.async_stop(as_tuple);
}

} // namespace http_cluster

#endif // HTTP_CLUSTER_DEMO_LOAD_HPP
