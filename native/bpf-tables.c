/* The BpfTables of one task_file walk (native/bpf-tables.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf-tables.h"

/* The kernel's dev_t (include/linux/kdev_t.h MINORBITS 20), not user space's. */
#define KERNEL_MAJOR(dev) ((dev) >> 20)
#define KERNEL_MINOR(dev) ((dev) & 0xfffff)

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

static napi_value bigint(napi_env env, __u64 value) {
  napi_value v;
  return napi_create_bigint_uint64(env, value, &v) == napi_ok ? v : NULL;
}

static int set(napi_env env, napi_value obj, const char *key, napi_value v) {
  return v && napi_set_named_property(env, obj, key, v) == napi_ok ? 0 : -1;
}

/* The same object bpfScanFds gives for a candidate (src/native.ts BpfCandidate). */
static napi_value candidate_to_js(napi_env env, const limbo_candidate_t *c) {
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  if (set(env, obj, "tid", number(env, c->tid)) || set(env, obj, "fd", number(env, c->fd)) ||
      set(env, obj, "files", bigint(env, c->files)) || set(env, obj, "file", bigint(env, c->file.file)) ||
      set(env, obj, "ino", bigint(env, c->file.ino)) ||
      set(env, obj, "major", number(env, KERNEL_MAJOR(c->file.dev))) ||
      set(env, obj, "minor", number(env, KERNEL_MINOR(c->file.dev))) ||
      set(env, obj, "nlink", number(env, c->file.nlink)) || set(env, obj, "mode", number(env, c->file.mode)) ||
      set(env, obj, "sizeBytes", number(env, (double)c->file.size)) ||
      set(env, obj, "posBytes", number(env, (double)c->file.pos)) ||
      set(env, obj, "flags", number(env, c->file.flags)))
    return NULL;
  return obj;
}

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) return NULL;                               \
  } while (0)

napi_value limbo_tables_to_js(napi_env env, const limbo_tables_t *t, bool counted) {
  napi_value tids_buf, files_buf, counts_buf, tids, files, counts, list, result;
  void *tids_data, *files_data, *counts_data;
  size_t n = t->ntasks ? t->ntasks : 1;
  CHECK(napi_create_arraybuffer(env, n * 4, &tids_data, &tids_buf));
  CHECK(napi_create_arraybuffer(env, n * 8, &files_data, &files_buf));
  CHECK(napi_create_arraybuffer(env, n * 4, &counts_data, &counts_buf));
  CHECK(napi_create_typedarray(env, napi_uint32_array, t->ntasks, tids_buf, 0, &tids));
  CHECK(napi_create_typedarray(env, napi_biguint64_array, t->ntasks, files_buf, 0, &files));
  if (counted)
    CHECK(napi_create_typedarray(env, napi_uint32_array, t->ntasks, counts_buf, 0, &counts));
  else
    CHECK(napi_get_null(env, &counts));
  for (size_t i = 0; i < t->ntasks; i++) {
    ((__u32 *)tids_data)[i] = t->tasks[i].tid;
    ((__u64 *)files_data)[i] = t->tasks[i].files;
    ((__u32 *)counts_data)[i] = t->tasks[i].count;
  }
  CHECK(napi_create_array_with_length(env, t->ncandidates, &list));
  for (size_t i = 0; i < t->ncandidates; i++) {
    napi_value c = candidate_to_js(env, &t->candidates[i]);
    if (!c) return NULL;
    CHECK(napi_set_element(env, list, (uint32_t)i, c));
  }
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
