// limit_net: the bare C limit of the conn_rate workload (1-byte request, 1-byte reply, close).
//
//   limit_net single|rr|shared|reuseport --port P [--workers N]
//
// single    one process accepts and serves (no cluster at all);
// rr        the primary accepts and passes each descriptor to the next worker (SCM_RIGHTS, no
//           acknowledgement), round-robin;
// shared    the primary binds and listens; every worker accepts on that socket;
// reuseport every worker binds its own SO_REUSEPORT socket.
//
// Prints {"ready":true,...} once every worker serves, then serves until SIGTERM, then prints
// {"per_worker":[...],"total":N} (connections answered by each worker) and exits.
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define MAX_WORKERS 256
#define LISTEN_TAG 0xFFFFFFFF00000000ull
#define CHANNEL_TAG 0xFFFFFFFE00000000ull

static int open_listener(int port, int reuse_port, int do_listen) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
    die("SO_REUSEPORT");
  struct sockaddr_in address;
  memset(&address, 0, sizeof(address));
  address.sin_family = AF_INET;
  address.sin_port = htons((uint16_t)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr*)&address, sizeof(address)) != 0)
    die("bind");
  if (do_listen && listen(fd, 511) != 0)
    die("listen");
  return fd;
}

static volatile long* counters; // shared memory: connections answered, per worker

static void answer(int epfd, int fd, int worker) {
  char byte;
  ssize_t n = read(fd, &byte, 1);
  if (n == 1) {
    if (write(fd, "r", 1) == 1)
      ++counters[worker];
    close(fd);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = (uint64_t)fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
      return;
  }
  close(fd);
}

// A worker's event loop: accepts on `listener` and/or takes descriptors from `channel`.
static void serve(int worker, int listener, int channel) {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (listener >= 0) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTEN_TAG};
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);
  }
  if (channel >= 0) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = CHANNEL_TAG};
    epoll_ctl(epfd, EPOLL_CTL_ADD, channel, &ev);
  }
  struct epoll_event events[256];
  while (!stop_requested) {
    int n = epoll_wait(epfd, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == LISTEN_TAG) {
        for (;;) {
          int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0)
            break;
          answer(epfd, fd, worker);
        }
      } else if (tag == CHANNEL_TAG) {
        for (;;) {
          char byte;
          int fd;
          ssize_t r = recv_fd(channel, &fd, &byte, 1);
          if (r == 0)
            return; // the primary is gone
          if (r < 0)
            break;
          if (fd >= 0)
            answer(epfd, fd, worker);
        }
      } else {
        const int fd = (int)tag;
        char byte;
        if (read(fd, &byte, 1) == 1 && write(fd, "r", 1) == 1)
          ++counters[worker];
        close(fd);
      }
    }
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: limit_net single|rr|shared|reuseport --port P [--workers N]\n");
    return 2;
  }
  const char* mode = argv[1];
  int port = 0, workers = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port"))
      port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--workers"))
      workers = atoi(argv[i + 1]);
  }
  const int single = !strcmp(mode, "single"), rr = !strcmp(mode, "rr"),
            shared = !strcmp(mode, "shared"), reuseport = !strcmp(mode, "reuseport");
  if (!(single || rr || shared || reuseport) || port <= 0) {
    fprintf(stderr, "limit_net: bad arguments\n");
    return 2;
  }
  if (single)
    workers = 1;
  if (workers < 1 || workers > MAX_WORKERS)
    return 2;
  signal(SIGPIPE, SIG_IGN);
  catch_stop_signals();
  counters = mmap(NULL, sizeof(long) * MAX_WORKERS, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (counters == MAP_FAILED)
    die("mmap");

  if (single) {
    int listener = open_listener(port, 0, 1);
    printf("{\"ready\":true,\"mode\":\"single\",\"pid\":%d}\n", getpid());
    fflush(stdout);
    serve(0, listener, -1);
    printf("{\"per_worker\":[%ld],\"total\":%ld}\n", counters[0], counters[0]);
    return 0;
  }

  // Workers report readiness on a pipe.
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0)
    die("pipe");
  int listener = -1;
  if (shared)
    listener = open_listener(port, 0, 1);
  if (reuseport)
    listener = open_listener(port, 1, 0); // reserves the port; never listens
  int channels[MAX_WORKERS];
  pid_t pids[MAX_WORKERS];
  for (int w = 0; w < workers; ++w) {
    int pair[2] = {-1, -1};
    if (rr && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
      die("socketpair");
    pid_t pid = fork();
    if (pid < 0)
      die("fork");
    if (pid == 0) {
      close(ready[0]);
      int mine = -1;
      if (shared)
        mine = listener;
      if (reuseport) {
        close(listener);
        mine = open_listener(port, 1, 1);
      }
      if (rr) {
        close(pair[0]);
        fcntl(pair[1], F_SETFL, O_NONBLOCK);
      }
      if (write(ready[1], "w", 1) != 1)
        _exit(1);
      serve(w, mine, rr ? pair[1] : -1);
      _exit(0);
    }
    pids[w] = pid;
    if (rr) {
      close(pair[1]);
      channels[w] = pair[0];
    }
  }
  close(ready[1]);
  for (int w = 0; w < workers; ++w) {
    char byte;
    if (!read_all(ready[0], &byte, 1))
      die("a worker did not start");
  }
  int accept_fd = rr ? open_listener(port, 0, 1) : -1;
  printf("{\"ready\":true,\"mode\":\"%s\",\"pid\":%d,\"workers\":%d}\n", mode, getpid(), workers);
  fflush(stdout);

  if (rr) {
    // The primary: accept, pass the descriptor to the next worker, close our copy.
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTEN_TAG};
    epoll_ctl(epfd, EPOLL_CTL_ADD, accept_fd, &ev);
    int next = 0;
    while (!stop_requested) {
      struct epoll_event got[4];
      int n = epoll_wait(epfd, got, 4, -1);
      if (n <= 0)
        continue;
      for (;;) {
        int fd = accept4(accept_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
          break;
        // The channel is blocking: a worker that falls behind slows the primary down, as a
        // full socket buffer would.
        if (send_fd(channels[next], fd, "c", 1) != 1 && errno != EINTR)
          die("sendmsg");
        close(fd);
        next = (next + 1) % workers;
      }
    }
  } else {
    while (!stop_requested)
      pause();
  }
  for (int w = 0; w < workers; ++w)
    kill(pids[w], SIGTERM);
  for (int w = 0; w < workers; ++w)
    waitpid(pids[w], NULL, 0);
  long total = 0;
  printf("{\"per_worker\":[");
  for (int w = 0; w < workers; ++w) {
    printf("%s%ld", w ? "," : "", counters[w]);
    total += counters[w];
  }
  printf("],\"total\":%ld}\n", total);
  return 0;
}
