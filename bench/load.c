/*
 * Benchmark load: one process holding many open regular files, some of them deleted.
 *
 *   load DIR NFILES NDELETED BYTES
 *
 * Creates DIR (which must not exist), creates and opens NFILES files in it, writes BYTES of
 * data into the first NDELETED of them and unlinks those while keeping every descriptor
 * open. It then prints one line per deleted file, "DEL MAJ:MIN INODE FD", then "READY PID",
 * and sleeps until stdin reaches EOF (the parent closed the pipe or died), so the parent
 * controls its lifetime without signals. It also asks for SIGKILL when the parent dies,
 * in case the parent dies without its pipe being closed (e.g. a pipe inherited elsewhere).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void die(const char *what, const char *path) {
  fprintf(stderr, "load: %s%s%s: %s\n", what, path ? " " : "", path ? path : "", strerror(errno));
  exit(1);
}

static long parse_count(const char *text, const char *name) {
  char *end;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno || *end || value < 0) {
    fprintf(stderr, "load: bad %s: %s\n", name, text);
    exit(2);
  }
  return value;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: load DIR NFILES NDELETED BYTES\n");
    return 2;
  }
  const char *dir = argv[1];
  long nfiles = parse_count(argv[2], "NFILES");
  long ndeleted = parse_count(argv[3], "NDELETED");
  long bytes = parse_count(argv[4], "BYTES");
  if (ndeleted > nfiles) {
    fprintf(stderr, "load: NDELETED > NFILES\n");
    return 2;
  }

  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 1; /* the parent already died before prctl took effect */

  /* The soft limit may be the common 1024, too tight for 1,000 files plus stdio. */
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }

  if (mkdir(dir, 0700) != 0) die("mkdir", dir);
  int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) die("open", dir);

  char *data = malloc(bytes > 0 ? bytes : 1);
  if (!data) die("malloc", NULL);
  for (long i = 0; i < bytes; i++) data[i] = (char)('a' + i % 26);

  int *fds = malloc(sizeof(int) * (nfiles > 0 ? nfiles : 1));
  if (!fds) die("malloc", NULL);
  char name[64];
  for (long i = 0; i < nfiles; i++) {
    snprintf(name, sizeof name, "f%05ld", i);
    fds[i] = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fds[i] < 0) die("open", name);
    if (i < ndeleted) {
      for (long done = 0; done < bytes;) {
        ssize_t n = write(fds[i], data + done, bytes - done);
        if (n < 0) die("write", name);
        done += n;
      }
    }
  }

  for (long i = 0; i < ndeleted; i++) {
    struct stat st;
    snprintf(name, sizeof name, "f%05ld", i);
    if (unlinkat(dirfd, name, 0) != 0) die("unlink", name);
    if (fstat(fds[i], &st) != 0) die("fstat", name);
    printf("DEL %u:%u %llu %d\n", major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino, fds[i]);
  }
  close(dirfd);
  printf("READY %d\n", (int)getpid());
  fflush(stdout);

  /* Hold everything open until the parent closes our stdin. */
  char buf[256];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0 && errno != EINTR) break;
  }
  return 0;
}
