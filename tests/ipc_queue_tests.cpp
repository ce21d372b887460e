// The IPC layer's limits, tested directly: the write queue's urgent frames beside the
// descriptor gate, and the channel's write_queue_limit counted exactly. Part of the ipc suite
// (tests/ipc_tests.cpp has the rest).
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <cocluster/detail/ipc/channel.hpp>
#include <cocluster/detail/ipc/write_queue.hpp>
#include <cocluster/serialization/json.hpp>

TEST_SUITE_BEGIN("ipc");

TEST_CASE("an urgent frame queued while a descriptor frame waits to be sent goes out while the "
          "gate holds the frames behind it") {
  cocluster::detail::write_queue queue(1);
  auto add = [&](const std::string& text, int fd) {
    const auto start = queue.buffer().size();
    queue.buffer() += text;
    queue.commit_frame(start, fd);
  };
  add("A\n", 10);
  add("B\n", 11);
  queue.push_urgent("ACK\n"); // nothing is in flight yet, but A and B wait to be sent
  auto first = queue.next();
  CHECK(first.fd == 10);
  CHECK(std::string_view(first.data, first.size) == "A\n");
  queue.consume(first, first.size);
  auto urgent = queue.next(); // B waits for A's acknowledgement; the ACK does not
  CHECK(urgent.urgent);
  CHECK(std::string_view(urgent.data, urgent.size) == "ACK\n");
}

TEST_CASE("send refuses a message once exactly write_queue_limit bytes are queued") {
  asio::io_context io; // never run: nothing is written, the queue holds every frame sent
  int ends[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
  cocluster::detail::unique_fd peer(ends[1]);
  const nlohmann::json message = {{"data", std::string(100, 'x')}};
  const std::size_t frame = message.dump().size() + 1;
  cocluster::ipc_options options;
  options.write_queue_limit = 2 * frame;
  options.high_water_mark = 2 * frame;
  auto ipc = std::make_shared<cocluster::detail::channel<cocluster::json>>(
      io.get_executor(), cocluster::detail::unique_fd(ends[0]), options);
  ipc->start({});
  CHECK(ipc->send(message));
  CHECK(ipc->send(message));
  REQUIRE(ipc->queued_bytes() == 2 * frame);
  bool refused = false;
  try {
    (void)ipc->send(message);
  } catch (const std::system_error& e) {
    refused = e.code() == cocluster::errc::write_queue_full;
  }
  CHECK(refused);
  CHECK(ipc->queued_bytes() == 2 * frame);
}

TEST_SUITE_END();
