/*
 * The user-space half of the BPF scanner (native/scan.bpf.c): loads the program with libbpf
 * from the skeleton built into this addon, runs the task_file iterator once per scan and
 * turns its records into what src/snapshot/bpf-fd-scan.ts needs: the fds whose file may be
 * deleted and, when asked for (every_fd), every fd table's fd count. Built only where clang,
 * bpftool and libbpf-dev are present (scripts/build-native.mjs); limbo.c registers bpfScanFds
 * only then.
 */
#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf-tables.h"
#include "scan-records.h"
#include "scan.skel.h"

#include "bpf-scan.h"

/* Loaded and attached once per process: a scan only creates a new iterator from the link. */
static struct limbo_scan *skeleton;
static struct bpf_link *task_file_link;
static int load_errno;

int limbo_bpf_quiet(enum libbpf_print_level level, const char *format, va_list args) {
  (void)level;
  (void)format;
  (void)args;
  return 0;
}

static int ensure_loaded(void) {
  if (task_file_link) return 0;
  if (load_errno) return load_errno;
  libbpf_set_print(limbo_bpf_quiet);
  skeleton = limbo_scan__open_and_load();
  if (!skeleton) {
    load_errno = errno ? errno : EINVAL;
    return load_errno;
  }
  task_file_link = bpf_program__attach_iter(skeleton->progs.limbo_task_file, NULL);
  if (!task_file_link) {
    load_errno = errno ? errno : EINVAL;
    limbo_scan__destroy(skeleton);
    skeleton = NULL;
  }
  return load_errno;
}

/* Reads the whole iterator output into a malloc'd buffer. */
static int read_iterator(char **out, size_t *out_len) {
  int fd = bpf_iter_create(bpf_link__fd(task_file_link));
  if (fd < 0) return errno;
  size_t cap = 1 << 20, len = 0;
  char *buf = malloc(cap);
  int err = buf ? 0 : ENOMEM;
  while (!err) {
    if (cap - len < 65536) {
      char *grown = realloc(buf, cap * 2);
      if (!grown) {
        err = ENOMEM;
        break;
      }
      buf = grown;
      cap *= 2;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    // EAGAIN: a read walked MAX_ITER_OBJECTS (1,000,000) fds that wrote nothing; the next one
    // goes on from there (kernel/bpf/bpf_iter.c bpf_seq_read).
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  if (err) {
    free(buf);
    return err;
  }
  *out = buf;
  *out_len = len;
  return 0;
}

/* One run of the iterator, parsed without touching JavaScript, so a thread can make it. */
typedef struct {
  bool every_fd;
  int err;
  limbo_tables_t tables;
} scan_result_t;

static void free_scan(scan_result_t *r) {
  limbo_tables_free(&r->tables);
}

/* Loads the program if needed, runs the iterator once and parses its records into `r`. */
static void run_scan(scan_result_t *r) {
  char *buf = NULL;
  size_t len = 0;
  r->err = ensure_loaded();
  if (!r->err) {
    skeleton->bss->every_fd = r->every_fd;
    r->err = read_iterator(&buf, &len);
  }
  if (r->err) return;
  limbo_tables_t *t = &r->tables;
  for (size_t off = 0; off + sizeof(struct limbo_fd_record) <= len;) {
    struct limbo_fd_record fd;
    memcpy(&fd, buf + off, sizeof fd);
    off += sizeof fd;
    if ((t->ntasks == 0 || t->tasks[t->ntasks - 1].tid != fd.tid) &&
        limbo_tables_start_task(t, fd.tid, fd.files))
      goto oom;
    struct limbo_file_record file;
    bool follows = fd.fd & LIMBO_FD_FILE_FOLLOWS;
    if (follows) {
      if (off + sizeof file > len) break;
      memcpy(&file, buf + off, sizeof file);
      off += sizeof file;
    }
    if (limbo_tables_add_fd(t, fd.fd & ~LIMBO_FD_FILE_FOLLOWS, follows ? &file : NULL)) goto oom;
  }
  free(buf);
  return;
oom:
  free(buf);
  free_scan(r);
  r->err = ENOMEM;
}

/* A run started by bpfStartFdScan, on its own thread until bpfScanFds joins it. */
static scan_result_t background;
static pthread_t background_thread;
static bool background_running;
static uint32_t background_generation; /* which start it was: only that start's caller may use it */

static void *run_in_background(void *arg) {
  run_scan(arg);
  return NULL;
}

/* Joins the run in the background, if any; `keep` says whether its result is still wanted. */
static void join_background(scan_result_t *into, bool keep) {
  if (!background_running) return;
  pthread_join(background_thread, NULL);
  background_running = false;
  if (keep) *into = background;
  else free_scan(&background);
  background = (scan_result_t){0};
}

/*
 * bpfStartFdScan(everyFd): a run (program load and kernel walk) started on a thread of its own,
 * so that it runs while the caller reads /proc; returns its generation, which the caller hands
 * to bpfScanFds to collect it. A run started before and never collected is dropped: it is too
 * old to serve any scan.
 */
napi_value bpf_start_fd_scan(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool every_fd = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc >= 1 && napi_get_value_bool(env, argv[0], &every_fd) != napi_ok) every_fd = false;
  join_background(NULL, false);
  background = (scan_result_t){.every_fd = every_fd};
  background_generation++;
  background_running = pthread_create(&background_thread, NULL, run_in_background, &background) == 0;
  napi_value generation;
  return napi_create_uint32(env, background_generation, &generation) == napi_ok ? generation : NULL;
}

/*
 * bpfScanFds(everyFd, generation?): { tids: Uint32Array, files: BigUint64Array, counts:
 * Uint32Array | null, candidates } or { error, errno }: the run bpfStartFdScan started and
 * numbered `generation`, with the same everyFd, or one run now (any other started run is dropped). One entry per task the iterator sent a record for (tids ascending): with everyFd,
 * every task holding an fd, with its fd count; without, only those holding a candidate, and
 * counts is null. Candidates are the fds whose file may be deleted, each fd table's once (a
 * table shared by several visited tasks is listed under the first).
 */
napi_value bpf_scan_fds(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool every_fd = false;
  uint32_t generation = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc >= 1 && napi_get_value_bool(env, argv[0], &every_fd) != napi_ok) every_fd = false;
  if (argc >= 2 && napi_get_value_uint32(env, argv[1], &generation) != napi_ok) generation = 0;
  napi_value result = NULL;
  scan_result_t r = {.every_fd = every_fd};
  bool same = background_running && generation != 0 && generation == background_generation &&
              background.every_fd == every_fd;
  join_background(&r, same);
  if (!same) run_scan(&r);
  if (r.err) {
    free_scan(&r);
    return limbo_bpf_error_to_js(env, r.err);
  }

  result = limbo_tables_to_js(env, &r.tables, every_fd);
  free_scan(&r);
  return result;
}

