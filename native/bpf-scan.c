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

/* One run of the iterator, parsed without touching JavaScript, so a thread can make it. */
typedef struct {
  bool every_fd;
  bool publish; /* the run in the background: its candidates are handed out as the walk goes on */
  int err;
  limbo_tables_t tables;
  size_t current_first; /* the index of the first candidate of the task being read */
} scan_result_t;

static void free_scan(scan_result_t *r) {
  limbo_tables_free(&r->tables);
}

/*
 * What the run in the background has read so far, for bpfTakeFdCandidates: the candidates of
 * every task the walk has gone past are complete (a task's records come together, and a table
 * seen again under a later task adds none), so they can be read through /proc while the kernel
 * walks on. `progress` guards these and the run's tables, which grow as the walk goes.
 */
static pthread_mutex_t progress = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t progressed = PTHREAD_COND_INITIALIZER;
static size_t ready;  /* candidates complete so far */
static size_t taken;  /* candidates bpfTakeFdCandidates has handed out */
static bool finished; /* the run in the background is over */

static long consume_records(void *ctx, const char *buf, size_t len) {
  scan_result_t *r = ctx;
  limbo_tables_t *t = &r->tables;
  size_t off = 0;
  long used = 0;
  if (r->publish) pthread_mutex_lock(&progress);
  while (off + sizeof(struct limbo_fd_record) <= len) {
    struct limbo_fd_record fd;
    struct limbo_file_record file;
    memcpy(&fd, buf + off, sizeof fd);
    bool follows = fd.fd & LIMBO_FD_FILE_FOLLOWS;
    if (off + sizeof fd + (follows ? sizeof file : 0) > len) break;
    if (follows) memcpy(&file, buf + off + sizeof fd, sizeof file);
    off += sizeof fd + (follows ? sizeof file : 0);
    if (t->ntasks == 0 || t->tasks[t->ntasks - 1].tid != fd.tid) {
      r->current_first = t->ncandidates;
      if (limbo_tables_start_task(t, fd.tid, fd.files)) {
        used = -1;
        break;
      }
    }
    if (limbo_tables_add_fd(t, fd.fd & ~LIMBO_FD_FILE_FOLLOWS, follows ? &file : NULL)) {
      used = -1;
      break;
    }
  }
  if (used == 0) used = (long)off;
  if (r->publish) {
    ready = r->current_first;
    pthread_cond_broadcast(&progressed);
    pthread_mutex_unlock(&progress);
  }
  return used;
}

/* Loads the program if needed, runs the iterator once and parses its records into `r`. */
static void run_scan(scan_result_t *r) {
  r->err = ensure_loaded();
  if (r->err) return;
  skeleton->bss->every_fd = r->every_fd;
  r->err = limbo_read_iterator(bpf_link__fd(task_file_link), consume_records, r);
  if (r->err) free_scan(r);
}

/* A run started by bpfStartFdScan, on its own thread until bpfScanFds joins it. */
static scan_result_t background;
static pthread_t background_thread;
static bool background_running;
static uint32_t background_generation; /* which start it was: only that start's caller may use it */

static void *run_in_background(void *arg) {
  scan_result_t *r = arg;
  run_scan(r);
  pthread_mutex_lock(&progress);
  finished = true;
  ready = r->err ? taken : r->tables.ncandidates;
  pthread_cond_broadcast(&progressed);
  pthread_mutex_unlock(&progress);
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
  background = (scan_result_t){.every_fd = every_fd, .publish = true};
  ready = taken = 0;
  finished = false;
  background_generation++;
  background_running = pthread_create(&background_thread, NULL, run_in_background, &background) == 0;
  napi_value generation;
  return napi_create_uint32(env, background_generation, &generation) == napi_ok ? generation : NULL;
}

/*
 * bpfTakeFdCandidates(generation): the candidates the run numbered `generation` has completed
 * since the last call (each fd table's all at once), as columns of bpfScanFds' candidates,
 * waiting for the walk to complete some; null once the run is over and all were handed out, or
 * when no such run is going on. bpfScanFds gives them all again: these let the caller read them
 * through /proc while the kernel walks on.
 */
napi_value bpf_take_fd_candidates(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], none;
  uint32_t generation = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || napi_get_null(env, &none) != napi_ok)
    return NULL;
  if (argc >= 1 && napi_get_value_uint32(env, argv[0], &generation) != napi_ok) generation = 0;
  if (!background_running || generation == 0 || generation != background_generation) return none;
  pthread_mutex_lock(&progress);
  while (!finished && ready == taken) pthread_cond_wait(&progressed, &progress);
  size_t from = taken, n = ready - taken;
  taken = ready;
  /* Copied while the walk cannot grow the list. Where they cannot be made, these are left out as
     if the walk were over: bpfTableScans reads every table not read early. */
  napi_value batch = n > 0 ? limbo_candidates_to_js(env, background.tables.candidates + from, n) : NULL;
  pthread_mutex_unlock(&progress);
  return batch ? batch : none;
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

