// limit_spawn: the bare C limit of the spawn workload.
//
//   limit_spawn [--counts 1,2,8,32] [--reps 5,5,3,1] [--child PATH]
//
// For each count N, `reps` times: posix_spawn N children, wait for one byte from each (the
// "online" limit), then close the pipe they wait on and reap them all (the "disconnect → all
// exited" limit). Each child gets the write end of the byte pipe as descriptor 3 and the read
// end of the stop pipe as descriptor 4, and BENCH_FIRST_BYTE=1 in its environment.
//
// The child is this program itself by default (a bare C process), or PATH: the cocluster bench
// programs answer BENCH_FIRST_BYTE=1 at the top of main, before anything of cocluster runs, so
// `--child` gives the limit for exactly the executable the cluster starts (exec, the dynamic
// loader, libstdc++'s start-up).
//
// Prints {"results":[{"workers":N,"online_ms":median,"exit_ms":median,"online_all":[...]},...]}.
#include "common.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

#define MAX_CHILDREN 1024

// BENCH_FIRST_BYTE=1: descriptors 3 (the byte) and 4 (wait for end of file); "W,R" names them.
static int first_byte_child(const char* spec) {
  int byte_fd = 3, stop_fd = 4;
  if (sscanf(spec, "%d,%d", &byte_fd, &stop_fd) != 2) {
    byte_fd = 3;
    stop_fd = 4;
  }
  if (write(byte_fd, "o", 1) != 1)
    return 1;
  char buffer[16];
  while (read(stop_fd, buffer, sizeof(buffer)) > 0) {
  }
  return 0;
}

int main(int argc, char** argv) {
  if (getenv("BENCH_FIRST_BYTE"))
    return first_byte_child(getenv("BENCH_FIRST_BYTE"));
  int counts[32] = {1, 2, 8, 32}, reps[32] = {5, 5, 3, 1};
  int ncounts = 4, nreps = 4;
  const char* child = "/proc/self/exe";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--counts"))
      ncounts = parse_list(argv[i + 1], counts, 32);
    else if (!strcmp(argv[i], "--reps"))
      nreps = parse_list(argv[i + 1], reps, 32);
    else if (!strcmp(argv[i], "--child"))
      child = argv[i + 1];
  }
  char self[4096];
  if (!strcmp(child, "/proc/self/exe")) {
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
      die("readlink");
    self[n] = 0;
    child = self;
  }

  // The children's environment: ours plus BENCH_FIRST_BYTE=1.
  int nenv = 0;
  while (environ[nenv])
    ++nenv;
  char** env = calloc((size_t)nenv + 2, sizeof(char*));
  for (int i = 0; i < nenv; ++i)
    env[i] = environ[i];
  env[nenv] = "BENCH_FIRST_BYTE=1";
  char* child_argv[] = {(char*)child, NULL};

  printf("{\"child\":\"%s\",\"results\":[", child);
  for (int c = 0; c < ncounts; ++c) {
    const int n = counts[c];
    const int r = c < nreps ? reps[c] : 1;
    if (n < 1 || n > MAX_CHILDREN || r < 1)
      return 2;
    double* online = calloc((size_t)r, sizeof(double));
    double* exited = calloc((size_t)r, sizeof(double));
    for (int rep = 0; rep < r; ++rep) {
      int bytes[2], stop[2];
      if (pipe2(bytes, O_CLOEXEC) != 0 || pipe2(stop, O_CLOEXEC) != 0)
        die("pipe");
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_adddup2(&actions, bytes[1], 3);
      posix_spawn_file_actions_adddup2(&actions, stop[0], 4);
      pid_t pids[MAX_CHILDREN];
      const double t0 = now_s();
      for (int i = 0; i < n; ++i) {
        int error = posix_spawn(&pids[i], child, &actions, NULL, child_argv, env);
        if (error != 0) {
          errno = error;
          die("posix_spawn");
        }
      }
      char buffer[MAX_CHILDREN];
      if (!read_all(bytes[0], buffer, (size_t)n))
        die("a child did not answer");
      const double t1 = now_s();
      close(stop[1]);
      for (int i = 0; i < n; ++i)
        waitpid(pids[i], NULL, 0);
      const double t2 = now_s();
      online[rep] = (t1 - t0) * 1e3;
      exited[rep] = (t2 - t1) * 1e3;
      close(bytes[0]);
      close(bytes[1]);
      close(stop[0]);
      posix_spawn_file_actions_destroy(&actions);
    }
    printf("%s{\"workers\":%d,\"online_all\":[", c ? "," : "", n);
    for (int i = 0; i < r; ++i)
      printf("%s%.3f", i ? "," : "", online[i]);
    printf("],\"exit_all\":[");
    for (int i = 0; i < r; ++i)
      printf("%s%.3f", i ? "," : "", exited[i]);
    const double online_median = median(online, r), exit_median = median(exited, r);
    printf("],\"online_ms\":%.3f,\"exit_ms\":%.3f}", online_median, exit_median);
    free(online);
    free(exited);
  }
  printf("]}\n");
  return 0;
}
