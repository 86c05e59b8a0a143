/*
 * The user-space half of the handle ledger's BPF scan (native/handles.bpf.c): runs the task_file
 * and task_vma iterators and aggregates their records per process in C, so 1,000,000 fds make
 * no JavaScript object each. Open file descriptions are distinct struct file pointers; files
 * held only by mappings are VMA files in no fd table; SysV shm attaches are distinct shm files.
 * Asked for candidates, the same walk also gives what bpfScanFds would (native/bpf-tables.h), so
 * a snapshot that wants both the ledger and the deleted files walks the fd tables once.
 */
#include <errno.h>
#include <pthread.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "handle-records.h"
#include "handles.skel.h"

#include "bpf-handles.h"
#include "bpf-scan.h"
#include "bpf-tables.h"

static struct limbo_handles *skeleton;
static struct bpf_link *file_link, *vma_link;
static int load_errno;

/* Loaded and attached once per process; each scan creates new iterators from the links. */
static int ensure_loaded(void) {
  if (vma_link) return 0;
  if (load_errno) return load_errno;
  libbpf_set_print(limbo_bpf_quiet);
  skeleton = limbo_handles__open_and_load();
  if (skeleton) file_link = bpf_program__attach_iter(skeleton->progs.limbo_handle_file, NULL);
  if (file_link) vma_link = bpf_program__attach_iter(skeleton->progs.limbo_handle_vma, NULL);
  if (!vma_link) {
    load_errno = errno ? errno : EINVAL;
    if (file_link) bpf_link__destroy(file_link);
    file_link = NULL;
    if (skeleton) limbo_handles__destroy(skeleton);
    skeleton = NULL;
  }
  return load_errno;
}

/* ---- per-process aggregates ---- */

typedef struct {
  __u8 kind;
  __u16 type; /* i_mode & S_IFMT, for paths and text */
  __u16 name_len;
  char *name;
  __u32 count;
} kind_count_t;

typedef struct {
  __u32 tgid;
  __u32 fds;
  __u32 open_files;
  __u32 mapping_files;
  __u32 shm_attachments;
  kind_count_t *kinds;
  size_t nkinds, kcap, last_kind;
  __u64 *tables; /* the fd tables (files_struct) already walked for it */
  size_t ntables;
} process_t;

typedef struct {
  __u64 file;
  __u32 tgid;
  __u32 tid;
  __u32 fd;
  __u32 flags; /* for fds, USE_UNIX...; for VMAs, LIMBO_VMA_SYSV_SHM */
} use_t;

/* An fd use's flags: a unix socket, with the fds in flight to it in the low bits, or a listener. */
#define USE_UNIX 0x80000000u
#define USE_UNIX_LISTENER 0x40000000u
#define USE_SCM_FDS 0x3fffffffu

typedef struct {
  process_t *procs;
  size_t nprocs, pcap;
  size_t *slots; /* open addressing: tgid -> index + 1 */
  size_t scap;
  use_t *uses;
  size_t nuses, ucap;
  limbo_keyset_t seen; /* address spaces (mm) already walked */
  limbo_keyset_t tallied; /* fd tables whose tallied files are counted (processes may share one) */
  size_t tallied_files; /* open file descriptions only their one fd references */
  limbo_tables_t tables; /* every task's fd table and count, and the deleted candidates */
  /* Across chunks: the task whose records are being read, its process (an index: procs may
     move), and whether its fd table or address space was walked already. */
  __u32 current_tid;
  size_t current_process;
  bool current_skipped;
} scan_t;

static process_t *process_of(scan_t *s, __u32 tgid) {
  if (2 * (s->nprocs + 1) > s->scap) {
    size_t cap = s->scap ? s->scap * 2 : 1024;
    size_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return NULL;
    for (size_t i = 0; i < s->nprocs; i++) {
      size_t j = limbo_hash64(s->procs[i].tgid) & (cap - 1);
      while (slots[j]) j = (j + 1) & (cap - 1);
      slots[j] = i + 1;
    }
    free(s->slots);
    s->slots = slots;
    s->scap = cap;
  }
  size_t j = limbo_hash64(tgid) & (s->scap - 1);
  while (s->slots[j]) {
    process_t *p = &s->procs[s->slots[j] - 1];
    if (p->tgid == tgid) return p;
    j = (j + 1) & (s->scap - 1);
  }
  if (s->nprocs == s->pcap) {
    size_t cap = s->pcap ? s->pcap * 2 : 512;
    process_t *procs = realloc(s->procs, cap * sizeof *procs);
    if (!procs) return NULL;
    s->procs = procs;
    s->pcap = cap;
  }
  s->procs[s->nprocs] = (process_t){.tgid = tgid};
  s->slots[j] = ++s->nprocs;
  return &s->procs[s->nprocs - 1];
}

/* Adds an fd table to the process's; 1 when it was new, 0 when walked already, -1 out of memory. */
static int add_table(process_t *p, __u64 files) {
  for (size_t i = 0; i < p->ntables; i++)
    if (p->tables[i] == files) return 0;
  __u64 *tables = realloc(p->tables, (p->ntables + 1) * sizeof *tables);
  if (!tables) return -1;
  p->tables = tables;
  p->tables[p->ntables++] = files;
  return 1;
}

/* Counts `fds` more fds of a kind for the process. */
static int count_kind(process_t *p, __u8 kind, __u16 type, const char *name, __u16 name_len, __u32 fds) {
  /* Most fds of a process are of one kind: the last one counted is tried first. */
  for (size_t n = 0; n < p->nkinds; n++) {
    size_t i = (p->last_kind + n) % p->nkinds;
    kind_count_t *k = &p->kinds[i];
    if (k->kind == kind && k->type == type && k->name_len == name_len && !memcmp(k->name, name, name_len)) {
      k->count += fds;
      p->last_kind = i;
      return 0;
    }
  }
  if (p->nkinds == p->kcap) {
    size_t cap = p->kcap ? p->kcap * 2 : 8;
    kind_count_t *kinds = realloc(p->kinds, cap * sizeof *kinds);
    if (!kinds) return -1;
    p->kinds = kinds;
    p->kcap = cap;
  }
  char *copy = malloc(name_len + 1);
  if (!copy) return -1;
  memcpy(copy, name, name_len);
  p->kinds[p->nkinds++] = (kind_count_t){kind, type, name_len, copy, fds};
  return 0;
}

static int add_use(scan_t *s, use_t use) {
  if (s->nuses == s->ucap) {
    size_t cap = s->ucap ? s->ucap * 2 : 65536;
    use_t *uses = realloc(s->uses, cap * sizeof *uses);
    if (!uses) return -1;
    s->uses = uses;
    s->ucap = cap;
  }
  s->uses[s->nuses++] = use;
  return 0;
}

/*
 * Sorts uses by (file, tgid): an LSD radix sort in 16-bit digits, tgid's first, each pass stable.
 * A digit every key shares (the high bits of kernel pointers, of small pids) costs one count only.
 * qsort took 0.19 s for 1,000,000 fds. Returns -1 out of memory.
 */
static int sort_by_file_then_tgid(use_t *uses, size_t n) {
  static size_t counts[1 << 16];
  use_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
  if (!tmp) return -1;
  use_t *from = uses, *to = tmp;
  for (int pass = 0; pass < 6; pass++) {
    /* passes 0-1: tgid's digits; 2-5: the file pointer's */
    int shift = pass < 2 ? 16 * pass : 16 * (pass - 2);
#define DIGIT(u) ((size_t)((pass < 2 ? (__u64)(u)->tgid : (u)->file) >> shift) & 0xffff)
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < n; i++) counts[DIGIT(&from[i])]++;
    if (n == 0 || counts[DIGIT(&from[0])] == n) continue;
    size_t sum = 0;
    for (size_t d = 0; d < (1 << 16); d++) {
      size_t c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++) to[counts[DIGIT(&from[i])]++] = from[i];
#undef DIGIT
    use_t *swap = from;
    from = to;
    to = swap;
  }
  if (from != uses) memcpy(uses, from, n * sizeof *uses);
  free(tmp);
  return 0;
}

static long consume_fds(void *ctx, const char *buf, size_t len) {
  scan_t *s = ctx;
  size_t off = 0;
  while (off + sizeof(struct limbo_handle_fd_record) <= len) {
    struct limbo_handle_fd_record rec;
    memcpy(&rec, buf + off, sizeof rec);
    size_t size = sizeof rec + rec.name_len;
    bool follows = rec.flags & LIMBO_HANDLE_FILE_FOLLOWS;
    if (off + size + (follows ? sizeof(struct limbo_file_record) : 0) > len) break;
    const char *name = buf + off + sizeof rec;
    struct limbo_file_record candidate;
    if (follows) memcpy(&candidate, buf + off + size, sizeof candidate);
    off += size + (follows ? sizeof candidate : 0);
    if (rec.tid != s->current_tid) {
      if (limbo_tables_start_task(&s->tables, rec.tid, rec.files)) return -1;
      /* kernel/bpf/task_iter.c visits every thread of a process whose leader exited, all with
         one fd table: count a (process, table) once. */
      process_t *p = process_of(s, rec.tgid);
      if (!p) return -1;
      s->current_tid = rec.tid;
      s->current_process = (size_t)(p - s->procs);
      int added = add_table(p, rec.files);
      if (added < 0) return -1;
      s->current_skipped = added == 0;
    }
    if (rec.kind == LIMBO_HANDLE_TALLY) {
      /* fds that each alone reference their file: as many open files, this process's alone */
      struct limbo_handle_tally tally;
      if (rec.name_len != sizeof tally) return -1;
      memcpy(&tally, name, sizeof tally);
      limbo_tables_count_fds(&s->tables, rec.fd);
      if (s->current_skipped) continue;
      process_t *p = &s->procs[s->current_process];
      p->fds += rec.fd;
      p->open_files += rec.fd;
      int added = limbo_keyset_add(&s->tallied, rec.files);
      if (added < 0) return -1;
      if (added) s->tallied_files += rec.fd;
      for (__u16 type = 0; type < 16; type++)
        if (tally.by_type[type] && count_kind(p, LIMBO_HANDLE_PATH, type << 12, "", 0, tally.by_type[type])) return -1;
      continue;
    }
    if (limbo_tables_add_fd(&s->tables, rec.fd, follows ? &candidate : NULL)) return -1;
    if (s->current_skipped) continue;
    process_t *p = &s->procs[s->current_process];
    p->fds++;
    __u16 type = (rec.kind == LIMBO_HANDLE_PATH || rec.kind == LIMBO_HANDLE_TEXT) ? rec.mode & 0170000 : 0;
    __u16 name_len = rec.kind == LIMBO_HANDLE_PATH || rec.kind == LIMBO_HANDLE_PIPE ? 0 : rec.name_len;
    if (count_kind(p, rec.kind, type, name, name_len, 1)) return -1;
    __u32 flags = rec.unix_count == LIMBO_UNIX_LISTENER ? USE_UNIX | USE_UNIX_LISTENER
                  : rec.unix_count == LIMBO_UNIX_COUNTED  ? USE_UNIX | (rec.scm_fds & USE_SCM_FDS)
                                                          : 0;
    if (add_use(s, (use_t){rec.file, rec.tgid, rec.tid, rec.fd, flags})) return -1;
  }
  return (long)off;
}

static long consume_vmas(void *ctx, const char *buf, size_t len) {
  scan_t *s = ctx;
  size_t off = 0;
  for (; off + sizeof(struct limbo_handle_vma_record) <= len; off += sizeof(struct limbo_handle_vma_record)) {
    struct limbo_handle_vma_record rec;
    memcpy(&rec, buf + off, sizeof rec);
    if (rec.tid != s->current_tid) {
      /* Threads share their leader's mm, and task_vma visits a thread with its own fd table too. */
      s->current_tid = rec.tid;
      int added = limbo_keyset_add(&s->seen, rec.mm);
      if (added < 0) return -1;
      s->current_skipped = added == 0;
    }
    if (s->current_skipped) continue;
    if (add_use(s, (use_t){rec.file, rec.tgid, rec.tid, 0, rec.flags})) return -1;
  }
  return (long)off;
}

static bool in_sorted(const __u64 *files, size_t n, __u64 file) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (files[mid] == file) return true;
    if (files[mid] < file) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) goto fail;                                 \
  } while (0)

static int set_number(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  return napi_create_double(env, value, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok
             ? 0
             : -1;
}

static void free_scan(scan_t *s) {
  for (size_t i = 0; i < s->nprocs; i++) {
    for (size_t k = 0; k < s->procs[i].nkinds; k++) free(s->procs[i].kinds[k].name);
    free(s->procs[i].kinds);
    free(s->procs[i].tables);
  }
  free(s->procs);
  free(s->slots);
  free(s->uses);
  free(s->seen.keys);
  free(s->tallied.keys);
  limbo_tables_free(&s->tables);
}

/* One scan's figures, computed without touching JavaScript, so a thread can compute them. */
typedef struct {
  int err;
  scan_t s;
  __u32 *unix_pairs; /* tid, fd of one fd per listening unix socket description */
  size_t nunix;
  size_t open_files, mapping_files, shm_files;
  double fds_in_flight; /* to every other unix socket description */
} result_t;

static void free_result(result_t *r) {
  free_scan(&r->s);
  free(r->unix_pairs);
}

/* Runs both iterators and counts: r->err is 0 or an errno. The programs must be loaded. */
static void run_scan(result_t *r) {
  scan_t *s = &r->s;
  __u64 *fd_files = NULL;
  size_t nfd_files = 0;
  /* A walk that ended early (its reader gone) may have left a tally behind. */
  memset(&skeleton->bss->tally, 0, sizeof skeleton->bss->tally);
  skeleton->bss->have_before = false;
  r->err = limbo_read_iterator(bpf_link__fd(file_link), consume_fds, s);
  if (r->err) return;

  /* Open file descriptions: distinct struct files, once per process that holds one. */
  size_t nfd_uses = s->nuses;
  fd_files = malloc((nfd_uses ? nfd_uses : 1) * sizeof *fd_files);
  r->unix_pairs = malloc((nfd_uses ? nfd_uses : 1) * 2 * sizeof *r->unix_pairs);
  if (!fd_files || !r->unix_pairs || sort_by_file_then_tgid(s->uses, nfd_uses)) {
    r->err = ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < nfd_uses; i++) {
    const use_t *u = &s->uses[i];
    bool new_file = i == 0 || s->uses[i - 1].file != u->file;
    if (new_file) {
      fd_files[nfd_files++] = u->file;
      /* fdinfo shows one count per socket, whichever fd it is read through */
      if (u->flags & USE_UNIX_LISTENER) {
        r->unix_pairs[2 * r->nunix] = u->tid;
        r->unix_pairs[2 * r->nunix++ + 1] = u->fd;
      } else if (u->flags & USE_UNIX) {
        r->fds_in_flight += u->flags & USE_SCM_FDS;
      }
    }
    if (new_file || s->uses[i - 1].tgid != u->tgid) process_of(s, u->tgid)->open_files++; /* made by consume_fds */
  }
  r->open_files = nfd_files + s->tallied_files;

  /* Mappings: VMA files that no fd holds, and shm attach files; the fd uses are done with. */
  s->nuses = 0;
  s->current_tid = 0;
  r->err = limbo_read_iterator(bpf_link__fd(vma_link), consume_vmas, s);
  if (r->err) goto done;
  if (sort_by_file_then_tgid(s->uses, s->nuses)) {
    r->err = ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < s->nuses; i++) {
    const use_t *u = &s->uses[i];
    bool new_file = i == 0 || s->uses[i - 1].file != u->file;
    bool shm = u->flags & LIMBO_VMA_SYSV_SHM;
    bool counted = shm ? new_file || s->uses[i - 1].tgid != u->tgid
                       : new_file && !in_sorted(fd_files, nfd_files, u->file);
    if (!counted) continue;
    process_t *p = process_of(s, u->tgid); /* a process may map files and hold no fd */
    if (!p) {
      r->err = ENOMEM;
      goto done;
    }
    if (shm) {
      r->shm_files += new_file;
      p->shm_attachments++;
    } else {
      r->mapping_files++;
      p->mapping_files++;
    }
  }
done:
  free(fd_files);
}

/* A scan started by bpfStartHandleScan, running on its own thread until bpfScanHandles joins it. */
static result_t background;
static pthread_t background_thread;
static bool background_running;

static void *run_in_background(void *arg) {
  run_scan(arg);
  return NULL;
}

/* The optional first argument, a boolean: whether the walk writes the deleted candidates too. */
static bool candidates_asked(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool asked = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return false;
  if (napi_get_value_bool(env, argv[0], &asked) != napi_ok) return false;
  return asked;
}

/*
 * bpfStartHandleScan(candidates): starts the next bpfScanHandles' kernel walk on a thread of its
 * own, so it runs while the caller reads /proc; a failure to load is reported by bpfScanHandles.
 * A walk started before and never collected is dropped.
 */
napi_value bpf_start_handle_scan(napi_env env, napi_callback_info info) {
  bool candidates = candidates_asked(env, info);
  if (background_running) {
    /* A walk its caller never collected (it threw before): too old to serve the next scan. */
    pthread_join(background_thread, NULL);
    free_result(&background);
    background_running = false;
  }
  if (ensure_loaded()) return NULL;
  skeleton->bss->with_candidates = candidates;
  background = (result_t){0};
  background_running = pthread_create(&background_thread, NULL, run_in_background, &background) == 0;
  return NULL;
}

/*
 * bpfScanHandles(candidates): { processes: [{ pid, fds, openFiles, mappingFiles, shmAttachments,
 * kinds }], openFiles, mappingFiles, shmAttachFiles, fdsInFlight, unixListeners, tables } or
 * { error, errno }: the scan bpfStartHandleScan started, or one run now (with the candidates when
 * asked for). `tables` is what bpfScanFds(true) gives (native/bpf-tables.h): every visited task's
 * fd table and fd count, and the candidates when the walk was asked for them. `kinds` lists [kind, type, name, count] (enum
 * limbo_handle_kind, i_mode & S_IFMT, a latin1 name); fdsInFlight counts the fds in flight to
 * every unix socket but the listeners, whose counts fdinfo gives: unixListeners is [tid, fd, ...]
 * of one fd per listening socket's description. A file only mappings hold is counted for the
 * lowest pid that maps it (fork shares it with the children).
 */
napi_value bpf_scan_handles(napi_env env, napi_callback_info info) {
  bool candidates = candidates_asked(env, info);
  result_t r = {0};
  if (background_running) {
    pthread_join(background_thread, NULL);
    background_running = false;
    r = background;
  } else {
    r.err = ensure_loaded();
    if (!r.err) {
      skeleton->bss->with_candidates = candidates;
      run_scan(&r);
    }
  }
  if (r.err) {
    free_result(&r);
    return limbo_bpf_error_to_js(env, r.err);
  }
  napi_value result = NULL, list, unix_buf, unix_list;
  void *unix_data;
  CHECK(napi_create_arraybuffer(env, (r.nunix ? r.nunix : 1) * 8, &unix_data, &unix_buf));
  CHECK(napi_create_typedarray(env, napi_uint32_array, r.nunix * 2, unix_buf, 0, &unix_list));
  memcpy(unix_data, r.unix_pairs, r.nunix * 8);
  CHECK(napi_create_array_with_length(env, r.s.nprocs, &list));
  for (size_t i = 0; i < r.s.nprocs; i++) {
    const process_t *p = &r.s.procs[i];
    napi_value obj, kinds;
    CHECK(napi_create_object(env, &obj));
    if (set_number(env, obj, "pid", p->tgid) || set_number(env, obj, "fds", p->fds) ||
        set_number(env, obj, "openFiles", p->open_files) ||
        set_number(env, obj, "mappingFiles", p->mapping_files) ||
        set_number(env, obj, "shmAttachments", p->shm_attachments))
      goto fail;
    CHECK(napi_create_array_with_length(env, p->nkinds, &kinds));
    for (size_t k = 0; k < p->nkinds; k++) {
      const kind_count_t *kc = &p->kinds[k];
      napi_value row, v;
      CHECK(napi_create_array_with_length(env, 4, &row));
      CHECK(napi_create_uint32(env, kc->kind, &v));
      CHECK(napi_set_element(env, row, 0, v));
      CHECK(napi_create_uint32(env, kc->type, &v));
      CHECK(napi_set_element(env, row, 1, v));
      CHECK(napi_create_string_latin1(env, kc->name, kc->name_len, &v));
      CHECK(napi_set_element(env, row, 2, v));
      CHECK(napi_create_uint32(env, kc->count, &v));
      CHECK(napi_set_element(env, row, 3, v));
      CHECK(napi_set_element(env, kinds, (uint32_t)k, row));
    }
    CHECK(napi_set_named_property(env, obj, "kinds", kinds));
    CHECK(napi_set_element(env, list, (uint32_t)i, obj));
  }
  CHECK(napi_create_object(env, &result));
  CHECK(napi_set_named_property(env, result, "processes", list));
  CHECK(napi_set_named_property(env, result, "unixListeners", unix_list));
  napi_value tables = limbo_tables_to_js(env, &r.s.tables, true);
  if (!tables) goto fail;
  CHECK(napi_set_named_property(env, result, "tables", tables));
  if (set_number(env, result, "openFiles", (double)r.open_files) ||
      set_number(env, result, "fdsInFlight", r.fds_in_flight) ||
      set_number(env, result, "mappingFiles", (double)r.mapping_files) ||
      set_number(env, result, "shmAttachFiles", (double)r.shm_files))
    goto fail;
  free_result(&r);
  return result;
fail:
  free_result(&r);
  return NULL;
}
