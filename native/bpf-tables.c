/* The BpfTables of one task_file walk (native/bpf-tables.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf-tables.h"

size_t limbo_hash64(__u64 key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return (size_t)key;
}

int limbo_keyset_add(limbo_keyset_t *set, __u64 key) {
  if (!key) return 1;
  if (2 * (set->len + 1) > set->cap) {
    size_t cap = set->cap ? set->cap * 2 : 1024;
    __u64 *keys = calloc(cap, sizeof *keys);
    if (!keys) return -1;
    for (size_t i = 0; i < set->cap; i++) {
      if (!set->keys[i]) continue;
      size_t j = limbo_hash64(set->keys[i]) & (cap - 1);
      while (keys[j]) j = (j + 1) & (cap - 1);
      keys[j] = set->keys[i];
    }
    free(set->keys);
    set->keys = keys;
    set->cap = cap;
  }
  size_t j = limbo_hash64(key) & (set->cap - 1);
  while (set->keys[j]) {
    if (set->keys[j] == key) return 0;
    j = (j + 1) & (set->cap - 1);
  }
  set->keys[j] = key;
  set->len++;
  return 1;
}

int limbo_tables_start_task(limbo_tables_t *t, __u32 tid, __u64 files) {
  if (t->ntasks == t->tcap) {
    size_t cap = t->tcap ? t->tcap * 2 : 1024;
    limbo_task_table_t *grown = realloc(t->tasks, cap * sizeof *grown);
    if (!grown) return -1;
    t->tasks = grown;
    t->tcap = cap;
  }
  t->tasks[t->ntasks++] = (limbo_task_table_t){tid, 0, files};
  int added = limbo_keyset_add(&t->seen, files);
  if (added < 0) return -1;
  t->duplicate = added == 0;
  return 0;
}

int limbo_tables_add_fd(limbo_tables_t *t, __u32 fd, const struct limbo_file_record *candidate) {
  if (t->ntasks == 0) return 0;
  limbo_task_table_t *task = &t->tasks[t->ntasks - 1];
  task->count++;
  if (!candidate || t->duplicate) return 0;
  if (t->ncandidates == t->ccap) {
    size_t cap = t->ccap ? t->ccap * 2 : 256;
    limbo_candidate_t *grown = realloc(t->candidates, cap * sizeof *grown);
    if (!grown) return -1;
    t->candidates = grown;
    t->ccap = cap;
  }
  t->candidates[t->ncandidates++] = (limbo_candidate_t){task->tid, fd, task->files, *candidate};
  return 0;
}

int limbo_read_iterator(int link_fd, long (*consume)(void *ctx, const char *buf, size_t len), void *ctx) {
  int fd = bpf_iter_create(link_fd);
  if (fd < 0) return errno;
  size_t cap = 1 << 20, len = 0;
  char *buf = malloc(cap);
  int err = buf ? 0 : ENOMEM;
  while (!err) {
    ssize_t n = read(fd, buf + len, cap - len);
    // EAGAIN: a read walked MAX_ITER_OBJECTS (1,000,000) objects that wrote nothing; the next one
    // goes on from there (kernel/bpf/bpf_iter.c bpf_seq_read).
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    len += (size_t)n;
    long used = consume(ctx, buf, len);
    if (used < 0) {
      err = ENOMEM;
      break;
    }
    memmove(buf, buf + used, len - (size_t)used);
    len -= (size_t)used;
  }
  close(fd);
  free(buf);
  return err;
}

void limbo_tables_count_fds(limbo_tables_t *t, __u32 n) {
  if (t->ntasks > 0) t->tasks[t->ntasks - 1].count += n;
}

void limbo_tables_free(limbo_tables_t *t) {
  free(t->tasks);
  free(t->candidates);
  free(t->seen.keys);
  *t = (limbo_tables_t){0};
}

static napi_value number(napi_env env, double value) {
  napi_value v;
  return napi_create_double(env, value, &v) == napi_ok ? v : NULL;
}

static int set(napi_env env, napi_value obj, const char *key, napi_value v) {
  return v && napi_set_named_property(env, obj, key, v) == napi_ok ? 0 : -1;
}

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) return NULL;                               \
  } while (0)

/* A typed array of n elements of `size` bytes on a new buffer; its data in *data. */
static napi_value column(napi_env env, napi_typedarray_type type, size_t size, size_t n, void **data) {
  napi_value buf, array;
  if (napi_create_arraybuffer(env, (n ? n : 1) * size, data, &buf) != napi_ok ||
      napi_create_typedarray(env, type, n, buf, 0, &array) != napi_ok)
    return NULL;
  return array;
}

/* An object per candidate made here took 12 property sets through N-API each, ~30 ms at 10,000
   candidates on the critical path of `limbo deleted`; JavaScript makes them from columns in a few. */
napi_value limbo_candidates_to_js(napi_env env, const limbo_candidate_t *candidates, size_t n) {
  __u32 *tid, *fd, *dev, *nlink, *mode, *flags;
  __u64 *files, *file, *ino;
  double *size, *pos;
  napi_value obj, tids, fds, filess, fileps, inos, devs, nlinks, modes, sizes, poss, flagss;
  if (!(tids = column(env, napi_uint32_array, 4, n, (void **)&tid)) ||
      !(fds = column(env, napi_uint32_array, 4, n, (void **)&fd)) ||
      !(filess = column(env, napi_biguint64_array, 8, n, (void **)&files)) ||
      !(fileps = column(env, napi_biguint64_array, 8, n, (void **)&file)) ||
      !(inos = column(env, napi_biguint64_array, 8, n, (void **)&ino)) ||
      !(devs = column(env, napi_uint32_array, 4, n, (void **)&dev)) ||
      !(nlinks = column(env, napi_uint32_array, 4, n, (void **)&nlink)) ||
      !(modes = column(env, napi_uint32_array, 4, n, (void **)&mode)) ||
      !(sizes = column(env, napi_float64_array, 8, n, (void **)&size)) ||
      !(poss = column(env, napi_float64_array, 8, n, (void **)&pos)) ||
      !(flagss = column(env, napi_uint32_array, 4, n, (void **)&flags)))
    return NULL;
  for (size_t i = 0; i < n; i++) {
    const limbo_candidate_t *c = &candidates[i];
    tid[i] = c->tid;
    fd[i] = c->fd;
    files[i] = c->files;
    file[i] = c->file.file;
    ino[i] = c->file.ino;
    dev[i] = c->file.dev;
    nlink[i] = c->file.nlink;
    mode[i] = c->file.mode;
    size[i] = (double)c->file.size;
    pos[i] = (double)c->file.pos;
    flags[i] = c->file.flags;
  }
  if (napi_create_object(env, &obj) != napi_ok || set(env, obj, "tids", tids) || set(env, obj, "fds", fds) ||
      set(env, obj, "files", filess) || set(env, obj, "file", fileps) || set(env, obj, "ino", inos) ||
      set(env, obj, "dev", devs) || set(env, obj, "nlink", nlinks) || set(env, obj, "mode", modes) ||
      set(env, obj, "sizeBytes", sizes) || set(env, obj, "posBytes", poss) || set(env, obj, "flags", flagss))
    return NULL;
  return obj;
}

napi_value limbo_tables_to_js(napi_env env, const limbo_tables_t *t, bool counted) {
  napi_value tids, files, counts, list, result;
  __u32 *tid, *count;
  __u64 *file;
  if (!(tids = column(env, napi_uint32_array, 4, t->ntasks, (void **)&tid)) ||
      !(files = column(env, napi_biguint64_array, 8, t->ntasks, (void **)&file)) ||
      !(counts = column(env, napi_uint32_array, 4, t->ntasks, (void **)&count)))
    return NULL;
  for (size_t i = 0; i < t->ntasks; i++) {
    tid[i] = t->tasks[i].tid;
    file[i] = t->tasks[i].files;
    count[i] = t->tasks[i].count;
  }
  if (!counted) CHECK(napi_get_null(env, &counts));
  list = limbo_candidates_to_js(env, t->candidates, t->ncandidates);
  if (!list) return NULL;
  CHECK(napi_create_object(env, &result));
  if (set(env, result, "tids", tids) || set(env, result, "files", files) || set(env, result, "counts", counts) ||
      set(env, result, "candidates", list))
    return NULL;
  return result;
}

napi_value limbo_bpf_error_to_js(napi_env env, int err) {
  napi_value result, message;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &message) != napi_ok ||
      set(env, result, "error", message) || set(env, result, "errno", number(env, err)))
    return NULL;
  return result;
}
