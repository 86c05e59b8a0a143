/*
 * The hot path of a limbo scan, in C: read every link of many fd directories, on a few
 * threads, and stat only the " (deleted)" candidates, without a JS call per fd. limbo runs
 * without this addon (each caller of src/native.ts has a JavaScript twin); it only makes the
 * same work faster. It also offers four calls node:fs lacks: kcmp(2), which has no glibc
 * wrapper, and, for the actions (reclaim, recover), lseek with SEEK_DATA/SEEK_HOLE,
 * fcntl(F_GET_SEALS) and linkat(AT_SYMLINK_FOLLOW); each has a JavaScript fallback or a
 * documented refusal in src/actions/; and the FIEMAP ioctl, without which the part of a deleted
 * file that shares extents with other files is reported unknown (src/proc/extent-sharing.ts).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>
#ifdef LIMBO_BPF
#include "bpf-handles.h"
#include "bpf-scan.h"
#endif

#define DELETED_SUFFIX " (deleted)"
#define DELETED_LEN (sizeof(DELETED_SUFFIX) - 1)
#define MAX_THREADS 16

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "limbo native: N-API call failed");      \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

/*
 * { error: NAME }, NAME in the terms classifyError (src/core/errors.ts) tells apart, so the
 * JavaScript side classifies it as it would the real errno: ENOENT stands for every "gone"
 * errno (a process that exited reads ESRCH, a path through a non-directory ENOTDIR), EIO for
 * any errno classifyError does not name. NativeError in src/native.ts lists these names.
 */
static napi_value make_error(napi_env env, int err) {
  napi_value result, code;
  const char *name = err == ENOENT || err == ESRCH || err == ENOTDIR ? "ENOENT"
                     : err == EACCES                                 ? "EACCES"
                     : err == EPERM                                  ? "EPERM"
                     : err == ENAMETOOLONG                           ? "ENAMETOOLONG"
                                                                     : "EIO";
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_set_named_property(env, result, "error", code) != napi_ok) return NULL;
  return result;
}

/* Runs fn(arg) on the calling thread and on up to nthreads - 1 more, and returns when all are done. */
static void run_on_threads(int nthreads, void *(*fn)(void *), void *arg) {
  pthread_t threads[MAX_THREADS];
  int started = 0;
  for (int t = 1; t < nthreads && t < MAX_THREADS; t++)
    if (pthread_create(&threads[started], NULL, fn, arg) == 0) started++;
  fn(arg); /* the calling thread works too */
  for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
}

static int set_number(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  if (napi_create_double(env, value, &v) != napi_ok) return -1;
  return napi_set_named_property(env, obj, key, v) == napi_ok ? 0 : -1;
}

/*
 * The two fd-directory scans (scanFdDirs, scanFdDirsFull) share everything but what they keep
 * of each fd and how they hand it to JS: one worker thread per core reads the links of whole
 * directories, and the main thread turns each directory's items into JS.
 */

/* What every kept fd starts with: its number and its link text (malloc'd; NULL past PATH_MAX). */
typedef struct {
  int fd;
  char *link;
  size_t link_len;
} fd_link_t;

/* scanFdDirs keeps the " (deleted)" candidates with their stat. */
typedef struct {
  fd_link_t head;
  struct stat st;
} candidate_t;

/* scanFdDirsFull keeps every fd, with st_mode/dev/ino of path links. */
typedef struct {
  fd_link_t head;
  uint32_t mode, major, minor;
  uint64_t ino;
} entry_t;

typedef union {
  candidate_t candidate;
  entry_t entry;
} any_item_t;

/* A mount point's bytes: links at it or under it are not stat-ed (their mount does not answer). */
typedef struct {
  const char *bytes;
  size_t len;
} prefix_t;

/* The mount points one directory's links must not reach (src/proc/silent-mounts.ts holds()). */
typedef struct {
  const prefix_t *prefixes;
  size_t n;
} skip_t;

/* One fd directory's scan, filled by a worker thread, turned into JS on the main thread. */
typedef struct {
  char *dir;
  skip_t skip;
  fd_link_t *skipped; /* links left unstat-ed by the skip rule, handed back for JS to count */
  size_t nskipped, capskipped;
  int err;      /* 0, or the errno of opening the directory */
  double count; /* fds listed, whether kept or not */
  double denied; /* fds listed whose link the kernel refused (EACCES, EPERM): their files are unknown */
  void *items;  /* candidate_t[] or entry_t[], as the scan kind says */
  size_t n, cap;
  /* readFdCandidates: only these fds (into the caller's Int32Array), and count is st_size. */
  const int32_t *listed;
  size_t nlisted;
} fd_job_t;

typedef struct {
  /* TypeError messages: bad arguments, a dir that is not a string. */
  const char *usage, *bad_dir;
  size_t item_size;
  size_t first_cap;
  /* Fills *item from one fd whose link was read (n >= 0) or was too long to read (n < 0);
     false leaves the fd out. dfd and name reach the fd for a stat, unless the link is under
     one of `skip`'s mount points: then nothing stats it and *skipped is set. */
  bool (*keep)(int dfd, const char *name, const char *target, ssize_t n, void *item, const skip_t *skip,
               bool *skipped);
  /* The JS value of one directory that opened. */
  napi_value (*to_js)(napi_env env, fd_job_t *job);
  /* Reads the fds the caller lists (fds, starts) instead of listing each directory. */
  bool listed;
} scan_kind_t;

typedef struct {
  const scan_kind_t *kind;
  fd_job_t *jobs;
  size_t njobs;
  size_t next; /* shared work index, taken with __atomic_fetch_add */
} fd_pool_t;

/* Whether a link names a skip prefix or a path under it (prefix "/" holds every absolute name). */
static bool is_skipped(const skip_t *skip, const char *target, ssize_t n) {
  if (n <= 0) return false;
  for (size_t i = 0; i < skip->n; i++) {
    const prefix_t *p = &skip->prefixes[i];
    if (p->len == 1 && p->bytes[0] == '/') {
      if (target[0] == '/') return true;
      continue;
    }
    if ((size_t)n >= p->len && memcmp(target, p->bytes, p->len) == 0 && ((size_t)n == p->len || target[p->len] == '/'))
      return true;
  }
  return false;
}

/* Keeps a copy of a skipped link; false when out of memory. */
static bool remember_skipped(fd_job_t *job, const char *target, size_t n) {
  if (job->nskipped == job->capskipped) {
    size_t cap = job->capskipped ? job->capskipped * 2 : 4;
    fd_link_t *grown = realloc(job->skipped, cap * sizeof *grown);
    if (!grown) return false;
    job->skipped = grown;
    job->capskipped = cap;
  }
  fd_link_t *link = &job->skipped[job->nskipped];
  if (!(link->link = malloc(n ? n : 1))) return false;
  memcpy(link->link, target, n);
  link->link_len = n;
  link->fd = 0;
  job->nskipped++;
  return true;
}

/* Reads one fd's link and keeps it as the scan kind says; false when out of memory. */
static bool scan_fd(const scan_kind_t *kind, fd_job_t *job, int dfd, const char *name, int fd) {
  char target[PATH_MAX + 1];
  any_item_t item;
  ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
  if (n < 0 && (errno == EACCES || errno == EPERM)) job->denied++;
  if (n < 0 && errno != ENAMETOOLONG) return true; /* denied, or closed while we looked */
  memset(&item, 0, sizeof item);
  bool skipped = false;
  bool kept = kind->keep(dfd, name, target, n, &item, &job->skip, &skipped);
  if (skipped && !remember_skipped(job, target, (size_t)n)) return false;
  if (!kept) return true;
  if (job->n == job->cap) {
    size_t cap = job->cap ? job->cap * 2 : kind->first_cap;
    void *grown = realloc(job->items, cap * kind->item_size);
    if (!grown) return false;
    job->items = grown;
    job->cap = cap;
  }
  fd_link_t *head = &item.candidate.head; /* the first member of either item type */
  head->fd = fd;
  if (n >= 0) {
    head->link = malloc(n ? (size_t)n : 1);
    if (head->link) memcpy(head->link, target, (size_t)n);
    head->link_len = head->link ? (size_t)n : 0;
  }
  memcpy((char *)job->items + job->n * kind->item_size, &item, kind->item_size);
  job->n++;
  return true;
}

/*
 * The fds a BPF walk named in one fd directory: its count is the directory's st_size (Linux
 * >= 6.2 counts open fds there), and a directory that cannot be stat-ed fails as a whole.
 */
static void scan_listed(const scan_kind_t *kind, fd_job_t *job) {
  struct stat st;
  if (stat(job->dir, &st) < 0) {
    job->err = errno;
    return;
  }
  job->count = (double)st.st_size;
  if (job->nlisted == 0) return;
  char name[16];
  /* Each fd looked up from the directory, not from / (the walk of /proc and PID once, not per fd).
     Where it will not open, each link by its whole path, as readCandidate reads it: the same errno. */
  int dfd = open(job->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    for (size_t k = 0; k < job->nlisted; k++) {
      snprintf(name, sizeof name, "%d", job->listed[k]);
      if (!scan_fd(kind, job, dfd, name, job->listed[k])) break;
    }
    close(dfd);
    return;
  }
  size_t dir_len = strlen(job->dir);
  char *path = malloc(dir_len + sizeof name + 1);
  if (!path) return;
  memcpy(path, job->dir, dir_len);
  path[dir_len] = '/';
  for (size_t k = 0; k < job->nlisted; k++) {
    snprintf(path + dir_len + 1, sizeof name, "%d", job->listed[k]);
    if (!scan_fd(kind, job, AT_FDCWD, path, job->listed[k])) break;
  }
  free(path);
}

static void scan_dir(const scan_kind_t *kind, fd_job_t *job) {
  if (kind->listed) {
    scan_listed(kind, job);
    return;
  }
  int dfd = open(job->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    job->err = errno;
    return;
  }
  DIR *d = fdopendir(dfd);
  if (!d) {
    job->err = errno;
    close(dfd);
    return;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    job->count++;
    if (!scan_fd(kind, job, dfd, de->d_name, (int)strtol(de->d_name, NULL, 10))) break;
  }
  closedir(d);
}

static void *fd_worker(void *arg) {
  fd_pool_t *pool = arg;
  for (;;) {
    size_t i = __atomic_fetch_add(&pool->next, 1, __ATOMIC_RELAXED);
    if (i >= pool->njobs) return NULL;
    scan_dir(pool->kind, &pool->jobs[i]);
  }
}

/*
 * The skip rule from JS: { groups: Buffer[][], groupOfDir: Int32Array }: groups of mount points
 * (one per mount namespace), and each directory's group (-1: none). The prefixes point into the
 * JS Buffers, alive for the whole synchronous call. False when the shape is wrong.
 */
static bool read_skip_rule(napi_env env, napi_value rule, fd_job_t *jobs, uint32_t ndirs, skip_t **out_groups,
                           size_t *out_ngroups) {
  napi_value groups_v, of_dir_v;
  uint32_t ngroups;
  if (napi_get_named_property(env, rule, "groups", &groups_v) != napi_ok ||
      napi_get_array_length(env, groups_v, &ngroups) != napi_ok ||
      napi_get_named_property(env, rule, "groupOfDir", &of_dir_v) != napi_ok)
    return false;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, of_dir_v, &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_int32_array || length != ndirs)
    return false;
  skip_t *groups = calloc(ngroups ? ngroups : 1, sizeof *groups);
  if (!groups) return false;
  *out_groups = groups;
  for (uint32_t g = 0; g < ngroups; g++) {
    napi_value group;
    uint32_t n;
    if (napi_get_element(env, groups_v, g, &group) != napi_ok || napi_get_array_length(env, group, &n) != napi_ok)
      return false;
    prefix_t *prefixes = calloc(n ? n : 1, sizeof *prefixes);
    if (!prefixes) return false;
    groups[g].prefixes = prefixes;
    groups[g].n = n;
    *out_ngroups = g + 1;
    for (uint32_t k = 0; k < n; k++) {
      napi_value buffer;
      void *bytes;
      size_t len;
      if (napi_get_element(env, group, k, &buffer) != napi_ok ||
          napi_get_buffer_info(env, buffer, &bytes, &len) != napi_ok || len == 0)
        return false;
      prefixes[k].bytes = bytes;
      prefixes[k].len = len;
    }
  }
  const int32_t *of_dir = data;
  for (uint32_t i = 0; i < ndirs; i++)
    if (of_dir[i] >= 0 && (uint32_t)of_dir[i] < ngroups) jobs[i].skip = groups[of_dir[i]];
  return true;
}

/* `skipped` on one directory's result: the links the skip rule left unstat-ed, as Buffers. */
static bool set_skipped(napi_env env, napi_value item, fd_job_t *job) {
  napi_value skipped, v;
  if (napi_create_array_with_length(env, job->nskipped, &skipped) != napi_ok) return false;
  for (size_t k = 0; k < job->nskipped; k++) {
    void *data;
    if (napi_create_buffer_copy(env, job->skipped[k].link_len, job->skipped[k].link, &data, &v) != napi_ok ||
        napi_set_element(env, skipped, (uint32_t)k, v) != napi_ok)
      return false;
  }
  return napi_set_named_property(env, item, "skipped", skipped) == napi_ok;
}

/*
 * scanX(dirs: string[], threads: number, skip?): Array<scan's object | { error }>, in the order of
 * `dirs`. Directories are scanned by up to `threads` threads at once: readlink is the whole
 * cost, and it scales with cores.
 */
static napi_value run_fd_scan(napi_env env, napi_callback_info info, const scan_kind_t *kind) {
  size_t argc = 5;
  napi_value all_argv[5], result = NULL;
  uint32_t ndirs = 0;
  int32_t nthreads = 1;
  CHECK(napi_get_cb_info(env, info, &argc, all_argv, NULL, NULL));
  /* A listed scan takes (dirs, fds, starts, threads, skip): the rest see (dirs, threads, skip). */
  napi_value *argv = all_argv;
  napi_value dirs_v = all_argv[0];
  const int32_t *listed = NULL;
  const uint32_t *starts = NULL;
  size_t nlisted = 0, nstarts = 0;
  if (kind->listed) {
    napi_typedarray_type type;
    void *data;
    if (argc < 3 || napi_get_typedarray_info(env, all_argv[1], &type, &nlisted, &data, NULL, NULL) != napi_ok ||
        type != napi_int32_array) {
      napi_throw_type_error(env, NULL, kind->usage);
      return NULL;
    }
    listed = data;
    if (napi_get_typedarray_info(env, all_argv[2], &type, &nstarts, &data, NULL, NULL) != napi_ok ||
        type != napi_uint32_array) {
      napi_throw_type_error(env, NULL, kind->usage);
      return NULL;
    }
    starts = data;
    argv = all_argv + 2;
    argc = argc - 2;
  }
  if (argc < 1 || napi_get_array_length(env, dirs_v, &ndirs) != napi_ok ||
      (kind->listed && nstarts != (size_t)ndirs + 1)) {
    napi_throw_type_error(env, NULL, kind->usage);
    return NULL;
  }
  if (argc > 1) CHECK(napi_get_value_int32(env, argv[1], &nthreads));
  if (nthreads < 1) nthreads = 1;
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
  if ((uint32_t)nthreads > ndirs) nthreads = ndirs ? (int32_t)ndirs : 1;

  skip_t *groups = NULL;
  size_t ngroups = 0;
  fd_job_t *jobs = calloc(ndirs ? ndirs : 1, sizeof *jobs);
  if (!jobs) {
    napi_throw_error(env, NULL, "limbo native: out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < ndirs; i++) {
    napi_value item;
    size_t len;
    if (kind->listed) {
      if (starts[i] > starts[i + 1] || starts[i + 1] > nlisted) {
        napi_throw_type_error(env, NULL, kind->usage);
        goto out;
      }
      jobs[i].listed = listed + starts[i];
      jobs[i].nlisted = starts[i + 1] - starts[i];
    }
    if (napi_get_element(env, dirs_v, i, &item) != napi_ok ||
        napi_get_value_string_utf8(env, item, NULL, 0, &len) != napi_ok || !(jobs[i].dir = malloc(len + 1)) ||
        napi_get_value_string_utf8(env, item, jobs[i].dir, len + 1, &len) != napi_ok) {
      napi_throw_type_error(env, NULL, kind->bad_dir);
      goto out;
    }
  }

  napi_valuetype skip_type = napi_undefined;
  if (argc > 2 && napi_typeof(env, argv[2], &skip_type) != napi_ok) goto out;
  bool skipping = skip_type == napi_object;
  if (skipping && !read_skip_rule(env, argv[2], jobs, ndirs, &groups, &ngroups)) {
    napi_throw_type_error(env, NULL, "skip must be { groups: Buffer[][], groupOfDir: Int32Array }");
    goto out;
  }

  fd_pool_t pool = {kind, jobs, ndirs, 0};
  run_on_threads(nthreads, fd_worker, &pool);

  if (napi_create_array_with_length(env, ndirs, &result) != napi_ok) goto out;
  for (uint32_t i = 0; i < ndirs; i++) {
    napi_value item = jobs[i].err ? make_error(env, jobs[i].err) : kind->to_js(env, &jobs[i]);
    if (item && skipping && !jobs[i].err && !set_skipped(env, item, &jobs[i])) item = NULL;
    if (!item || napi_set_element(env, result, i, item) != napi_ok) {
      result = NULL;
      break;
    }
  }
out:
  for (size_t g = 0; g < ngroups; g++) free((void *)groups[g].prefixes);
  free(groups);
  for (uint32_t i = 0; i < ndirs; i++) {
    for (size_t k = 0; k < jobs[i].nskipped; k++) free(jobs[i].skipped[k].link);
    free(jobs[i].skipped);
    free(jobs[i].dir);
    for (size_t k = 0; k < jobs[i].n; k++) free(((fd_link_t *)((char *)jobs[i].items + k * kind->item_size))->link);
    free(jobs[i].items);
  }
  free(jobs);
  return result;
}

/* True when the last component has exactly `digits` lowercase hex digits after `prefix`. */
static bool is_hex_name(const char *base, size_t len, const char *prefix, size_t digits) {
  size_t plen = strlen(prefix);
  if (len != plen + digits || memcmp(base, prefix, plen) != 0) return false;
  for (size_t i = plen; i < len; i++)
    if (!((base[i] >= '0' && base[i] <= '9') || (base[i] >= 'a' && base[i] <= 'f'))) return false;
  return true;
}

/*
 * A silly rename's name (src/proc/deleted-name.ts sillyRenamerOf): libfuse's
 * ".fuse_hidden" + 16 hex digits, the NFS client's ".nfs" + 24.
 */
static bool is_silly_name(const char *target, size_t n) {
  const char *slash = memrchr(target, '/', n);
  const char *base = slash ? slash + 1 : target;
  size_t len = n - (size_t)(base - target);
  return is_hex_name(base, len, ".fuse_hidden", 16) || is_hex_name(base, len, ".nfs", 24);
}

/*
 * Keeps links ending in " (deleted)" or naming a silly-renamed file, and those too long to read
 * (ENAMETOOLONG) whose file has nlink 0.
 */
static bool keep_candidate(int dfd, const char *name, const char *target, ssize_t n, void *item, const skip_t *skip,
                           bool *skipped) {
  bool too_long = n < 0;
  if (!too_long && ((size_t)n < DELETED_LEN || memcmp(target + n - DELETED_LEN, DELETED_SUFFIX, DELETED_LEN) != 0) &&
      !is_silly_name(target, (size_t)n))
    return false;
  if (is_skipped(skip, target, n)) {
    *skipped = true;
    return false;
  }
  candidate_t *c = item;
  if (fstatat(dfd, name, &c->st, 0) < 0) return false;
  return !too_long || c->st.st_nlink == 0;
}

static napi_value candidates_to_js(napi_env env, fd_job_t *job) {
  napi_value result, candidates, v;
  candidate_t *cands = job->items;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_array_with_length(env, job->n, &candidates));
  for (size_t k = 0; k < job->n; k++) {
    candidate_t *c = &cands[k];
    napi_value cand;
    CHECK(napi_create_object(env, &cand));
    if (set_number(env, cand, "fd", c->head.fd)) return NULL;
    if (c->head.link) {
      void *data;
      CHECK(napi_create_buffer_copy(env, c->head.link_len, c->head.link, &data, &v));
    } else {
      CHECK(napi_get_null(env, &v));
    }
    CHECK(napi_set_named_property(env, cand, "target", v));
    if (set_number(env, cand, "major", major(c->st.st_dev)) || set_number(env, cand, "minor", minor(c->st.st_dev)) ||
        set_number(env, cand, "nlink", (double)c->st.st_nlink) || set_number(env, cand, "size", (double)c->st.st_size) ||
        set_number(env, cand, "blocks", (double)c->st.st_blocks) || set_number(env, cand, "mode", c->st.st_mode))
      return NULL;
    CHECK(napi_create_bigint_uint64(env, (uint64_t)c->st.st_ino, &v));
    CHECK(napi_set_named_property(env, cand, "ino", v));
    CHECK(napi_set_element(env, candidates, (uint32_t)k, cand));
  }
  if (set_number(env, result, "count", job->count) || set_number(env, result, "unreadable", job->denied))
    return NULL;
  CHECK(napi_set_named_property(env, result, "candidates", candidates));
  return result;
}

static const scan_kind_t deleted_scan = {
    .usage = "scanFdDirs(dirs, threads)",
    .bad_dir = "scanFdDirs: dirs must be strings",
    .item_size = sizeof(candidate_t),
    .first_cap = 16,
    .keep = keep_candidate,
    .to_js = candidates_to_js,
};

/*
 * scanFdDirs(dirs: string[], threads: number): Array<{ count, unreadable, candidates: [...] } | { error }>
 * Reads every link; stats only " (deleted)" ones and those too long to read.
 */
static napi_value scan_fd_dirs(napi_env env, napi_callback_info info) {
  return run_fd_scan(env, info, &deleted_scan);
}

static const scan_kind_t listed_scan = {
    .usage = "readFdCandidates(dirs, fds: Int32Array, starts: Uint32Array, threads, skip?)",
    .bad_dir = "readFdCandidates: dirs must be strings",
    .item_size = sizeof(candidate_t),
    .first_cap = 16,
    .keep = keep_candidate,
    .to_js = candidates_to_js,
    .listed = true,
};

/*
 * readFdCandidates(dirs: string[], fds: Int32Array, starts: Uint32Array, threads, skip?):
 *   Array<{ count, unreadable, candidates: [...] } | { error }>, in the order of `dirs`.
 * scanFdDirs' rule on only the fds listed for each fd directory (dirs[i]'s are
 * fds[starts[i]..starts[i+1]]), the ones a BPF walk found; count is the directory's st_size.
 */
static napi_value read_fd_candidates(napi_env env, napi_callback_info info) {
  return run_fd_scan(env, info, &listed_scan);
}

/* Keeps every fd. Paths need st_mode to tell a regular file from a directory or device;
   sockets, pipes and anon inodes are told by their text alone, so they cost no stat. */
static bool keep_entry(int dfd, const char *name, const char *target, ssize_t n, void *item, const skip_t *skip,
                       bool *skipped) {
  entry_t *e = item;
  struct stat st;
  if (is_skipped(skip, target, n)) {
    *skipped = true; /* kept, unstat-ed: mode 0 */
    return true;
  }
  if ((n < 0 || (n > 0 && target[0] == '/')) && fstatat(dfd, name, &st, 0) == 0) {
    e->mode = st.st_mode;
    e->major = major(st.st_dev);
    e->minor = minor(st.st_dev);
    e->ino = st.st_ino;
  }
  return true;
}

static napi_value typed_array(napi_env env, napi_typedarray_type type, size_t count, size_t elem, void **data) {
  napi_value buffer, array;
  if (napi_create_arraybuffer(env, count ? count * elem : 1, data, &buffer) != napi_ok) return NULL;
  if (napi_create_typedarray(env, type, count, buffer, 0, &array) != napi_ok) return NULL;
  return array;
}

static napi_value entries_to_js(napi_env env, fd_job_t *job) {
  napi_value result, links, v;
  entry_t *entries = job->items;
  int32_t *fds;
  uint32_t *modes, *majors, *minors;
  uint64_t *inos;
  CHECK(napi_create_object(env, &result));
  napi_value fd_arr = typed_array(env, napi_int32_array, job->n, 4, (void **)&fds);
  napi_value mode_arr = typed_array(env, napi_uint32_array, job->n, 4, (void **)&modes);
  napi_value major_arr = typed_array(env, napi_uint32_array, job->n, 4, (void **)&majors);
  napi_value minor_arr = typed_array(env, napi_uint32_array, job->n, 4, (void **)&minors);
  napi_value ino_arr = typed_array(env, napi_biguint64_array, job->n, 8, (void **)&inos);
  if (!fd_arr || !mode_arr || !major_arr || !minor_arr || !ino_arr) return NULL;
  CHECK(napi_create_array_with_length(env, job->n, &links));
  for (size_t k = 0; k < job->n; k++) {
    entry_t *e = &entries[k];
    fds[k] = e->head.fd;
    modes[k] = e->mode;
    majors[k] = e->major;
    minors[k] = e->minor;
    inos[k] = e->ino;
    if (e->head.link) {
      CHECK(napi_create_string_latin1(env, e->head.link, e->head.link_len, &v));
    } else {
      CHECK(napi_get_null(env, &v));
    }
    CHECK(napi_set_element(env, links, (uint32_t)k, v));
  }
  CHECK(napi_set_named_property(env, result, "fds", fd_arr));
  CHECK(napi_set_named_property(env, result, "links", links));
  CHECK(napi_set_named_property(env, result, "modes", mode_arr));
  CHECK(napi_set_named_property(env, result, "majors", major_arr));
  CHECK(napi_set_named_property(env, result, "minors", minor_arr));
  CHECK(napi_set_named_property(env, result, "inos", ino_arr));
  if (set_number(env, result, "count", job->count) || set_number(env, result, "unreadable", job->denied))
    return NULL;
  return result;
}

static const scan_kind_t full_scan = {
    .usage = "scanFdDirsFull(dirs, threads)",
    .bad_dir = "scanFdDirsFull: dirs must be strings",
    .item_size = sizeof(entry_t),
    .first_cap = 64,
    .keep = keep_entry,
    .to_js = entries_to_js,
};

/*
 * scanFdDirsFull(dirs: string[], threads: number):
 *   Array<{ fds, links, modes, majors, minors, inos, count, unreadable } | { error }>
 * The full scan behind `limbo handles`. Links come back as latin1 strings (one char per byte,
 * so the bytes survive); null when longer than PATH_MAX. modes/majors/minors/inos are 0 for
 * links that are not paths.
 */
static napi_value scan_fd_dirs_full(napi_env env, napi_callback_info info) {
  return run_fd_scan(env, info, &full_scan);
}

/*
 * A du-style walk of one filesystem, on a few threads: every inode once (files with more than
 * one link are deduplicated by inode), allocated blocks (st_blocks * 512), directories included,
 * never crossing into another filesystem. Subtrees under `hidden` roots are totalled apart:
 * with a bind mount of a filesystem's root they are what other mounts hide from du.
 */
typedef struct {
  char *path;
  int hidden;
} dir_item_t;

typedef struct {
  char *path;
  uint64_t ino;
  uint32_t nlink;
  uint64_t blocks;
} linked_t;

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t more;
  dir_item_t *stack;
  size_t n, cap;
  int busy;
  dev_t dev;
  char **hidden;
  size_t nhidden;
  /* (ino) of files with nlink > 1 already counted: open addressing, 0 = empty slot */
  uint64_t *seen;
  size_t seen_cap, seen_n;
  linked_t *linked;
  size_t nlinked, linked_cap;
  int collect_linked;
  /* totals */
  uint64_t allocated, hidden_allocated, files, dirs, errors;
  char *error_samples[8];
  size_t nerror_samples;
} walk_t;

static uint64_t walk_progress_files; /* read by walkProgress() while a walk runs */

static int walk_push(walk_t *w, const char *path, int hidden) {
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 256;
    dir_item_t *grown = realloc(w->stack, cap * sizeof *grown);
    if (!grown) return -1;
    w->stack = grown;
    w->cap = cap;
  }
  w->stack[w->n].path = strdup(path);
  w->stack[w->n].hidden = hidden;
  if (!w->stack[w->n].path) return -1;
  w->n++;
  pthread_cond_signal(&w->more);
  return 0;
}

/* True the first time an inode with several links is seen (the caller holds the lock). */
static int walk_first_sight(walk_t *w, uint64_t ino) {
  if (w->seen_n * 2 >= w->seen_cap) {
    size_t cap = w->seen_cap ? w->seen_cap * 2 : 1024;
    uint64_t *table = calloc(cap, sizeof *table);
    if (!table) return 1;
    for (size_t i = 0; i < w->seen_cap; i++) {
      uint64_t v = w->seen[i];
      if (!v) continue;
      size_t j = (size_t)(v * 11400714819323198485ull) & (cap - 1);
      while (table[j]) j = (j + 1) & (cap - 1);
      table[j] = v;
    }
    free(w->seen);
    w->seen = table;
    w->seen_cap = cap;
  }
  uint64_t key = ino + 1; /* 0 marks an empty slot */
  size_t j = (size_t)(key * 11400714819323198485ull) & (w->seen_cap - 1);
  while (w->seen[j]) {
    if (w->seen[j] == key) return 0;
    j = (j + 1) & (w->seen_cap - 1);
  }
  w->seen[j] = key;
  w->seen_n++;
  return 1;
}

static void walk_error(walk_t *w, const char *path) {
  pthread_mutex_lock(&w->lock);
  w->errors++;
  if (w->nerror_samples < 8) w->error_samples[w->nerror_samples++] = strdup(path);
  pthread_mutex_unlock(&w->lock);
}

static int is_hidden_root(walk_t *w, const char *path) {
  for (size_t i = 0; i < w->nhidden; i++)
    if (strcmp(w->hidden[i], path) == 0) return 1;
  return 0;
}

static void walk_dir(walk_t *w, dir_item_t item) {
  uint64_t allocated = 0, files = 0, dirs = 0;
  int dfd = open(item.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    walk_error(w, item.path);
    return;
  }
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    walk_error(w, item.path);
    return;
  }
  size_t base_len = strlen(item.path);
  if (base_len == 1 && item.path[0] == '/') base_len = 0; /* children of "/" are "/name", not "//name" */
  char child[PATH_MAX];
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' && (de->d_name[1] == 0 || (de->d_name[1] == '.' && de->d_name[2] == 0))) continue;
    size_t name_len = strlen(de->d_name);
    int fits = base_len + 1 + name_len < sizeof child;
    if (fits) {
      memcpy(child, item.path, base_len);
      child[base_len] = '/';
      memcpy(child + base_len + 1, de->d_name, name_len + 1);
    }
    struct stat st;
    if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) walk_error(w, fits ? child : item.path);
      continue;
    }
    if (st.st_dev != w->dev) continue; /* another filesystem mounted here: not ours (du -x) */
    if (S_ISDIR(st.st_mode)) {
      if (!fits) {
        walk_error(w, item.path);
        continue;
      }
      dirs++;
      allocated += (uint64_t)st.st_blocks * 512;
      pthread_mutex_lock(&w->lock);
      int hidden = item.hidden || is_hidden_root(w, child);
      if (hidden) w->hidden_allocated += (uint64_t)st.st_blocks * 512;
      walk_push(w, child, hidden);
      pthread_mutex_unlock(&w->lock);
      continue;
    }
    files++;
    __atomic_add_fetch(&walk_progress_files, 1, __ATOMIC_RELAXED);
    uint64_t bytes = (uint64_t)st.st_blocks * 512;
    if (st.st_nlink > 1) {
      pthread_mutex_lock(&w->lock);
      int first = walk_first_sight(w, (uint64_t)st.st_ino);
      if (w->collect_linked && fits) {
        if (w->nlinked == w->linked_cap) {
          size_t cap = w->linked_cap ? w->linked_cap * 2 : 64;
          linked_t *grown = realloc(w->linked, cap * sizeof *grown);
          if (grown) {
            w->linked = grown;
            w->linked_cap = cap;
          }
        }
        if (w->nlinked < w->linked_cap) {
          linked_t *l = &w->linked[w->nlinked++];
          l->path = strdup(child);
          l->ino = st.st_ino;
          l->nlink = (uint32_t)st.st_nlink;
          l->blocks = (uint64_t)st.st_blocks;
        }
      }
      if (first && item.hidden) w->hidden_allocated += bytes;
      pthread_mutex_unlock(&w->lock);
      if (!first) continue;
    } else if (item.hidden) {
      pthread_mutex_lock(&w->lock);
      w->hidden_allocated += bytes;
      pthread_mutex_unlock(&w->lock);
    }
    allocated += bytes;
  }
  closedir(d);
  pthread_mutex_lock(&w->lock);
  w->allocated += allocated;
  w->files += files;
  w->dirs += dirs;
  pthread_mutex_unlock(&w->lock);
}

static void *walk_worker(void *arg) {
  walk_t *w = arg;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (w->n == 0 && w->busy > 0) pthread_cond_wait(&w->more, &w->lock);
    if (w->n == 0 && w->busy == 0) {
      pthread_cond_broadcast(&w->more);
      break;
    }
    dir_item_t item = w->stack[--w->n];
    w->busy++;
    pthread_mutex_unlock(&w->lock);
    walk_dir(w, item);
    free(item.path);
    pthread_mutex_lock(&w->lock);
    w->busy--;
    if (w->busy == 0 && w->n == 0) pthread_cond_broadcast(&w->more);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

typedef struct {
  walk_t w;
  char *root;
  int threads;
  int root_err; /* errno of the root's lstat, taken at the call */
  /* The root is there but is not a directory (a symlink included). No errno says this
     without also meaning "a path component is not a directory", which is a missing root. */
  bool root_not_dir;
  napi_async_work work;
  napi_deferred deferred;
} walk_job_t;

static void walk_execute(napi_env env, void *data) {
  (void)env;
  walk_job_t *job = data;
  walk_t *w = &job->w;
  struct stat st;
  if (lstat(job->root, &st) < 0) {
    job->root_err = errno;
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    job->root_not_dir = true;
    return;
  }
  int hidden = is_hidden_root(w, job->root);
  w->dev = st.st_dev;
  w->allocated = (uint64_t)st.st_blocks * 512;
  if (hidden) w->hidden_allocated = w->allocated; /* as for any hidden directory: its own blocks count */
  w->dirs = 1;
  walk_push(w, job->root, hidden);
  run_on_threads(job->threads, walk_worker, w);
}

static void walk_free(walk_job_t *job) {
  walk_t *w = &job->w;
  for (size_t i = 0; i < w->nhidden; i++) free(w->hidden[i]);
  free(w->hidden);
  for (size_t i = 0; i < w->nlinked; i++) free(w->linked[i].path);
  free(w->linked);
  for (size_t i = 0; i < w->nerror_samples; i++) free(w->error_samples[i]);
  free(w->seen);
  free(w->stack);
  free(job->root);
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->more);
  free(job);
}

static void walk_complete(napi_env env, napi_status status, void *data) {
  walk_job_t *job = data;
  walk_t *w = &job->w;
  napi_value result = NULL, v, arr;
  (void)status;
  if (job->root_err || job->root_not_dir) {
    if (job->root_err) {
      result = make_error(env, job->root_err);
    } else if (napi_create_object(env, &result) != napi_ok || napi_get_boolean(env, true, &v) != napi_ok ||
               napi_set_named_property(env, result, "notDirectory", v) != napi_ok) {
      goto fail;
    }
    if (!result) goto fail;
    napi_resolve_deferred(env, job->deferred, result);
    goto done;
  }
  if (napi_create_object(env, &result) != napi_ok) goto fail;
#define SET_NUM(key, value)                                                         \
  if (napi_create_double(env, (double)(value), &v) != napi_ok ||                     \
      napi_set_named_property(env, result, key, v) != napi_ok)                       \
    goto fail;
  SET_NUM("allocated", w->allocated);
  SET_NUM("hiddenAllocated", w->hidden_allocated);
  SET_NUM("files", w->files);
  SET_NUM("dirs", w->dirs);
  SET_NUM("errors", w->errors);
  if (napi_create_array_with_length(env, w->nerror_samples, &arr) != napi_ok) goto fail;
  for (size_t i = 0; i < w->nerror_samples; i++) {
    void *copy;
    if (napi_create_buffer_copy(env, strlen(w->error_samples[i]), w->error_samples[i], &copy, &v) != napi_ok ||
        napi_set_element(env, arr, (uint32_t)i, v) != napi_ok)
      goto fail;
  }
  if (napi_set_named_property(env, result, "errorSamples", arr) != napi_ok) goto fail;
  if (napi_create_array_with_length(env, w->nlinked, &arr) != napi_ok) goto fail;
  for (size_t i = 0; i < w->nlinked; i++) {
    napi_value item;
    void *copy;
    if (napi_create_object(env, &item) != napi_ok) goto fail;
    if (napi_create_buffer_copy(env, strlen(w->linked[i].path), w->linked[i].path, &copy, &v) != napi_ok ||
        napi_set_named_property(env, item, "path", v) != napi_ok)
      goto fail;
    if (napi_create_bigint_uint64(env, w->linked[i].ino, &v) != napi_ok || napi_set_named_property(env, item, "ino", v) != napi_ok)
      goto fail;
    if (napi_create_double(env, w->linked[i].nlink, &v) != napi_ok || napi_set_named_property(env, item, "nlink", v) != napi_ok)
      goto fail;
    if (napi_create_double(env, (double)w->linked[i].blocks * 512, &v) != napi_ok ||
        napi_set_named_property(env, item, "allocated", v) != napi_ok)
      goto fail;
    if (napi_set_element(env, arr, (uint32_t)i, item) != napi_ok) goto fail;
  }
  if (napi_set_named_property(env, result, "linked", arr) != napi_ok) goto fail;
#undef SET_NUM
  napi_resolve_deferred(env, job->deferred, result);
  goto done;
fail : {
  napi_value message, error;
  napi_create_string_utf8(env, "limbo native: walk result", NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_reject_deferred(env, job->deferred, error);
}
done:
  napi_delete_async_work(env, job->work);
  walk_free(job);
}

/*
 * walkTree(root: string, threads: number, hidden: string[], collectLinked: boolean):
 *   Promise<{ allocated, hiddenAllocated, files, dirs, errors, errorSamples: Buffer[], linked: [...] }
 *           | { error } | { notDirectory: true }>
 * Runs off the JS thread, so the caller can show progress with walkProgress().
 */
static napi_value walk_tree(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], promise, name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "walkTree(root, threads, hidden, collectLinked)");
    return NULL;
  }
  walk_job_t *job = calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, NULL, "limbo native: out of memory");
    return NULL;
  }
  pthread_mutex_init(&job->w.lock, NULL);
  pthread_cond_init(&job->w.more, NULL);
  size_t len;
  int32_t threads = 1;
  bool collect = false;
  uint32_t nhidden = 0;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || !(job->root = malloc(len + 1)) ||
      napi_get_value_string_utf8(env, argv[0], job->root, len + 1, &len) != napi_ok ||
      napi_get_value_int32(env, argv[1], &threads) != napi_ok || napi_get_array_length(env, argv[2], &nhidden) != napi_ok ||
      napi_get_value_bool(env, argv[3], &collect) != napi_ok) {
    walk_free(job);
    napi_throw_type_error(env, NULL, "walkTree: bad arguments");
    return NULL;
  }
  job->threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
  job->w.collect_linked = collect;
  job->w.hidden = calloc(nhidden ? nhidden : 1, sizeof(char *));
  for (uint32_t i = 0; i < nhidden; i++) {
    napi_value item;
    if (napi_get_element(env, argv[2], i, &item) != napi_ok ||
        napi_get_value_string_utf8(env, item, NULL, 0, &len) != napi_ok || !(job->w.hidden[i] = malloc(len + 1)) ||
        napi_get_value_string_utf8(env, item, job->w.hidden[i], len + 1, &len) != napi_ok) {
      job->w.nhidden = i;
      walk_free(job);
      napi_throw_type_error(env, NULL, "walkTree: hidden must be strings");
      return NULL;
    }
    job->w.nhidden = i + 1;
  }
  __atomic_store_n(&walk_progress_files, 0, __ATOMIC_RELAXED);
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "limbo.walkTree", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, walk_execute, walk_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

/* walkProgress(): files seen so far by the running walk. */
static napi_value walk_progress(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  CHECK(napi_create_double(env, (double)__atomic_load_n(&walk_progress_files, __ATOMIC_RELAXED), &v));
  return v;
}

/* kcmp(pid1, pid2, type, idx1, idx2): 0 equal, 1/2 ordered, -errno on failure. */
static napi_value kcmp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  int64_t a[5] = {0, 0, 0, 0, 0};
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  for (size_t i = 0; i < argc && i < 5; i++) CHECK(napi_get_value_int64(env, argv[i], &a[i]));
  long r = syscall(SYS_kcmp, (pid_t)a[0], (pid_t)a[1], (int)a[2], (unsigned long)a[3], (unsigned long)a[4]);
  int err = r < 0 ? errno : 0;
  CHECK(napi_create_int32(env, r < 0 ? -err : (int32_t)r, &result));
  return result;
}

/* Reads an integer argument: 0, or -1 when it is not a number (the caller throws its own usage TypeError). */
static int arg_int64(napi_env env, napi_value value, int64_t *out) {
  return napi_get_value_int64(env, value, out) == napi_ok ? 0 : -1;
}

/*
 * seekData(fd, offset, whence): lseek(fd, offset, whence) for SEEK_DATA (3) and SEEK_HOLE (4),
 * which node:fs does not offer. Returns the new offset, or -errno (ENXIO: no data past offset).
 */
static napi_value seek_data(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  int64_t fd, offset, whence;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || arg_int64(env, argv[0], &fd) || arg_int64(env, argv[1], &offset) ||
      arg_int64(env, argv[2], &whence) || (whence != SEEK_DATA && whence != SEEK_HOLE)) {
    napi_throw_type_error(env, NULL, "seekData(fd, offset, SEEK_DATA | SEEK_HOLE)");
    return NULL;
  }
  off_t r = lseek((int)fd, (off_t)offset, (int)whence);
  int err = r < 0 ? errno : 0;
  CHECK(napi_create_double(env, r < 0 ? -(double)err : (double)r, &result));
  return result;
}

/* memfdSeals(fd): fcntl(fd, F_GET_SEALS): the seal bits, or -errno (EINVAL: not a shmem file). */
static napi_value memfd_seals(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int64_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || arg_int64(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "memfdSeals(fd)");
    return NULL;
  }
  int r = fcntl((int)fd, F_GET_SEALS);
  int err = r < 0 ? errno : 0;
  CHECK(napi_create_int32(env, r < 0 ? -err : r, &result));
  return result;
}

/*
 * linkFollow(oldpath, newpath): linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, AT_SYMLINK_FOLLOW).
 * Through /proc/self/fd/N it gives an O_TMPFILE file a name; link(2), all node:fs has, never
 * follows the magic link. Returns 0 or -errno. newpath is never followed (EEXIST if anything is there).
 */
static napi_value link_follow(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  char from[PATH_MAX], to[PATH_MAX];
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], from, sizeof from, &len) != napi_ok ||
      len >= sizeof from - 1 || napi_get_value_string_utf8(env, argv[1], to, sizeof to, &len) != napi_ok ||
      len >= sizeof to - 1) {
    napi_throw_type_error(env, NULL, "linkFollow(oldpath, newpath): two paths shorter than PATH_MAX");
    return NULL;
  }
  int r = linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW);
  int err = r < 0 ? errno : 0;
  CHECK(napi_create_int32(env, r < 0 ? -err : 0, &result));
  return result;
}

/*
 * socketProtocol(path): the protocol sockfs names a socket by (sk_prot_creator->name: "TCP",
 * "UDPv6", "PACKET", "UNIX-STREAM", ...), from getxattr(path, "system.sockprotoname") through
 * /proc/PID/fd/N (net/socket.c sockfs_xattr_get). It answers for a socket no /proc/net table
 * lists (never bound, or of a network namespace no process is in); node:fs has no getxattr.
 * Returns the name, or -errno (EOPNOTSUPP: not a socket).
 */
static napi_value socket_protocol(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  char path[PATH_MAX], name[64];
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok ||
      len >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "socketProtocol(path): a path shorter than PATH_MAX");
    return NULL;
  }
  ssize_t r = getxattr(path, "system.sockprotoname", name, sizeof name - 1);
  if (r < 0) {
    CHECK(napi_create_int32(env, -errno, &result));
    return result;
  }
  name[r] = 0; /* the kernel counts the terminating NUL; a bare name stops at it either way */
  CHECK(napi_create_string_latin1(env, name, strlen(name), &result));
  return result;
}

/*
 * fileExtents(path, maxExtents): opens path read-only (a /proc/PID/fd/N link: FIEMAP needs a
 * real open, O_PATH gives EBADF) and asks FS_IOC_FIEMAP for at most maxExtents extents of the
 * whole file. Returns { major, minor, ino, extents } with extents a Float64Array of
 * (logical, physical, length, flags) per extent, or { error } (FIEMAP unsupported reads EIO).
 * O_NONBLOCK: should the fd have become a FIFO since the scan, the open must not block; the
 * caller checks the returned identity. No FIEMAP_FLAG_SYNC: it would write the file's dirty data,
 * and data not yet written (delalloc extents) is the file's own anyway.
 */
static napi_value file_extents(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result, v;
  char path[PATH_MAX];
  size_t len;
  int64_t max;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok ||
      len >= sizeof path - 1 || arg_int64(env, argv[1], &max) || max < 1 || max > 1 << 20) {
    napi_throw_type_error(env, NULL, "fileExtents(path, maxExtents): a path and 1..1048576");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return make_error(env, errno);
  struct stat st;
  size_t bytes = sizeof(struct fiemap) + (size_t)max * sizeof(struct fiemap_extent);
  struct fiemap *map = calloc(1, bytes);
  int err = 0;
  if (!map) err = ENOMEM;
  else if (fstat(fd, &st) < 0) err = errno;
  else if (!S_ISREG(st.st_mode)) err = EINVAL;
  else {
    map->fm_start = 0;
    map->fm_length = FIEMAP_MAX_OFFSET;
    map->fm_extent_count = (unsigned)max;
    if (ioctl(fd, FS_IOC_FIEMAP, map) < 0) err = errno;
  }
  close(fd);
  if (err) {
    free(map);
    return make_error(env, err);
  }
  double *out;
  napi_value arr = typed_array(env, napi_float64_array, (size_t)map->fm_mapped_extents * 4, 8, (void **)&out);
  if (!arr) {
    free(map);
    return NULL;
  }
  for (unsigned i = 0; i < map->fm_mapped_extents; i++) {
    out[i * 4] = (double)map->fm_extents[i].fe_logical;
    out[i * 4 + 1] = (double)map->fm_extents[i].fe_physical;
    out[i * 4 + 2] = (double)map->fm_extents[i].fe_length;
    out[i * 4 + 3] = (double)map->fm_extents[i].fe_flags;
  }
  free(map);
  CHECK(napi_create_object(env, &result));
  if (set_number(env, result, "major", major(st.st_dev)) || set_number(env, result, "minor", minor(st.st_dev)))
    return NULL;
  CHECK(napi_create_bigint_uint64(env, (uint64_t)st.st_ino, &v));
  CHECK(napi_set_named_property(env, result, "ino", v));
  CHECK(napi_set_named_property(env, result, "extents", arr));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value skips_flag;
  if (napi_get_boolean(env, true, &skips_flag) != napi_ok) return NULL;
  napi_property_descriptor props[] = {
      {"scanFdDirs", NULL, scan_fd_dirs, NULL, NULL, NULL, napi_default, NULL},
      {"scanFdDirsFull", NULL, scan_fd_dirs_full, NULL, NULL, NULL, napi_default, NULL},
      {"readFdCandidates", NULL, read_fd_candidates, NULL, NULL, NULL, napi_default, NULL},
      {"kcmp", NULL, kcmp, NULL, NULL, NULL, napi_default, NULL},
      {"seekData", NULL, seek_data, NULL, NULL, NULL, napi_default, NULL},
      {"memfdSeals", NULL, memfd_seals, NULL, NULL, NULL, napi_default, NULL},
      {"linkFollow", NULL, link_follow, NULL, NULL, NULL, napi_default, NULL},
      {"socketProtocol", NULL, socket_protocol, NULL, NULL, NULL, napi_default, NULL},
      {"fileExtents", NULL, file_extents, NULL, NULL, NULL, napi_default, NULL},
      {"walkTree", NULL, walk_tree, NULL, NULL, NULL, napi_default, NULL},
      {"walkProgress", NULL, walk_progress, NULL, NULL, NULL, napi_default, NULL},
      /* scanFdDirs and scanFdDirsFull take the skip rule (a third argument): an older addon would ignore it. */
      {"fdScanSkips", NULL, NULL, NULL, NULL, skips_flag, napi_enumerable, NULL},
#ifdef LIMBO_BPF
      {"bpfScanFds", NULL, bpf_scan_fds, NULL, NULL, NULL, napi_default, NULL},
      {"bpfStartFdScan", NULL, bpf_start_fd_scan, NULL, NULL, NULL, napi_default, NULL},
      {"bpfTakeFdCandidates", NULL, bpf_take_fd_candidates, NULL, NULL, NULL, napi_default, NULL},
      {"bpfStartHandleScan", NULL, bpf_start_handle_scan, NULL, NULL, NULL, napi_default, NULL},
      {"bpfScanHandles", NULL, bpf_scan_handles, NULL, NULL, NULL, napi_default, NULL},
#endif
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
