// loadgen: new TCP connections per second against 127.0.0.1:PORT.
//
//   loadgen --port P [--conns 32] [--seconds 2] [--warmup 0.3] [--max N]
//
// Keeps `conns` connections in flight, each: non-blocking connect, send 1 byte, read the 1-byte
// reply, read until the server closes (so the server closes first and the TIME_WAIT is on its
// side: the client ports are free again at once), close, start the next. One thread, epoll.
// Bounded by time (warmup + seconds) and by count (--max). Prints one JSON line:
//   {"connections":N,"seconds":S,"rate":R,"errors":E,"conns":C}
// where N counts the connections completed after the warmup and R = N / S.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum phase { IDLE, CONNECTING, WAIT_REPLY, WAIT_EOF };

struct conn {
  int fd;
  enum phase phase;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int epfd;
static struct sockaddr_in target;
static long completed_total, completed_measured, errors;
static int measuring;

static void finish(struct conn* c, int ok) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->phase = IDLE;
  if (ok) {
    ++completed_total;
    if (measuring)
      ++completed_measured;
  } else {
    ++errors;
  }
}

static void send_request(struct conn* c) {
  const char byte = 'q';
  ssize_t n = send(c->fd, &byte, 1, MSG_NOSIGNAL);
  if (n != 1) {
    finish(c, 0);
    return;
  }
  c->phase = WAIT_REPLY;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
    finish(c, 0);
}

static void start(struct conn* c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    ++errors;
    return;
  }
  c->phase = CONNECTING;
  int r = connect(c->fd, (struct sockaddr*)&target, sizeof(target));
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    finish(c, 0);
    return;
  }
  if (r == 0)
    send_request(c);
  else if (errno != EINPROGRESS)
    finish(c, 0);
}

static void on_event(struct conn* c, uint32_t events) {
  if (c->phase == CONNECTING) {
    int error = 0;
    socklen_t len = sizeof(error);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0 || (events & (EPOLLERR | EPOLLHUP))) {
      finish(c, 0);
      return;
    }
    send_request(c);
    return;
  }
  char buffer[64];
  for (;;) {
    ssize_t n = recv(c->fd, buffer, sizeof(buffer), 0);
    if (n > 0) {
      if (c->phase == WAIT_REPLY)
        c->phase = WAIT_EOF;
      continue;
    }
    if (n == 0) {
      finish(c, c->phase == WAIT_EOF);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return;
    if (errno == EINTR)
      continue;
    finish(c, 0);
    return;
  }
}

int main(int argc, char** argv) {
  int port = 0, conns = 32;
  double seconds = 2.0, warmup = 0.3;
  long max = 100000000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port"))
      port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--conns"))
      conns = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds"))
      seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup"))
      warmup = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--max"))
      max = atol(argv[i + 1]);
  }
  if (port <= 0 || conns <= 0 || conns > 4096) {
    fprintf(stderr, "usage: loadgen --port P [--conns C] [--seconds S] [--warmup W] [--max N]\n");
    return 2;
  }
  memset(&target, 0, sizeof(target));
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)port);
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct conn* pool = calloc((size_t)conns, sizeof(struct conn));
  struct epoll_event* events = calloc((size_t)conns, sizeof(struct epoll_event));
  for (int i = 0; i < conns; ++i) {
    pool[i].fd = -1;
    start(&pool[i]);
  }
  const double t0 = now_s();
  double measure_start = t0 + warmup, deadline = measure_start + seconds, end = 0;
  if (warmup <= 0)
    measuring = 1;
  for (;;) {
    const int n = epoll_wait(epfd, events, conns, 5);
    for (int i = 0; i < n; ++i)
      on_event((struct conn*)events[i].data.ptr, events[i].events);
    const double t = now_s();
    if (!measuring && t >= measure_start) {
      measuring = 1;
      measure_start = t;
      deadline = t + seconds;
    }
    if (t >= deadline || completed_measured >= max) {
      end = t;
      break;
    }
    // A connection that failed (refused while the server starts) is retried; too many
    // failures in a row mean nothing is listening.
    if (errors > 100000 && completed_total == 0)
      break;
    for (int i = 0; i < conns; ++i)
      if (pool[i].phase == IDLE)
        start(&pool[i]);
  }
  if (end == 0)
    end = now_s();
  for (int i = 0; i < conns; ++i)
    if (pool[i].fd >= 0)
      close(pool[i].fd);
  const double measured = measuring ? end - measure_start : 0;
  printf("{\"connections\":%ld,\"seconds\":%.4f,\"rate\":%.1f,\"errors\":%ld,\"conns\":%d}\n",
         completed_measured, measured, measured > 0 ? (double)completed_measured / measured : 0.0,
         errors, conns);
  free(pool);
  free(events);
  return completed_total > 0 ? 0 : 1;
}
