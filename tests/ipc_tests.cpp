// The IPC layer: framing, the write queue's descriptor gate, and the channel against a raw peer.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include <cocluster/detail/ipc/channel.hpp>
#include <cocluster/detail/ipc/fd_io.hpp>
#include <cocluster/detail/ipc/frame_reader.hpp>
#include <cocluster/detail/ipc/frame_writer.hpp>
#include <cocluster/detail/ipc/handle_inbox.hpp>
#include <cocluster/detail/ipc/protocol.hpp>
#include <cocluster/detail/ipc/requests.hpp>
#include <cocluster/detail/ipc/write_queue.hpp>

#include "support/fds.hpp"
#include "support/processes.hpp"
#include "support/run.hpp"
#include "support/scenario.hpp"
#include "support/worker_scenarios.hpp"

using cocluster::framing;
using cocluster::detail::frame_reader;
using cocluster::detail::unique_fd;
using cocluster::detail::write_queue;
using channel = cocluster::detail::channel<cocluster::json>;
using namespace std::chrono_literals;

namespace {

// Feeds `bytes` to a reader `chunk` bytes at a time and collects the frames.
std::vector<std::string> split(frame_reader& reader, std::string_view bytes, std::size_t chunk,
                               std::string* error = nullptr) {
  std::vector<std::string> frames;
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    const auto piece = bytes.substr(at, chunk);
    auto [space, size] = reader.prepare();
    REQUIRE(size >= piece.size());
    std::memcpy(space, piece.data(), piece.size());
    reader.commit(piece.size());
    std::string_view frame;
    std::string reason;
    for (;;) {
      const auto status = reader.next(frame, reason);
      if (status == frame_reader::status::incomplete)
        break;
      if (status == frame_reader::status::error) {
        if (error)
          *error = reason;
        return frames;
      }
      frames.emplace_back(frame);
    }
  }
  return frames;
}

std::string length_prefixed(std::string_view body) {
  std::string out;
  const auto n = body.size();
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.append(body);
  return out;
}

// A channel on one end of a socketpair; the test holds the other end raw.
struct channel_with_raw_peer {
  explicit channel_with_raw_peer(asio::io_context& io, cocluster::ipc_options options = {}) {
    int ends[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
    peer.reset(ends[1]);
    ipc = std::make_shared<channel>(io.get_executor(), unique_fd(ends[0]), options);
    channel::callbacks callbacks;
    callbacks.message = [this](nlohmann::json&& m) { messages.push_back(std::move(m)); };
    callbacks.internal = [this](nlohmann::json&& m, unique_fd fd) {
      internal.push_back(std::move(m));
      internal_fds.push_back(std::move(fd));
    };
    callbacks.error = [this](std::error_code ec, const std::string& what) {
      errors.push_back({ec, what});
    };
    callbacks.closed = [this](std::error_code ec) {
      closed = true;
      close_reason = ec;
    };
    callbacks.handle_message = [this](nlohmann::json&& m, cocluster::handle&& h) {
      messages.push_back(std::move(m));
      handles.push_back(std::move(h));
    };
    ipc->start(std::move(callbacks));
  }

  void write_raw(std::string_view bytes, int fd = -1) const {
    std::error_code ec;
    std::size_t done = 0;
    while (done < bytes.size()) {
      done += cocluster::detail::send_with_fd(peer.get(), bytes.data() + done, bytes.size() - done,
                                              done == 0 ? fd : -1, ec);
      REQUIRE(!ec);
    }
  }

  std::string read_raw() const {
    std::string out(65536, '\0');
    const ssize_t n = ::recv(peer.get(), out.data(), out.size(), MSG_DONTWAIT);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }

  unique_fd peer;
  std::shared_ptr<channel> ipc;
  std::vector<nlohmann::json> messages;
  std::vector<nlohmann::json> internal;
  std::vector<unique_fd> internal_fds;
  std::vector<cocluster::handle> handles;
  std::vector<cocluster::worker_error> errors;
  bool closed = false;
  std::error_code close_reason;
};

// Runs the loop until `done()` or 10 s, however slowly this process gets the CPU.
template <class Done>
void run_until(asio::io_context& io, Done done) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < until)
    io.run_one_for(100ms);
}

// Runs every handler that is ready, until none is: what the channel can do without its peer.
void run_while_ready(asio::io_context& io) {
  while (io.poll() > 0) {
  }
}

// Bytes waiting to be read from socket `fd`.
std::size_t readable(int fd) {
  int n = 0;
  REQUIRE(::ioctl(fd, FIONREAD, &n) == 0);
  return static_cast<std::size_t>(n);
}

// What a raw peer reads without blocking: the bytes and the descriptors that came with them.
struct raw_read {
  std::string bytes;
  std::vector<unique_fd> fds;
};

raw_read read_with_fds(int fd) {
  raw_read got;
  for (;;) {
    char buffer[65536];
    std::error_code ec;
    const auto r = cocluster::detail::receive_with_fds(fd, buffer, sizeof buffer, got.fds, ec);
    if (ec || r.eof)
      return got;
    got.bytes.append(buffer, r.bytes);
  }
}

// Runs the loop until the raw peer `fd` has something to read (at most 10 s), and reads it.
raw_read next_sent(asio::io_context& io, int fd) {
  raw_read got;
  run_until(io, [&] {
    auto more = read_with_fds(fd);
    got.bytes += more.bytes;
    for (auto& received : more.fds)
      got.fds.push_back(std::move(received));
    return !got.bytes.empty();
  });
  return got;
}

// The newline-delimited frames in `bytes`, parsed.
std::vector<nlohmann::json> frames_of(const std::string& bytes) {
  std::vector<nlohmann::json> frames;
  for (std::size_t at = 0, end; (end = bytes.find('\n', at)) != std::string::npos; at = end + 1)
    frames.push_back(nlohmann::json::parse(bytes.substr(at, end - at)));
  return frames;
}

void set_nonblocking(int fd) {
  REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
}

// A connected Unix socket pair; the channel sends (or receives) its write end, the test keeps
// its read end.
struct socket_pair {
  socket_pair() {
    int ends[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
    read_end.reset(ends[0]);
    write_end.reset(ends[1]);
  }
  unique_fd read_end, write_end;
};

// True when `fd` is the write end of `pipe` (or a copy of it): a byte written to it comes out of
// the read end.
bool writes_into(int fd, const socket_pair& pair) {
  char byte = 0;
  return ::write(fd, "x", 1) == 1 && ::read(pair.read_end.get(), &byte, 1) == 1 && byte == 'x';
}

} // namespace

TEST_SUITE_BEGIN("ipc");

TEST_CASE("the frame reader splits lines however the bytes are chunked") {
  const std::string bytes = "{\"a\":1}\n{\"b\":\"caf\xc3\xa9\"}\n[1,2,3]\n";
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u}) {
    frame_reader reader(framing::newline_delimited, 1024);
    const auto frames = split(reader, bytes, chunk);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0] == "{\"a\":1}");
    CHECK(frames[1] == "{\"b\":\"caf\xc3\xa9\"}"); // the UTF-8 sequence split at chunk 1 survives
    CHECK(frames[2] == "[1,2,3]");
    CHECK(!reader.has_partial());
  }
}

TEST_CASE("the frame reader keeps a partial line until its newline arrives") {
  frame_reader reader(framing::newline_delimited, 1024);
  CHECK(split(reader, "{\"partial\":", 64).empty());
  CHECK(reader.has_partial());
  const auto frames = split(reader, "true}\n", 64);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0] == "{\"partial\":true}");
}

TEST_CASE("the frame reader rejects a line longer than the limit before it ends") {
  frame_reader reader(framing::newline_delimited, 100);
  std::string error;
  const auto frames = split(reader, std::string(500, 'x'), 50, &error);
  CHECK(frames.empty());
  CHECK(error.find("100") != std::string::npos);
}

TEST_CASE("the frame reader takes a line of exactly the limit and refuses one byte more, with or "
          "without its newline") {
  const std::string at_limit(100, 'x');
  for (std::size_t chunk : {1u, 7u, 100u, 101u, 500u}) {
    CAPTURE(chunk);
    frame_reader reader(framing::newline_delimited, 100);
    std::string error;
    const auto frames = split(reader, at_limit + "\n" + at_limit + "\n", chunk, &error);
    CHECK(error.empty());
    REQUIRE(frames.size() == 2);
    CHECK(frames[0] == at_limit);
    CHECK(frames[1] == at_limit);
  }
  const std::string over(101, 'x');
  {
    frame_reader reader(framing::newline_delimited, 100);
    std::string error;
    CHECK(split(reader, over + "\n", 500, &error).empty()); // the whole line in one read
    CHECK(error.find("a line of 101 bytes") != std::string::npos);
  }
  {
    frame_reader reader(framing::newline_delimited, 100);
    std::string error;
    CHECK(split(reader, over, 500, &error).empty()); // no newline yet: refused already
    CHECK(error.find("without a newline") != std::string::npos);
  }
}

TEST_CASE("the frame reader splits length-prefixed frames, even with a split length header") {
  const std::string bytes = length_prefixed("hello") + length_prefixed("") + length_prefixed("xyz");
  for (std::size_t chunk : {1u, 3u, 5u, 100u}) {
    frame_reader reader(framing::length_prefixed, 1024);
    const auto frames = split(reader, bytes, chunk);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0] == "hello");
    CHECK(frames[1].empty());
    CHECK(frames[2] == "xyz");
  }
}

TEST_CASE("the frame reader rejects a declared length over the limit without allocating it") {
  frame_reader reader(framing::length_prefixed, 1000);
  std::string error;
  const auto frames = split(reader, std::string("\xff\xff\xff\xff", 4), 4, &error);
  CHECK(frames.empty());
  CHECK(error.find("4294967295") != std::string::npos);
}

TEST_CASE("the frame writer's frames are what the frame reader splits, in both framings") {
  for (const auto format :
       {cocluster::framing::newline_delimited, cocluster::framing::length_prefixed}) {
    const cocluster::detail::frame_writer writer(format);
    std::string wire;
    const std::vector<std::string> bodies{"{\"a\":1}", std::string(70000, 'x'), "[]"};
    for (const auto& body : bodies) {
      const std::size_t start = writer.begin(wire);
      wire += body;
      writer.end(wire, start);
    }
    if (format == cocluster::framing::length_prefixed)
      CHECK(wire.substr(0, 4 + 7) == length_prefixed(bodies[0]));
    else
      CHECK(wire.substr(0, 8) == bodies[0] + "\n");
    frame_reader reader(format, 1 << 20);
    CHECK(split(reader, wire, 4096) == bodies);
  }
}

TEST_CASE("the handle inbox gives each NODE_HANDLE the oldest descriptor, none to the claimant of "
          "a lost one, and tells when too many wait unclaimed") {
  cocluster::detail::handle_inbox inbox;
  int ends[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
  inbox.received().emplace_back(ends[0]);
  inbox.mark_lost();
  inbox.received().emplace_back(ends[1]);
  CHECK(inbox.take_oldest().get() == ends[0]);
  CHECK_FALSE(inbox.take_oldest()); // the lost one's place
  CHECK(inbox.take_oldest().get() == ends[1]);
  CHECK_FALSE(inbox.take_oldest()); // nothing left
  for (std::size_t n = 0; n <= cocluster::detail::handle_inbox::max_unclaimed; ++n) {
    CHECK_FALSE(inbox.overflowing());
    inbox.mark_lost();
  }
  CHECK(inbox.overflowing());
}

TEST_CASE("the write queue sends many frames in one chunk") {
  write_queue queue;
  for (int i = 0; i < 100; ++i) {
    const auto start = queue.buffer().size();
    queue.buffer() += "{\"i\":" + std::to_string(i) + "}\n";
    queue.commit_frame(start);
  }
  const auto chunk = queue.next();
  CHECK(chunk.size == queue.size());
  queue.consume(chunk, chunk.size);
  CHECK(queue.empty());
}

TEST_CASE("the write queue holds a second descriptor frame until the first is acknowledged") {
  write_queue queue(1);
  auto add = [&](std::string text, int fd) {
    const auto start = queue.buffer().size();
    queue.buffer() += text;
    queue.commit_frame(start, fd);
  };
  add("A\n", 10);
  add("B\n", 11);
  add("C\n", -1);
  auto first = queue.next();
  CHECK(first.fd == 10);
  CHECK(std::string_view(first.data, first.size) == "A\n");
  queue.consume(first, first.size);
  CHECK(!queue.next()); // B waits for A's acknowledgement, and C waits behind B
  queue.push_urgent("ACK\n");
  auto urgent = queue.next(); // an acknowledgement of ours never waits behind the gate
  CHECK(urgent.urgent);
  CHECK(std::string_view(urgent.data, urgent.size) == "ACK\n");
  queue.consume(urgent, urgent.size);
  queue.acknowledge_fd();
  auto second = queue.next();
  CHECK(second.fd == 11);
  CHECK(std::string_view(second.data, second.size) == "B\nC\n");
}

TEST_CASE("a channel delivers 100,000 small messages in order with none lost") {
  asio::io_context io;
  int ends[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
  auto sender = std::make_shared<channel>(io.get_executor(), unique_fd(ends[0]),
                                          cocluster::ipc_options{});
  auto receiver = std::make_shared<channel>(io.get_executor(), unique_fd(ends[1]),
                                            cocluster::ipc_options{});
  constexpr int count = 100000;
  int next = 0;
  bool in_order = true;
  sender->start({});
  channel::callbacks callbacks;
  callbacks.message = [&](nlohmann::json&& m) {
    in_order = in_order && m["i"] == next;
    if (++next == count)
      io.stop();
  };
  receiver->start(std::move(callbacks));
  for (int i = 0; i < count; ++i)
    sender->send({{"i", i}, {"pad", "0123456789"}});
  io.run_for(60s);
  CHECK(next == count);
  CHECK(in_order);
}

TEST_CASE("a channel carries a 16 MiB message intact and completes the send once it is written") {
  asio::io_context io;
  channel_with_raw_peer c(io); // the raw peer reads only when this test does
  set_nonblocking(c.peer.get());
  std::string payload(16 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>('a' + (i * 7919) % 26);
  const nlohmann::json message = {{"payload", payload}};
  const std::string frame = message.dump() + "\n";
  std::string received;
  // What the flush's completion found: bytes still queued, and bytes in the peer's hands
  // (read, or waiting in its socket).
  std::optional<std::pair<std::size_t, std::size_t>> at_flush;
  c.ipc->send(message);
  c.ipc->async_flush([&](std::error_code ec) {
    CHECK(!ec);
    at_flush.emplace(c.ipc->queued_bytes(), received.size() + readable(c.peer.get()));
  });
  // 16 MiB do not fit in the socket: with the peer not reading, the channel can write only part
  // of it, so the flush cannot complete.
  run_while_ready(io);
  CHECK(c.ipc->queued_bytes() > 0);
  CHECK_FALSE(at_flush.has_value());
  // The peer reads; the flush completes once the last byte is in its socket.
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!at_flush && std::chrono::steady_clock::now() < until) {
    io.poll();
    received += c.read_raw();
  }
  REQUIRE(at_flush.has_value());
  CHECK(at_flush->first == 0);
  CHECK(at_flush->second == frame.size());
  for (std::string more; !(more = c.read_raw()).empty();)
    received += more;
  CHECK(received.size() == frame.size());
  const bool intact = received == frame;
  CHECK(intact);
  // And the other way: the peer sends the frame back, the channel reads it whole.
  std::size_t sent = 0;
  const auto send_until = std::chrono::steady_clock::now() + 30s;
  while (sent < received.size() && std::chrono::steady_clock::now() < send_until) {
    const ssize_t n = ::send(c.peer.get(), received.data() + sent, received.size() - sent,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0)
      sent += static_cast<std::size_t>(n);
    io.poll();
  }
  run_until(io, [&] { return !c.messages.empty() || c.closed; });
  REQUIRE(c.messages.size() == 1);
  const bool read_intact = c.messages[0]["payload"].get_ref<const std::string&>() == payload;
  CHECK(read_intact);
  CHECK(c.errors.empty());
}

TEST_CASE("send reports the high-water mark and refuses messages over the queue limit") {
  asio::io_context io;
  cocluster::ipc_options options;
  options.high_water_mark = 64 * 1024;
  options.write_queue_limit = 1024 * 1024;
  channel_with_raw_peer c(io, options); // the raw peer never reads
  const nlohmann::json chunk = {{"data", std::string(16 * 1024, 'x')}};
  CHECK(c.ipc->send(chunk));
  bool below = true;
  bool full = false;
  for (int i = 0; i < 1000 && !full; ++i) {
    try {
      below = c.ipc->send(chunk);
    } catch (const std::system_error& e) {
      CHECK(e.code() == cocluster::errc::write_queue_full);
      full = true;
    }
    io.poll(); // let the writer fill the socket buffer
  }
  CHECK(!below);
  CHECK(full);
  CHECK(c.ipc->queued_bytes() <= options.write_queue_limit + chunk.dump().size() + 1);
}

TEST_CASE("send returns true up to the high-water mark and false above it, and async_drain waits "
          "until the queue is back under it") {
  asio::io_context io;
  const nlohmann::json small = {{"data", std::string(1000, 'x')}};
  const std::size_t frame = small.dump().size() + 1;
  cocluster::ipc_options options;
  options.high_water_mark = 2 * frame;
  channel_with_raw_peer c(io, options); // the raw peer reads only when this test does
  set_nonblocking(c.peer.get());
  // Outside a handler send() only queues (the loop has not run): the queue holds every frame.
  CHECK(c.ipc->send(small));
  CHECK(c.ipc->send(small)); // exactly at the mark
  CHECK(c.ipc->queued_bytes() == 2 * frame);
  CHECK_FALSE(c.ipc->send(small)); // above it
  CHECK(c.ipc->queued_bytes() == 3 * frame);
  // Far more than the socket holds: with the peer not reading, the queue stays above the mark.
  const nlohmann::json large = {{"data", std::string(64 * 1024, 'y')}};
  for (int i = 0; i < 64; ++i)
    CHECK_FALSE(c.ipc->send(large));
  run_while_ready(io);
  std::optional<std::size_t> at_drain;
  c.ipc->async_drain([&](std::error_code ec) {
    CHECK(!ec);
    at_drain = c.ipc->queued_bytes();
  });
  run_while_ready(io);
  CHECK(c.ipc->queued_bytes() > options.high_water_mark);
  CHECK_FALSE(at_drain.has_value());
  // The peer reads: the drain completes, with no more than the mark queued.
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!at_drain && std::chrono::steady_clock::now() < until) {
    io.poll();
    c.read_raw();
  }
  REQUIRE(at_drain.has_value());
  CHECK(*at_drain <= options.high_water_mark);
  CHECK(c.errors.empty());
}

// ---- waiters when the channel closes ----

namespace {

// The ways a channel closes while something waits on it.
// (`peer_stops_reading`: the peer shuts down its reading side, so the channel's write fails
// while it can still read: it cannot write again, but is not closed yet.)
enum class closing { local, detached, by_peer, by_peer_while_flushing, peer_stops_reading };

std::string name_of(closing how) {
  switch (how) {
  case closing::local: return "close()";
  case closing::detached: return "detach()";
  case closing::by_peer: return "the peer closes its end";
  case closing::by_peer_while_flushing: return "close_when_flushed(), then the peer closes";
  case closing::peer_stops_reading: return "the peer stops reading (a write fails)";
  }
  return "?";
}

constexpr closing every_closing[] = {closing::local, closing::detached, closing::by_peer,
                                     closing::by_peer_while_flushing, closing::peer_stops_reading};

// A channel whose raw peer never reads, with far more queued than its socket holds and the
// high-water mark far below what stays queued: a flush or a drain started now cannot complete.
struct stuck_channel : channel_with_raw_peer {
  static cocluster::ipc_options options() {
    cocluster::ipc_options o;
    o.high_water_mark = 1024;
    return o;
  }

  explicit stuck_channel(asio::io_context& io) : channel_with_raw_peer(io, options()) {
    const nlohmann::json large = {{"data", std::string(64 * 1024, 'y')}};
    for (int i = 0; i < 64; ++i)
      ipc->send(large);
    run_while_ready(io);
    REQUIRE(ipc->queued_bytes() > options().high_water_mark);
  }

  void close(closing how) { close(*this, how); }

  // Closes the channel of `c` in the way `how` says.
  static void close(channel_with_raw_peer& c, closing how) {
    switch (how) {
    case closing::local: c.ipc->close(); break;
    case closing::detached: c.ipc->detach(); break;
    case closing::by_peer: c.peer.reset(); break;
    case closing::by_peer_while_flushing:
      c.ipc->close_when_flushed();
      c.peer.reset();
      break;
    case closing::peer_stops_reading: // then takes what it had: the channel writes again, and fails
      REQUIRE(::shutdown(c.peer.get(), SHUT_RD) == 0);
      while (!c.read_raw().empty()) {
      }
      break;
    }
  }
};

// What waiters got: one entry per completion.
struct completions {
  std::vector<std::error_code> codes;
  auto recorder() {
    return [this](std::error_code ec) { codes.push_back(ec); };
  }
};

// Runs the loop until `n` completions came (at most 10 s); true when no more came after them.
bool completed(asio::io_context& io, const completions& got, std::size_t n) {
  if (io.stopped()) // ran out of work before (nothing left but what was just started)
    io.restart();
  run_until(io, [&] { return got.codes.size() >= n; });
  run_while_ready(io);
  return got.codes.size() == n;
}

} // namespace

TEST_CASE("every async_flush waiting when the channel closes completes with channel_closed, "
          "whichever end closes it") {
  for (const closing how : every_closing) {
    CAPTURE(name_of(how));
    const auto before = test::open_fds();
    std::weak_ptr<channel> gone;
    {
      asio::io_context io;
      stuck_channel c(io);
      completions got;
      for (int i = 0; i < 3; ++i)
        c.ipc->async_flush(got.recorder());
      run_while_ready(io);
      CHECK(got.codes.empty()); // each waits for bytes the peer does not read
      c.close(how);
      CHECK(completed(io, got, 3));
      for (const auto& ec : got.codes) {
        CAPTURE(ec.message());
        CHECK(ec == cocluster::errc::channel_closed);
      }
      CHECK(!c.ipc->is_open());
      // And a flush started afterwards completes at once, the same way.
      c.ipc->async_flush(got.recorder());
      REQUIRE(completed(io, got, 4));
      CHECK(got.codes.back() == cocluster::errc::channel_closed);
      c.ipc->close(); // (one whose peer stopped reading still reads, until this)
      gone = c.ipc;
      c.ipc.reset();
      run_while_ready(io);
      CHECK(gone.expired()); // no waiter keeps the channel alive
    }
    CHECK(test::open_fds() == before);
  }
}

TEST_CASE("every async_drain waiting when the channel closes completes with channel_closed, "
          "whichever end closes it") {
  for (const closing how : every_closing) {
    CAPTURE(name_of(how));
    const auto before = test::open_fds();
    std::weak_ptr<channel> gone;
    {
      asio::io_context io;
      stuck_channel c(io);
      completions got;
      for (int i = 0; i < 3; ++i)
        c.ipc->async_drain(got.recorder());
      run_while_ready(io);
      CHECK(got.codes.empty()); // the queue stays above the high-water mark
      c.close(how);
      CHECK(completed(io, got, 3));
      for (const auto& ec : got.codes) {
        CAPTURE(ec.message());
        CHECK(ec == cocluster::errc::channel_closed);
      }
      CHECK(!c.ipc->is_open());
      c.ipc->async_drain(got.recorder());
      REQUIRE(completed(io, got, 4));
      CHECK(got.codes.back() == cocluster::errc::channel_closed);
      c.ipc->close(); // (one whose peer stopped reading still reads, until this)
      gone = c.ipc;
      c.ipc.reset();
      run_while_ready(io);
      CHECK(gone.expired());
    }
    CHECK(test::open_fds() == before);
  }
}

namespace {

// Starts three waits of `start(token)` on a stuck channel, the second bound to a cancellation
// signal; emits it; checks that only that one completes, with operation_aborted, and that the
// other two complete without error once the peer reads everything.
template <class Start>
void check_cancelling_one_of_three(Start start) {
  asio::io_context io;
  stuck_channel c(io);
  set_nonblocking(c.peer.get());
  std::vector<std::pair<int, cocluster::error_code>> got;
  auto recorder = [&got](int which) {
    return [&got, which](cocluster::error_code ec) { got.emplace_back(which, ec); };
  };
  asio::cancellation_signal signal;
  start(*c.ipc, recorder(1));
  start(*c.ipc, asio::bind_cancellation_slot(signal.slot(), recorder(2)));
  start(*c.ipc, recorder(3));
  run_while_ready(io);
  CHECK(got.empty());
  signal.emit(asio::cancellation_type::terminal);
  run_while_ready(io);
  REQUIRE(got.size() == 1);
  CHECK(got[0].first == 2);
  CHECK(got[0].second == asio::error::operation_aborted);
  CHECK(c.ipc->queued_bytes() > stuck_channel::options().high_water_mark); // nothing else moved
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (got.size() < 3 && std::chrono::steady_clock::now() < until) {
    io.poll();
    c.read_raw();
  }
  REQUIRE(got.size() == 3);
  CHECK(got[1].first == 1);
  CHECK(!got[1].second);
  CHECK(got[2].first == 3);
  CHECK(!got[2].second);
  signal.emit(asio::cancellation_type::terminal); // too late: nothing happens
  run_while_ready(io);
  CHECK(got.size() == 3);
  CHECK(c.errors.empty());
}

} // namespace

TEST_CASE("an async_flush whose cancellation slot is emitted completes with operation_aborted "
          "and the other flushes still complete") {
  check_cancelling_one_of_three([](channel& ipc, auto token) {
    ipc.async_flush(std::move(token));
  });
}

TEST_CASE("an async_drain whose cancellation slot is emitted completes with operation_aborted "
          "and the other drains still complete") {
  check_cancelling_one_of_three([](channel& ipc, auto token) {
    ipc.async_drain(std::move(token));
  });
}

// A worker that does not exit when its channel closes, and listens (TCP, "listen") or binds
// (UDP, "bind") through its primary; exits 0 when that fails with channel_closed, 1 when it
// fails otherwise, 2 when it succeeds.
WORKER_SCENARIO("ask-then-lose-primary") {
  const bool bind = args.at(0) == "bind";
  cocluster::cluster_options options;
  options.exit_on_unexpected_disconnect = false;
  return test::run_worker<cocluster::json>(
      [bind](auto& cluster) -> asio::awaitable<void> {
        std::error_code ec;
        if (bind)
          ec = std::get<0>(co_await cluster.async_bind(cocluster::udp_bind_options(0, "127.0.0.1"),
                                                       test::as_tuple));
        else
          ec = std::get<0>(co_await cluster.async_listen(
              cocluster::tcp_listen_options(0, "127.0.0.1"), test::as_tuple));
        std::printf("%s: %s\n", bind ? "bind" : "listen", ec.message().c_str());
        std::fflush(stdout);
        std::exit(ec == cocluster::errc::channel_closed ? 0 : ec ? 1 : 2);
      },
      3, options);
}

TEST_CASE("a worker's listen or bind that waits for the primary's answer completes with "
          "channel_closed when the channel closes first") {
  for (const std::string verb : {"listen", "bind"}) {
    CAPTURE(verb);
    int ends[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
    unique_fd primary(ends[0]), child_end(ends[1]);
    // The worker: this binary with the channel on descriptor 3, as a Node primary forks one.
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, child_end.get(), 3);
    const std::string self = test::self_executable();
    std::vector<std::string> args{self, "--worker-scenario", "ask-then-lose-primary", verb};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env{"NODE_UNIQUE_ID=1", "NODE_CHANNEL_FD=3",
                                 "NODE_CHANNEL_SERIALIZATION_MODE=json"};
    for (char** e = environ; *e != nullptr; ++e)
      if (std::string_view(*e).rfind("NODE_", 0) != 0)
        env.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : env)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.data(),
                                      envp.data());
    ::posix_spawn_file_actions_destroy(&actions);
    REQUIRE(spawned == 0);
    child_end.reset();
    // The raw primary reads until the worker's query comes, and closes instead of answering.
    std::string got;
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (got.find("\"queryServer\"") == std::string::npos &&
           std::chrono::steady_clock::now() < until) {
      pollfd p{primary.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      char buffer[4096];
      const ssize_t n = ::read(primary.get(), buffer, sizeof buffer);
      if (n <= 0)
        break;
      got.append(buffer, static_cast<std::size_t>(n));
    }
    CHECK(got.find("\"queryServer\"") != std::string::npos);
    primary.reset();
    const int status = test::wait_for_child(pid);
    if (status == -1) { // the wait never completed
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    REQUIRE(status != -1);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE("each kind of malformed input is reported with its reason and closes the channel") {
  struct bad_input {
    const char* name;
    std::string bytes;
    cocluster::errc code;
    const char* reason_part;
  };
  const std::vector<bad_input> inputs = {
      {"bad JSON", "{\"a\":}\n", cocluster::errc::malformed_message, "json"},
      {"a blank line", "\n", cocluster::errc::malformed_message, "blank line"},
      {"invalid UTF-8", "{\"a\":\"\xff\xfe\"}\n", cocluster::errc::malformed_message, "UTF-8"},
      {"a line over the limit", std::string(30000, ' '), cocluster::errc::message_too_large,
       "max_message_size"},
      {"nesting too deep", std::string(5000, '[') + std::string(5000, ']') + "\n",
       cocluster::errc::malformed_message, "nesting"},
  };
  for (const auto& input : inputs) {
    CAPTURE(input.name);
    asio::io_context io;
    cocluster::ipc_options options;
    options.max_message_size = 20000;
    channel_with_raw_peer c(io, options);
    c.write_raw("{\"good\":1}\n" + input.bytes);
    run_until(io, [&] { return c.closed; });
    CHECK(c.messages.size() == 1); // what came before the bad frame was delivered
    REQUIRE(c.errors.size() == 1);
    CHECK(c.errors[0].code == input.code);
    CHECK(c.errors[0].what.find(input.reason_part) != std::string::npos);
    CHECK(c.closed);
    CHECK(c.close_reason == input.code);
  }
}

TEST_CASE("a message cut off by the end of the stream is reported, not silently dropped") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  c.write_raw("{\"whole\":1}\n{\"cut\":");
  c.peer.reset();
  run_until(io, [&] { return c.closed; });
  CHECK(c.messages.size() == 1);
  REQUIRE(c.errors.size() == 1);
  CHECK(c.errors[0].what.find("middle of a message") != std::string::npos);
  CHECK(c.closed);
}

TEST_CASE("a NODE_HANDLE message gets its descriptor and an acknowledgement") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  int pipe_ends[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pipe_ends) == 0);
  unique_fd read_end(pipe_ends[0]), write_end(pipe_ends[1]);
  c.write_raw(
      R"({"cmd":"NODE_HANDLE","type":"net.Native","msg":{"cmd":"NODE_CLUSTER","act":"newconn","key":"k","seq":1}})"
      "\n",
      write_end.get());
  run_until(io, [&] { return c.internal.size() == 1 && c.ipc->queued_bytes() == 0; });
  REQUIRE(c.internal.size() == 1);
  CHECK(c.internal[0]["act"] == "newconn");
  REQUIRE(c.internal_fds.size() == 1);
  CHECK(c.internal_fds[0].get() >= 0);
  CHECK(::write(c.internal_fds[0].get(), "x", 1) == 1); // it is the pipe's write end
  char byte = 0;
  CHECK(::read(read_end.get(), &byte, 1) == 1);
  CHECK(c.read_raw() == "{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
}

TEST_CASE("a NODE_HANDLE message without its descriptor is refused with a NACK and reported") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  c.write_raw(
      R"({"cmd":"NODE_HANDLE","type":"net.Native","msg":{"cmd":"NODE_CLUSTER","act":"newconn","key":"k","seq":1}})"
      "\n");
  run_until(io, [&] { return !c.errors.empty() && c.ipc->queued_bytes() == 0; });
  CHECK(c.internal.empty());
  REQUIRE(c.errors.size() == 1);
  CHECK(c.errors[0].code == cocluster::errc::handle_lost);
  CHECK(c.read_raw() == "{\"cmd\":\"NODE_HANDLE_NACK\"}\n");
  // The channel stays open: it still reads what follows.
  c.write_raw("{\"after\":1}\n");
  run_until(io, [&] { return c.messages.size() == 1 || c.closed; });
  REQUIRE(c.messages.size() == 1);
  CHECK(c.messages[0]["after"] == 1);
  CHECK(!c.closed);
}

TEST_CASE("each descriptor we send waits for the peer's ACK or NACK of the one before, and a NACK "
          "is reported") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  set_nonblocking(c.peer.get());
  std::vector<socket_pair> pipes(3);
  for (int i = 0; i < 3; ++i) {
    auto inner = cocluster::detail::protocol::cluster_message("newconn");
    inner["key"] = "k";
    inner["seq"] = i;
    c.ipc->send_internal_with_fd(cocluster::detail::protocol::handle_net_native, inner,
                                 pipes[static_cast<std::size_t>(i)].write_end.get());
  }
  // Runs what the channel can do without an answer from the peer; returns what the peer got.
  auto everything_sent = [&] {
    run_while_ready(io);
    return read_with_fds(c.peer.get());
  };
  auto check_one = [&](raw_read got, int seq) {
    CAPTURE(seq);
    const auto frames = frames_of(got.bytes);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0]["cmd"] == "NODE_HANDLE");
    CHECK(frames[0]["msg"]["seq"] == seq);
    REQUIRE(got.fds.size() == 1);
    CHECK(writes_into(got.fds[0].get(), pipes[static_cast<std::size_t>(seq)]));
  };
  check_one(everything_sent(), 0);
  CHECK(everything_sent().bytes.empty()); // the second waits for an answer to the first
  c.write_raw("{\"cmd\":\"NODE_HANDLE_NACK\"}\n");
  check_one(next_sent(io, c.peer.get()), 1); // a refusal answers too
  REQUIRE(c.errors.size() == 1);
  CHECK(c.errors[0].code == cocluster::errc::handle_lost);
  CHECK(everything_sent().bytes.empty());
  c.write_raw("{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
  check_one(next_sent(io, c.peer.get()), 2);
  CHECK(c.errors.size() == 1); // an ACK is no error
  CHECK(!c.closed);
}

TEST_CASE("descriptors that arrive without a message to claim them are closed with the channel") {
  const auto before = test::open_fds();
  {
    asio::io_context io;
    channel_with_raw_peer c(io);
    int pipe_ends[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pipe_ends) == 0);
    unique_fd read_end(pipe_ends[0]), write_end(pipe_ends[1]);
    c.write_raw("{\"plain\":true}\n", write_end.get());
    run_until(io, [&] { return c.messages.size() == 1; });
    CHECK(c.messages.size() == 1);
  }
  CHECK(test::open_fds() == before);
}

TEST_CASE(
    "a reply sent while handling a message is written at once, and what follows it in one batch") {
  asio::io_context io;
  int ends[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
  unique_fd peer(ends[1]);
  auto ipc = std::make_shared<channel>(io.get_executor(), unique_fd(ends[0]),
                                       cocluster::ipc_options{});
  std::vector<std::size_t> queued_after_send;
  channel::callbacks callbacks;
  callbacks.message = [&](nlohmann::json&& m) {
    for (int i = 1; i <= 3; ++i) {
      ipc->send({{"reply", i}, {"to", m["ping"]}});
      queued_after_send.push_back(ipc->queued_bytes());
    }
  };
  ipc->start(std::move(callbacks));
  // Outside a handler, send() only queues: the write waits for the event loop.
  ipc->send({{"hello", true}});
  CHECK(ipc->queued_bytes() == std::string_view("{\"hello\":true}\n").size());
  io.poll();
  CHECK(ipc->queued_bytes() == 0);
  REQUIRE(::write(peer.get(), "{\"ping\":7}\n", 11) == 11);
  run_until(io, [&] { return queued_after_send.size() == 3 && ipc->queued_bytes() == 0; });
  // The first reply left inside send(); the next two were queued and written together after.
  REQUIRE(queued_after_send.size() == 3);
  CHECK(queued_after_send[0] == 0);
  CHECK(queued_after_send[1] > 0);
  CHECK(queued_after_send[2] > queued_after_send[1]);
  CHECK(ipc->queued_bytes() == 0);
  std::string got(4096, '\0');
  const ssize_t n = ::recv(peer.get(), got.data(), got.size(), MSG_DONTWAIT);
  got.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  CHECK(got == "{\"hello\":true}\n"
               "{\"reply\":1,\"to\":7}\n{\"reply\":2,\"to\":7}\n{\"reply\":3,\"to\":7}\n");
}

// How many of `tries` calls of poll_one() found a handler ready. While a channel busy-polls one
// always is (the poll re-posts itself); otherwise an idle loop has none.
int ready_handlers(asio::io_context& io, int tries = 100) {
  int ready = 0;
  for (int i = 0; i < tries; ++i)
    ready += static_cast<int>(io.poll_one());
  return ready;
}

TEST_CASE("without busy_poll, an idle channel leaves its socket to the reactor and runs nothing") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  c.write_raw("{\"a\":1}\n");
  run_until(io, [&] { return c.messages.size() == 1; });
  REQUIRE(c.messages.size() == 1);
  CHECK(ready_handlers(io) == 0);
  // The reactor still reads what comes next.
  c.write_raw("{\"a\":2}\n");
  run_until(io, [&] { return c.messages.size() == 2; });
  CHECK(c.messages.size() == 2);
}

// Busy polling long enough that it cannot end within a test, however slowly this machine runs
// it: only a message, a close or a broken channel can change what the loop has ready.
constexpr auto polls_throughout = std::chrono::hours(1);

TEST_CASE("with busy_poll, a channel keeps reading after a message, and reads one that comes "
          "while it polls") {
  asio::io_context io;
  cocluster::ipc_options options;
  options.busy_poll = polls_throughout;
  channel_with_raw_peer c(io, options);
  c.write_raw("{\"a\":1}\n");
  run_until(io, [&] { return c.messages.size() == 1; });
  REQUIRE(c.messages.size() == 1);
  // Polling: the loop always has the next check of the socket ready, never sleeps.
  CHECK(ready_handlers(io) == 100);
  // A message that arrives while polling is read, and polling goes on from it.
  c.write_raw("{\"a\":2}\n");
  run_until(io, [&] { return c.messages.size() == 2; });
  REQUIRE(c.messages.size() == 2);
  CHECK(c.messages[1]["a"] == 2);
  CHECK(ready_handlers(io) == 100);
}

TEST_CASE("with busy_poll, polling stops once that long has passed without a message, and the "
          "next message starts it again") {
  asio::io_context io;
  cocluster::ipc_options options;
  options.busy_poll = 100ms;
  channel_with_raw_peer c(io, options);
  const auto before_message = std::chrono::steady_clock::now();
  c.write_raw("{\"a\":1}\n");
  run_until(io, [&] { return c.messages.size() == 1; });
  REQUIRE(c.messages.size() == 1);
  CHECK(io.poll_one() == 1); // a poll is posted (without busy_poll none is ready: see above)
  // The loop runs out of ready handlers (bounded by run_until's limit, which only a channel
  // that polls forever reaches), and not before busy_poll has passed since the message.
  run_until(io, [&] { return io.poll_one() == 0; });
  CHECK(std::chrono::steady_clock::now() - before_message >= options.busy_poll);
  CHECK(ready_handlers(io) == 0);
  CHECK(c.messages.size() == 1); // it stopped without a message coming
  // The reactor reads the next message, and polling starts again.
  c.write_raw("{\"a\":2}\n");
  run_until(io, [&] { return c.messages.size() == 2; });
  CHECK(c.messages.size() == 2);
  CHECK(io.poll_one() == 1);
}

TEST_CASE("with busy_poll, closing the channel stops its polling at once") {
  asio::io_context io;
  cocluster::ipc_options options;
  options.busy_poll = polls_throughout;
  channel_with_raw_peer c(io, options);
  c.write_raw("{\"a\":1}\n");
  run_until(io, [&] { return c.messages.size() == 1; });
  REQUIRE(c.messages.size() == 1);
  REQUIRE(ready_handlers(io) == 100);
  // A few handlers finish (the cancelled wait, the last poll), not the thousands that polling
  // until the deadline would run.
  c.ipc->close();
  CHECK(io.poll() <= 4);
  CHECK(ready_handlers(io) == 0);
  CHECK(c.closed);
}

TEST_CASE("with busy_poll, sending starts polling for the reply") {
  asio::io_context io;
  cocluster::ipc_options options;
  options.busy_poll = polls_throughout;
  channel_with_raw_peer c(io, options);
  c.ipc->send({{"request", 1}});
  // Without polling, only the end-of-turn write would be ready.
  CHECK(ready_handlers(io) == 100);
  CHECK(c.read_raw() == "{\"request\":1}\n");
  c.write_raw("{\"reply\":1}\n");
  run_until(io, [&] { return c.messages.size() == 1; });
  REQUIRE(c.messages.size() == 1);
  CHECK(c.messages[0]["reply"] == 1);
}

TEST_CASE("with busy_poll, messages and descriptors that arrive while polling come in order, "
          "none lost or leaked") {
  const auto before = test::open_fds();
  {
    asio::io_context io;
    cocluster::ipc_options options;
    options.busy_poll = 1s;
    channel_with_raw_peer c(io, options);
    constexpr int count = 3000;
    std::vector<unique_fd> write_ends;
    for (int i = 0; i < count; ++i) {
      if (i % 300 == 0) {
        int pipe_ends[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pipe_ends) == 0);
        unique_fd read_end(pipe_ends[0]);
        write_ends.emplace_back(pipe_ends[1]);
        c.write_raw(
            R"({"cmd":"NODE_HANDLE","type":"net.Native","msg":{"cmd":"NODE_CLUSTER","act":"newconn","key":"k","seq":)" +
                std::to_string(i) + "}}\n",
            read_end.get());
      } else {
        c.write_raw("{\"i\":" + std::to_string(i) + "}\n");
      }
      if (i % 7 == 0)
        io.run_for(std::chrono::microseconds(200)); // the channel polls between writes
    }
    run_until(io, [&] { return c.messages.size() + c.internal.size() == count; });
    REQUIRE(c.messages.size() == count - count / 300);
    REQUIRE(c.internal.size() == count / 300);
    bool in_order = true;
    int expected = 0;
    for (const auto& m : c.messages) {
      if (expected % 300 == 0)
        ++expected;
      in_order = in_order && m["i"] == expected;
      ++expected;
    }
    CHECK(in_order);
    for (std::size_t k = 0; k < c.internal.size(); ++k) {
      CHECK(c.internal[k]["seq"] == static_cast<int>(k) * 300);
      // Each descriptor is the read end of its own pipe.
      REQUIRE(c.internal_fds[k].get() >= 0);
      REQUIRE(::write(write_ends[k].get(), "x", 1) == 1);
      char byte = 0;
      CHECK(::read(c.internal_fds[k].get(), &byte, 1) == 1);
    }
    std::string acks;
    for (std::string got; !(got = c.read_raw()).empty();)
      acks += got;
    std::size_t ack_count = 0;
    for (std::size_t at = 0; (at = acks.find("NODE_HANDLE_ACK", at)) != std::string::npos; ++at)
      ++ack_count;
    CHECK(ack_count == count / 300);
    CHECK(c.errors.empty());
  }
  CHECK(test::open_fds() == before);
}

TEST_CASE("internal requests are stamped with the next seq and each reply goes to the request its "
          "ack names") {
  namespace protocol = cocluster::detail::protocol;
  asio::io_context io;
  channel_with_raw_peer c(io);
  set_nonblocking(c.peer.get());
  cocluster::detail::sequence seq;
  seq.next = 7;
  std::vector<std::string> errors;
  cocluster::detail::internal_requests<cocluster::json> requests(
      *c.ipc, seq, [&](std::error_code, const std::string& what) { errors.push_back(what); });
  std::vector<std::pair<std::string, nlohmann::json>> replies;
  auto reply_to = [&](std::string name) {
    return [&replies, name](nlohmann::json&& reply, unique_fd) {
      replies.emplace_back(name, std::move(reply));
    };
  };
  CHECK(requests.send(protocol::cluster_message("plain"))); // seq 7, no reply wanted
  CHECK(requests.send_request(protocol::cluster_message("a"), reply_to("a"))); // seq 8
  socket_pair pipe;
  CHECK(requests.send_request_with_fd(protocol::cluster_message("b"), pipe.write_end.get(),
                                      reply_to("b"))); // seq 9
  CHECK(seq.next == 10);
  CHECK(requests.waiting() == 2);
  run_while_ready(io);
  const auto sent = read_with_fds(c.peer.get());
  const auto frames = frames_of(sent.bytes);
  REQUIRE(frames.size() == 3);
  CHECK(frames[0]["act"] == "plain");
  CHECK(frames[0]["seq"] == 7);
  CHECK(frames[1]["act"] == "a");
  CHECK(frames[1]["seq"] == 8);
  CHECK(frames[2]["cmd"] == "NODE_HANDLE");
  CHECK(frames[2]["msg"]["act"] == "b");
  CHECK(frames[2]["msg"]["seq"] == 9);
  REQUIRE(sent.fds.size() == 1);
  CHECK(writes_into(sent.fds[0].get(), pipe));

  // Replies in the other order: each goes to the request whose seq its ack names.
  auto deliver = [&](nlohmann::json message) {
    unique_fd fd;
    return requests.deliver_reply(message, fd);
  };
  CHECK(deliver({{"cmd", "NODE_CLUSTER"}, {"ack", 9}, {"which", "second"}}));
  CHECK(!deliver({{"cmd", "NODE_CLUSTER"}, {"ack", 7}}));   // no reply wanted: not taken
  CHECK(!deliver({{"cmd", "NODE_CLUSTER"}, {"act", "x"}})); // no ack
  CHECK(deliver({{"cmd", "NODE_CLUSTER"}, {"ack", 8}, {"which", "first"}}));
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].first == "b");
  CHECK(replies[0].second["which"] == "second");
  CHECK(replies[1].first == "a");
  CHECK(replies[1].second["which"] == "first");
  CHECK(!deliver({{"cmd", "NODE_CLUSTER"}, {"ack", 8}})); // answered once only
  CHECK(requests.waiting() == 0);

  // Forgotten with the channel: no seq is taken while it is closed.
  CHECK(requests.send_request(protocol::cluster_message("c"), reply_to("c"))); // seq 10
  requests.forget_all();
  CHECK(!deliver({{"cmd", "NODE_CLUSTER"}, {"ack", 10}}));
  c.ipc->close();
  CHECK(!requests.send_request(protocol::cluster_message("d"), reply_to("d")));
  CHECK(seq.next == 11);
  CHECK(requests.waiting() == 0);
  CHECK(errors.empty());
}

TEST_CASE("an internal request the channel refuses is reported, takes its seq and forgets its "
          "handler") {
  namespace protocol = cocluster::detail::protocol;
  asio::io_context io;
  cocluster::ipc_options options;
  options.high_water_mark = 64 * 1024;
  options.write_queue_limit = 1024 * 1024;
  channel_with_raw_peer c(io, options); // the raw peer never reads
  cocluster::detail::sequence seq;
  std::vector<std::pair<std::error_code, std::string>> errors;
  cocluster::detail::internal_requests<cocluster::json> requests(
      *c.ipc, seq,
      [&](std::error_code ec, const std::string& what) { errors.emplace_back(ec, what); });
  auto big = protocol::cluster_message("big");
  big["data"] = std::string(16 * 1024, 'x');
  bool refused = false;
  std::int64_t refused_seq = -1;
  for (int i = 0; i < 1000 && !refused; ++i) {
    refused_seq = seq.next;
    refused = !requests.send_request(big, [](nlohmann::json&&, unique_fd) {});
    io.poll(); // let the writer fill the socket buffer
  }
  REQUIRE(refused);
  CHECK(seq.next == refused_seq + 1);
  CHECK(requests.waiting() == static_cast<std::size_t>(refused_seq)); // all but the refused one
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].first == cocluster::errc::write_queue_full);
  CHECK(errors[0].second.rfind("sending an internal message: ", 0) == 0);
}

// ---- handles with user messages ----

namespace {

// True while the write end of `pair` is open somewhere: its read end sees no end of file.
bool still_open_somewhere(const socket_pair& pair) {
  char byte = 0;
  return ::recv(pair.read_end.get(), &byte, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

} // namespace

TEST_CASE("a user message with a net.Socket arrives with a handle to that very socket") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  socket_pair pair;
  c.write_raw(R"({"cmd":"NODE_HANDLE","type":"net.Socket","msg":{"user":1}})"
              "\n",
              pair.write_end.get());
  pair.write_end.reset(); // the peer's copy: only the one in flight is left
  run_until(io, [&] { return !c.handles.empty() && c.ipc->queued_bytes() == 0; });
  REQUIRE(c.handles.size() == 1);
  REQUIRE(c.messages.size() == 1);
  CHECK(c.messages[0] == nlohmann::json{{"user", 1}});
  CHECK(c.internal.empty());
  CHECK(c.handles[0].kind() == cocluster::handle_kind::local_socket);
  auto socket = c.handles[0].take_local_socket(io.get_executor());
  CHECK(writes_into(socket.native_handle(), pair));
  CHECK(c.read_raw() == "{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
  CHECK_FALSE(c.handles[0]); // taken
  CHECK_THROWS_AS(c.handles[0].take_local_socket(io.get_executor()), std::system_error);
}

TEST_CASE("a handle whose descriptor is not what its type says is refused with a NACK and closed") {
  const auto before = test::open_fds();
  {
    asio::io_context io;
    channel_with_raw_peer c(io);
    socket_pair pair;
    int pipe_ends[2];
    REQUIRE(::pipe2(pipe_ends, O_CLOEXEC) == 0);
    unique_fd read_end(pipe_ends[0]), write_end(pipe_ends[1]);
    // A pipe as a net.Socket, a connected socket as a net.Server, and an unknown type.
    c.write_raw(R"({"cmd":"NODE_HANDLE","type":"net.Socket","msg":{"n":1}})"
                "\n",
                read_end.get());
    c.write_raw(R"({"cmd":"NODE_HANDLE","type":"net.Server","msg":{"n":2}})"
                "\n",
                pair.write_end.get());
    c.write_raw(R"({"cmd":"NODE_HANDLE","type":"fs.File","msg":{"n":3}})"
                "\n",
                pair.write_end.get());
    pair.write_end.reset();
    run_until(io, [&] { return c.errors.size() == 3 && c.ipc->queued_bytes() == 0; });
    CHECK(c.messages.empty());
    CHECK(c.handles.empty());
    REQUIRE(c.errors.size() == 3);
    for (const auto& error : c.errors)
      CHECK(error.code == cocluster::errc::wrong_handle_kind);
    CHECK(c.errors[1].what.find("'net.Server'") != std::string::npos);
    CHECK(c.errors[1].what.find("local_socket") != std::string::npos);
    const std::string nack = "{\"cmd\":\"NODE_HANDLE_NACK\"}\n";
    CHECK(c.read_raw() == nack + nack + nack);
    CHECK(!still_open_somewhere(pair)); // the channel closed the refused copy
    CHECK(!c.closed);                   // and reads on
  }
  CHECK(test::open_fds() == before);
}

TEST_CASE("a message sent with a handle goes out in Node's envelope and the sender's copy closes "
          "at the peer's ACK") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  set_nonblocking(c.peer.get());
  socket_pair pair;
  asio::local::stream_protocol::socket socket(io.get_executor(), asio::local::stream_protocol(),
                                              pair.write_end.release());
  c.ipc->send_with_handle({{"sticky", "abc"}}, cocluster::handle(std::move(socket)));
  CHECK_FALSE(socket.is_open()); // given up
  run_while_ready(io);
  auto got = read_with_fds(c.peer.get());
  CHECK(got.bytes == R"({"cmd":"NODE_HANDLE","type":"net.Socket","msg":{"sticky":"abc"}})"
                     "\n");
  REQUIRE(got.fds.size() == 1);
  CHECK(writes_into(got.fds[0].get(), pair));
  got.fds.clear();
  CHECK(still_open_somewhere(pair)); // the sender holds its copy until the ACK
  c.write_raw("{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
  run_until(io, [&] { return !still_open_somewhere(pair); });
  CHECK(!still_open_somewhere(pair));
  CHECK(c.errors.empty());
}

TEST_CASE("handles that wait for the peer's ACK, sent or queued behind the first, are closed "
          "when the channel closes, whichever end closes it") {
  for (const closing how :
       {closing::local, closing::detached, closing::by_peer, closing::by_peer_while_flushing}) {
    CAPTURE(name_of(how));
    asio::io_context io;
    channel_with_raw_peer c(io);
    set_nonblocking(c.peer.get());
    std::vector<socket_pair> pairs(2);
    for (auto& pair : pairs) {
      asio::local::stream_protocol::socket socket(io.get_executor(), asio::local::stream_protocol(),
                                                  pair.write_end.release());
      c.ipc->send_with_handle({{"i", 1}}, cocluster::handle(std::move(socket)));
    }
    run_while_ready(io);
    auto got = read_with_fds(c.peer.get());
    CHECK(frames_of(got.bytes).size() == 1); // the second waits for the first's ACK
    got.fds.clear();                         // the peer drops what it got, and never answers
    CHECK(still_open_somewhere(pairs[0]));   // the channel holds both until their ACK
    CHECK(still_open_somewhere(pairs[1]));
    stuck_channel::close(c, how);
    run_until(io,
              [&] { return !still_open_somewhere(pairs[0]) && !still_open_somewhere(pairs[1]); });
    CHECK(!still_open_somewhere(pairs[0]));
    CHECK(!still_open_somewhere(pairs[1]));
    CHECK(c.closed == (how != closing::detached)); // (detached: the owner no longer hears)
  }
}

TEST_CASE("keep_open sends a copy and leaves the sender's socket open and usable") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  set_nonblocking(c.peer.get());
  socket_pair pair;
  asio::local::stream_protocol::socket socket(io.get_executor(), asio::local::stream_protocol(),
                                              pair.write_end.release());
  c.ipc->send_with_handle({{"n", 1}}, cocluster::handle::keep_open(socket));
  run_while_ready(io);
  auto got = read_with_fds(c.peer.get());
  REQUIRE(got.fds.size() == 1);
  got.fds.clear();
  c.write_raw("{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
  run_until(io, [&] { return readable(c.peer.get()) == 0 && c.ipc->queued_bytes() == 0; });
  io.poll();
  REQUIRE(socket.is_open());
  CHECK(writes_into(socket.native_handle(), pair));
}

TEST_CASE("a refused net.Socket is sent again three times and then reported") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  set_nonblocking(c.peer.get());
  socket_pair pair;
  c.ipc->send_with_handle({{"n", 1}}, cocluster::handle::adopt(pair.write_end.release()));
  for (int attempt = 1; attempt <= 4; ++attempt) {
    CAPTURE(attempt);
    auto got = next_sent(io, c.peer.get());
    CHECK(got.bytes == R"({"cmd":"NODE_HANDLE","type":"net.Socket","msg":{"n":1}})"
                       "\n");
    REQUIRE(got.fds.size() == 1);
    CHECK(writes_into(got.fds[0].get(), pair)); // the same socket each time
    CHECK(c.errors.empty());
    c.write_raw("{\"cmd\":\"NODE_HANDLE_NACK\"}\n");
  }
  run_until(io, [&] { return !c.errors.empty(); });
  REQUIRE(c.errors.size() == 1);
  CHECK(c.errors[0].code == cocluster::errc::handle_lost);
  CHECK(c.errors[0].what.find("4 times") != std::string::npos);
  run_while_ready(io);
  CHECK(read_with_fds(c.peer.get()).bytes.empty()); // no fifth attempt
  CHECK(!still_open_somewhere(pair));               // and the sender's copy is closed
}

TEST_CASE(
    "a peer that never acknowledges cannot make the sender hold more handles than the limit") {
  const auto before = test::open_fds();
  {
    asio::io_context io;
    cocluster::ipc_options options;
    options.max_pending_handles = 3;
    channel_with_raw_peer c(io, options);
    set_nonblocking(c.peer.get());
    std::vector<socket_pair> pairs(4);
    for (std::size_t i = 0; i < 3; ++i)
      c.ipc->send_with_handle({{"n", i}}, cocluster::handle::adopt(pairs[i].write_end.release()));
    run_while_ready(io);
    (void)read_with_fds(c.peer.get()); // the peer takes the first (and closes it)
    try {
      c.ipc->send_with_handle({{"n", 3}}, cocluster::handle::adopt(pairs[3].write_end.release()));
      FAIL("a fourth handle was taken");
    } catch (const std::system_error& e) {
      CHECK(e.code() == cocluster::errc::too_many_handles);
      CHECK(std::string(e.what()).find("max_pending_handles") != std::string::npos);
    }
    // The refused handle still belongs to the caller's handle object, which closed it.
    CHECK(!still_open_somewhere(pairs[3]));
    // One acknowledgement makes room for one more.
    c.write_raw("{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
    run_until(io, [&] { return !still_open_somewhere(pairs[0]); });
    CHECK(!still_open_somewhere(pairs[0]));
    run_while_ready(io);
    (void)read_with_fds(c.peer.get()); // the second
    socket_pair another;
    CHECK_NOTHROW(c.ipc->send_with_handle({{"n", 4}},
                                          cocluster::handle::adopt(another.write_end.release())));
    c.ipc->close();
    for (std::size_t i = 1; i < 3; ++i)
      CHECK(!still_open_somewhere(pairs[i])); // closing the channel closes what it held
    CHECK(!still_open_somewhere(another));
  }
  CHECK(test::open_fds() == before);
}

TEST_CASE("sockets received with a Node server's key are counted for NODE_SOCKET_GET_COUNT and "
          "NODE_SOCKET_NOTIFY_CLOSE is answered once they closed") {
  asio::io_context io;
  channel_with_raw_peer c(io);
  set_nonblocking(c.peer.get());
  socket_pair pair;
  c.write_raw(R"({"cmd":"NODE_HANDLE","type":"net.Socket","msg":{"n":1},"key":"6::::8000"})"
              "\n",
              pair.write_end.get());
  pair.write_end.reset();
  run_until(io, [&] { return !c.handles.empty(); });
  REQUIRE(c.handles.size() == 1);
  auto socket = c.handles[0].take_local_socket(io.get_executor());
  c.handles.clear();
  (void)read_with_fds(c.peer.get()); // the ACK
  auto answer_to = [&](std::string request) {
    c.write_raw(request + "\n");
    return frames_of(next_sent(io, c.peer.get()).bytes);
  };
  auto count = answer_to(R"({"cmd":"NODE_SOCKET_GET_COUNT","key":"6::::8000"})");
  REQUIRE(count.size() == 1);
  CHECK(count[0] ==
        nlohmann::json{{"cmd", "NODE_SOCKET_COUNT"}, {"key", "6::::8000"}, {"count", 1}});
  c.write_raw(R"({"cmd":"NODE_SOCKET_NOTIFY_CLOSE","key":"6::::8000"})"
              "\n");
  run_while_ready(io);
  io.run_for(150ms);
  CHECK(read_with_fds(c.peer.get()).bytes.empty()); // not while the socket is open
  socket.close();
  CHECK(frames_of(next_sent(io, c.peer.get()).bytes) ==
        std::vector<nlohmann::json>{{{"cmd", "NODE_SOCKET_ALL_CLOSED"}, {"key", "6::::8000"}}});
  CHECK(c.internal.empty()); // answered by the channel, not passed on
}

TEST_SUITE_END();
