/*
 * Runs a command and reports its wall-clock time and peak memory, like a minimal GNU time(1).
 *
 *   rusage REPORT COMMAND [ARG...]
 *
 * Writes one line to the file REPORT: "WALL_SECONDS MAXRSS_KIB STATUS", where STATUS is the
 * exit code, or 128+N when the command was killed by signal N. ru_maxrss comes from wait4(),
 * so it is the command's own peak resident set (the kernel reports the largest among the
 * command and any descendants it waited for). The report goes to a file rather than stderr
 * so that it cannot interleave with the command's own output. Exits with the command's status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: rusage REPORT COMMAND [ARG...]\n");
    return 2;
  }
  FILE *report = fopen(argv[1], "w");
  if (!report) {
    fprintf(stderr, "rusage: %s: %s\n", argv[1], strerror(errno));
    return 2;
  }

  double start = now();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "rusage: fork: %s\n", strerror(errno));
    return 2;
  }
  if (pid == 0) {
    fclose(report);
    execvp(argv[2], argv + 2);
    fprintf(stderr, "rusage: %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }

  int status;
  struct rusage usage;
  while (wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "rusage: wait4: %s\n", strerror(errno));
      return 2;
    }
  }
  double wall = now() - start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  fprintf(report, "%.6f %ld %d\n", wall, usage.ru_maxrss, code);
  if (fclose(report) != 0) {
    fprintf(stderr, "rusage: %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  return code;
}
