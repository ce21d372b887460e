// Helpers shared by the bare C limit programs.
#ifndef BENCH_LIMITS_COMMON_H
#define BENCH_LIMITS_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void die(const char* what) {
  fprintf(stderr, "limit: %s: %s\n", what, strerror(errno));
  exit(1);
}

// Writes all of `size` bytes (blocking descriptor).
static inline void write_all(int fd, const void* data, size_t size) {
  const char* p = (const char*)data;
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("write");
    }
    p += n;
    size -= (size_t)n;
  }
}

// Reads exactly `size` bytes (blocking descriptor); returns 0 at end of file.
static inline int read_all(int fd, void* data, size_t size) {
  char* p = (char*)data;
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n == 0)
      return 0;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("read");
    }
    p += n;
    size -= (size_t)n;
  }
  return 1;
}

// Sends one byte with a descriptor attached.
static inline ssize_t send_fd(int socket, int fd, const void* data, size_t size) {
  struct iovec iov = {(void*)data, size};
  union {
    struct cmsghdr align;
    char buffer[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr message = {0};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.buffer;
  message.msg_controllen = sizeof(control.buffer);
  struct cmsghdr* c = CMSG_FIRSTHDR(&message);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(socket, &message, MSG_NOSIGNAL);
}

// Receives bytes and at most one descriptor (-1 in *fd when none came).
static inline ssize_t recv_fd(int socket, int* fd, void* data, size_t size) {
  struct iovec iov = {data, size};
  union {
    struct cmsghdr align;
    char buffer[CMSG_SPACE(sizeof(int) * 4)];
  } control;
  struct msghdr message = {0};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.buffer;
  message.msg_controllen = sizeof(control.buffer);
  *fd = -1;
  ssize_t n = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  if (n < 0)
    return n;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      memcpy(fd, CMSG_DATA(c), sizeof(int));
  return n;
}

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signal) {
  (void)signal;
  stop_requested = 1;
}

// SIGTERM and SIGINT set `stop_requested` and interrupt blocking calls (no SA_RESTART).
static inline void catch_stop_signals(void) {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
}

// Parses "1,2,8,32" into `out` (at most `max` numbers); returns the count.
static inline int parse_list(const char* text, int* out, int max) {
  int count = 0;
  while (*text && count < max) {
    char* end;
    long v = strtol(text, &end, 10);
    if (end == text)
      break;
    out[count++] = (int)v;
    text = *end == ',' ? end + 1 : end;
  }
  return count;
}

static int compare_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static inline double median(double* values, int count) {
  qsort(values, (size_t)count, sizeof(double), compare_double);
  return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

#endif
