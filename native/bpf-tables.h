/*
 * The fd tables one task_file walk saw, in the shape src/snapshot/bpf-fd-scan.ts takes
 * (BpfTables: tids, files, counts, candidates): each visited task with its fd table and fd count,
 * and the fds whose file may be deleted with their kernel facts. Built by native/bpf-scan.c from
 * the deleted-files walk, and by native/bpf-handles.c when the ledger's walk serves it too.
 */
#ifndef LIMBO_BPF_TABLES_H
#define LIMBO_BPF_TABLES_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

#include "scan-records.h"

/* A set of 64-bit keys (fd tables, address spaces already walked): open addressing, 0 never stored. */
typedef struct {
  __u64 *keys;
  size_t cap, len;
} limbo_keyset_t;

size_t limbo_hash64(__u64 key);
/* Adds key; 1 when it was new (and for 0, which is never stored), 0 when present, -1 out of memory. */
int limbo_keyset_add(limbo_keyset_t *set, __u64 key);

typedef struct {
  __u32 tid;
  __u32 count;
  __u64 files;
} limbo_task_table_t;

typedef struct {
  __u32 tid;
  __u32 fd;
  __u64 files;
  struct limbo_file_record file;
} limbo_candidate_t;

typedef struct {
  limbo_task_table_t *tasks; /* in the order visited: tids ascending */
  size_t ntasks, tcap;
  limbo_candidate_t *candidates;
  size_t ncandidates, ccap;
  limbo_keyset_t seen; /* fd tables (files_struct) seen under an earlier task */
  bool duplicate; /* the current task's table was walked under an earlier task */
} limbo_tables_t;

/* Starts the next task's records; 0, or -1 out of memory. */
int limbo_tables_start_task(limbo_tables_t *t, __u32 tid, __u64 files);
/* Counts one fd of the current task, and keeps its candidate (unless its table was seen before). */
int limbo_tables_add_fd(limbo_tables_t *t, __u32 fd, const struct limbo_file_record *candidate);
/* Counts `n` fds of the current task that are no candidates. */
void limbo_tables_count_fds(limbo_tables_t *t, __u32 n);
/*
 * { tids: Uint32Array, files: BigUint64Array, counts: Uint32Array | null, candidates: columns },
 * or NULL. counts is null unless `counted`: the walk sent a record for every fd, not only
 * candidates.
 */
napi_value limbo_tables_to_js(napi_env env, const limbo_tables_t *t, bool counted);
/*
 * `n` candidates as columns, one typed array per field of src/native.ts BpfCandidateColumns
 * (loadNativeAddon makes bpfScanFds' into BpfCandidate objects), or NULL.
 */
napi_value limbo_candidates_to_js(napi_env env, const limbo_candidate_t *candidates, size_t n);
void limbo_tables_free(limbo_tables_t *t);
/*
 * Reads a BPF iterator (bpf_iter_create of `link_fd`) to its end, handing the bytes read so far to
 * `consume` after each read(2); it returns how many it used (a record may straddle two reads), or
 * -1 out of memory. 0, or an errno.
 */
int limbo_read_iterator(int link_fd, long (*consume)(void *ctx, const char *buf, size_t len), void *ctx);
/* { error: strerror(err), errno: err }: what bpfScanFds and bpfScanHandles give when a run fails; NULL on failure. */
napi_value limbo_bpf_error_to_js(napi_env env, int err);

#endif
