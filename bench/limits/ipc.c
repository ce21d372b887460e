// limit_ipc: the bare C limits of the IPC workloads, between a parent and a forked child over
// an AF_UNIX stream socketpair (what a cluster's channel is).
//
//   limit_ipc rtt    [--size 64] [--seconds 1] [--spin-us 0]
//                                                      ping-pong, both sides in epoll loops;
//                                                      --spin-us: each side keeps reading for
//                                                      that long before it waits in epoll
//   limit_ipc oneway [--size 64] [--batch 64] [--seconds 1]
//                                                      `batch` messages of `size` bytes per write
//   limit_ipc scm    [--seconds 1]                     descriptors passed one per sendmsg,
//                                                      pipelined; the child closes each
//
// Prints one JSON line: rtt: {"rtt_us":..,"round_trips":..}; oneway: {"msgs_per_s":..,
// "mb_per_s":..}; scm: {"fds_per_s":..}.
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/wait.h>

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// How long a reader keeps calling read() on an empty socket before it waits in epoll.
static double spin_s = 0;

// Reads exactly `size` bytes from a non-blocking descriptor, waiting in epoll as an event loop
// does (after spinning for `spin_s`, if set). Returns 0 at end of file.
static int epoll_read_all(int epfd, int fd, char* data, size_t size) {
  size_t got = 0;
  const double spin_until = spin_s > 0 ? now_s() + spin_s : 0;
  while (got < size) {
    ssize_t n = read(fd, data + got, size - got);
    if (n > 0) {
      got += (size_t)n;
      continue;
    }
    if (n == 0)
      return 0;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      die("read");
    if (spin_s > 0 && now_s() < spin_until)
      continue;
    struct epoll_event ev;
    epoll_wait(epfd, &ev, 1, -1);
  }
  return 1;
}

static int make_epoll(int fd) {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  return epfd;
}

static int rtt(size_t size, double seconds) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    die("socketpair");
  char* message = calloc(1, size);
  memset(message, 'p', size);
  pid_t child = fork();
  if (child == 0) {
    close(pair[0]);
    set_nonblocking(pair[1]);
    int epfd = make_epoll(pair[1]);
    while (epoll_read_all(epfd, pair[1], message, size))
      write_all(pair[1], message, size); // the reply fits the socket buffer: never blocks
    _exit(0);
  }
  close(pair[1]);
  set_nonblocking(pair[0]);
  int epfd = make_epoll(pair[0]);
  long count = 0;
  // Warm up, then measure.
  for (int i = 0; i < 1000; ++i) {
    write_all(pair[0], message, size);
    epoll_read_all(epfd, pair[0], message, size);
  }
  const double start = now_s();
  double t = start;
  while (t - start < seconds) {
    for (int i = 0; i < 100; ++i) {
      write_all(pair[0], message, size);
      if (!epoll_read_all(epfd, pair[0], message, size))
        die("the child closed");
    }
    count += 100;
    t = now_s();
  }
  close(pair[0]);
  waitpid(child, NULL, 0);
  printf("{\"rtt_us\":%.3f,\"round_trips\":%ld,\"size\":%zu,\"spin_us\":%.0f}\n",
         (t - start) * 1e6 / (double)count, count, size, spin_s * 1e6);
  return 0;
}

static int oneway(size_t size, int batch, double seconds) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    die("socketpair");
  pid_t child = fork();
  if (child == 0) {
    // Counts bytes until end of file, then reports the count.
    close(pair[0]);
    size_t capacity = 256 * 1024;
    char* buffer = malloc(capacity);
    uint64_t total = 0;
    for (;;) {
      ssize_t n = read(pair[1], buffer, capacity);
      if (n > 0) {
        total += (uint64_t)n;
        continue;
      }
      if (n == 0)
        break;
      if (errno != EINTR)
        die("read");
    }
    write_all(pair[1], &total, sizeof(total));
    _exit(0);
  }
  close(pair[1]);
  const size_t chunk = size * (size_t)batch;
  char* data = malloc(chunk);
  memset(data, 'm', chunk);
  uint64_t sent = 0;
  const double start = now_s();
  while (now_s() - start < seconds) {
    for (int i = 0; i < 16; ++i) {
      write_all(pair[0], data, chunk);
      sent += chunk;
    }
  }
  shutdown(pair[0], SHUT_WR);
  uint64_t received = 0;
  if (!read_all(pair[0], &received, sizeof(received)))
    die("no count from the child");
  const double elapsed = now_s() - start;
  waitpid(child, NULL, 0);
  printf("{\"msgs_per_s\":%.1f,\"mb_per_s\":%.2f,\"size\":%zu,\"batch\":%d,\"bytes\":%llu}\n",
         (double)received / (double)size / elapsed, (double)received / elapsed / 1e6, size, batch,
         (unsigned long long)received);
  return sent == received ? 0 : 1;
}

static int scm(double seconds) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    die("socketpair");
  pid_t child = fork();
  if (child == 0) {
    close(pair[0]);
    uint64_t total = 0;
    char buffer[256];
    for (;;) {
      int fd;
      ssize_t n = recv_fd(pair[1], &fd, buffer, sizeof(buffer));
      if (n == 0)
        break;
      if (n < 0) {
        if (errno == EINTR)
          continue;
        die("recvmsg");
      }
      if (fd >= 0) {
        close(fd);
        ++total;
      }
    }
    write_all(pair[1], &total, sizeof(total));
    _exit(0);
  }
  close(pair[1]);
  int passed = open("/dev/null", O_RDONLY | O_CLOEXEC);
  uint64_t sent = 0;
  const double start = now_s();
  while (now_s() - start < seconds) {
    for (int i = 0; i < 256; ++i) {
      if (send_fd(pair[0], passed, "h", 1) != 1)
        die("sendmsg");
      ++sent;
    }
  }
  shutdown(pair[0], SHUT_WR);
  uint64_t received = 0;
  if (!read_all(pair[0], &received, sizeof(received)))
    die("no count from the child");
  const double elapsed = now_s() - start;
  waitpid(child, NULL, 0);
  printf("{\"fds_per_s\":%.1f,\"us_per_fd\":%.3f,\"fds\":%llu}\n", (double)received / elapsed,
         elapsed * 1e6 / (double)received, (unsigned long long)received);
  return sent == received ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: limit_ipc rtt|oneway|scm [--size N] [--batch N] [--seconds S] [--spin-us U]\n");
    return 2;
  }
  size_t size = 64;
  int batch = 64;
  double seconds = 1.0;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--size"))
      size = (size_t)atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch"))
      batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds"))
      seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--spin-us"))
      spin_s = atof(argv[i + 1]) / 1e6;
  }
  signal(SIGPIPE, SIG_IGN);
  if (size == 0 || batch <= 0)
    return 2;
  if (!strcmp(argv[1], "rtt"))
    return rtt(size, seconds);
  if (!strcmp(argv[1], "oneway"))
    return oneway(size, batch, seconds);
  if (!strcmp(argv[1], "scm"))
    return scm(seconds);
  fprintf(stderr, "limit_ipc: unknown mode %s\n", argv[1]);
  return 2;
}
