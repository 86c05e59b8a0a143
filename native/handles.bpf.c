/*
 * limbo's kernel-side handle ledger: two BPF iterators. iter/task_file writes, for every
 * (task, fd), the struct file (the identity of an open file description, so no kcmp), the fd
 * table, and what the fd refers to, decided as fs/d_path.c would name it; iter/task_vma writes
 * every file-backed VMA's struct file and whether it is a SysV shm attach, so user space can count
 * the files only mappings hold exactly. native/bpf-handles.c aggregates the records per process.
 * When a snapshot wants the deleted files too (with_candidates), the fd program also writes each
 * candidate's file record, as native/scan.bpf.c would (native/deleted-candidate.bpf.h): one walk
 * of the fd tables serves both.
 *
 * An fd that alone references its file (most of them) gets no record of its own: the program
 * tallies such fds per task and writes the tally when the walk leaves the task, which spares
 * a quarter of the walk's CPU at 1,000,000 fds (the writes, and user space's reading and
 * sorting of each). kernel/bpf/bpf_iter.c bpf_seq_read runs a program again for the same object
 * when its output overflowed the buffer, that output dropped: a run again (the same seq_num)
 * starts from the tally as it was before the first. A run that only tallies writes nothing, so
 * only a run that writes a task's tally and starts the next one can be run again that way.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "deleted-candidate.bpf.h"
#include "handle-records.h"

char LICENSE[] SEC("license") = "GPL"; /* bpf_seq_write and bpf_d_path are GPL-only */

/* include/uapi/linux/magic.h */
#define SOCKFS_MAGIC 0x534F434B
#define PIPEFS_MAGIC 0x50495045
#define ANON_INODE_FS_MAGIC 0x09041934
#define MQUEUE_MAGIC 0x19800202

#define S_IFMT 00170000
#define S_IFREG 0100000
#define S_IFDIR 0040000

/*
 * include/linux/dcache.h: the dentry's d_flags say whether it is a regular file or a directory
 * (d_flags_for_inode), so most fds need no read of their inode, a cache miss each (a fifth of the
 * walk at 1M fds). Since Linux 6.14 these are an enum (enum dentry_flags) whose values moved;
 * before, #defines that BTF does not carry. This flavor of it is relocated by name at load
 * (CO-RE), and where the kernel has no such enum the inode is read as before.
 */
enum dentry_flags___limbo {
  DCACHE_ENTRY_TYPE___limbo = 1,
  DCACHE_DIRECTORY_TYPE___limbo = 2,
  DCACHE_AUTODIR_TYPE___limbo = 3,
  DCACHE_REGULAR_TYPE___limbo = 4,
};

/* The fd's file type (i_mode & S_IFMT), from its dentry where that tells, else from its inode. */
static __always_inline __u16 file_type(struct dentry *dentry, struct inode *inode) {
  if (bpf_core_enum_value_exists(enum dentry_flags___limbo, DCACHE_REGULAR_TYPE___limbo)) {
    unsigned int type = dentry->d_flags & bpf_core_enum_value(enum dentry_flags___limbo, DCACHE_ENTRY_TYPE___limbo);
    if (type == bpf_core_enum_value(enum dentry_flags___limbo, DCACHE_REGULAR_TYPE___limbo)) return S_IFREG;
    if (type == bpf_core_enum_value(enum dentry_flags___limbo, DCACHE_DIRECTORY_TYPE___limbo) ||
        type == bpf_core_enum_value(enum dentry_flags___limbo, DCACHE_AUTODIR_TYPE___limbo))
      return S_IFDIR;
  }
  return inode->i_mode & S_IFMT;
}

#define AF_UNIX 1
#define SOCK_DGRAM 2
/* include/net/tcp_states.h, the states unix sockets use too */
#define TCP_ESTABLISHED 1
#define TCP_LISTEN 10

/* Set by user space before a run (the skeleton's .bss is mapped): write the deleted candidates' files. */
bool with_candidates = false;

/* The task being tallied, as its record will be written; reset by user space before each run. */
struct limbo_handle_tally_record tally = {};
/* The tally before the run for object seq_num `before_seq` (or the run at the end after it,
   `before_end`: that one has the last object's seq_num) wrote it, while `have_before`. */
struct limbo_handle_tally_record before = {};
__u64 before_seq = 0;
bool before_end = false;
bool have_before = false;

/*
 * The references to a struct file besides one: file_ref_t (Linux >= 6.13) stores the count less
 * one, atomic_long_t f_count before it the count itself. -1 where neither is found.
 */
struct file_ref___limbo {
  atomic64_t refcnt;
};
struct file___ref {
  struct file_ref___limbo f_ref;
} __attribute__((preserve_access_index));
struct file___count {
  atomic_long_t f_count;
} __attribute__((preserve_access_index));

static __always_inline long references_but_one(struct file *file) {
  if (bpf_core_field_exists(struct file___ref, f_ref))
    return BPF_CORE_READ((struct file___ref *)file, f_ref.refcnt.counter);
  if (bpf_core_field_exists(struct file___count, f_count))
    return BPF_CORE_READ((struct file___count *)file, f_count.counter) - 1;
  return -1;
}

/* Writes the tally of the task left, if it counted any fd, and starts an empty one for `task`. */
static __always_inline void next_tally(struct seq_file *seq, struct task_struct *task) {
  if (tally.rec.fd > 0) bpf_seq_write(seq, &tally, sizeof tally);
  __builtin_memset(&tally, 0, sizeof tally);
  if (!task) return;
  tally.rec.tid = task->pid;
  tally.rec.tgid = task->tgid;
  tally.rec.files = (__u64)task->files;
  tally.rec.kind = LIMBO_HANDLE_TALLY;
  tally.rec.name_len = sizeof tally.tally;
}

/* A name buffer per CPU: bpf_d_path needs more than the stack should hold. */
struct name_buffer {
  struct limbo_handle_fd_record rec;
  char name[LIMBO_HANDLE_NAME_MAX];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct name_buffer);
} buffers SEC(".maps");

/*
 * The fds in flight to a unix socket as its fdinfo shows them (net/unix/af_unix.c
 * unix_show_fdinfo): its scm_stat for a datagram or connected socket, 0 for one neither connected
 * nor listening; a listener's is the sum over the connections queued on it, left to fdinfo.
 */
static __always_inline void count_in_flight(struct file *file, struct limbo_handle_fd_record *rec) {
  struct socket *sock = bpf_sock_from_file(file);
  struct sock *sk = sock ? sock->sk : NULL;
  if (!sk || sk->__sk_common.skc_family != AF_UNIX) return;
  unsigned char state = sk->__sk_common.skc_state;
  rec->unix_count = LIMBO_UNIX_COUNTED;
  /* struct unix_sock begins with its struct sock; a CO-RE read rather than bpf_skc_to_unix_sock
     (Linux 5.16), so the program loads wherever task_vma does (5.12). */
  if (sock->type == SOCK_DGRAM || state == TCP_ESTABLISHED)
    rec->scm_fds = (__u32)BPF_CORE_READ((struct unix_sock *)sk, scm_stat.nr_fds.counter);
  else if (state == TCP_LISTEN)
    rec->unix_count = LIMBO_UNIX_LISTENER;
}

SEC("iter/task_file")
int limbo_handle_file(struct bpf_iter__task_file *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *task = ctx->task;
  struct file *file = ctx->file;
  __u32 zero = 0;
  /* Only a run that moves to the next task changes the tally and writes: a run again for the
     same object (its first run's output dropped) starts from the tally as it was before it. */
  __u64 seq_num = ctx->meta->seq_num;
  bool end = !task || !file; /* the run at the end of the walk: the last object's seq_num */
  if (have_before && seq_num == before_seq && end == before_end) tally = before;
  if (end || tally.rec.tid != task->pid) {
    before = tally;
    before_seq = seq_num;
    before_end = end;
    have_before = true;
    next_tally(seq, end ? NULL : task);
    if (end) return 0;
  }
  struct name_buffer *buf = bpf_map_lookup_elem(&buffers, &zero);
  if (!buf) return 0;

  struct inode *inode = file->f_inode;
  struct dentry *dentry = file->f_path.dentry;
  struct limbo_handle_fd_record *rec = &buf->rec;
  rec->tid = task->pid;
  rec->tgid = task->tgid;
  rec->fd = ctx->fd;
  rec->files = (__u64)task->files;
  rec->file = (__u64)file;
  rec->mode = !inode ? 0 : dentry ? file_type(dentry, inode) : inode->i_mode & S_IFMT;
  rec->kind = LIMBO_HANDLE_PATH;
  rec->flags = inode && with_candidates && may_be_deleted(file) ? LIMBO_HANDLE_FILE_FOLLOWS : 0;
  rec->unix_count = LIMBO_UNIX_NONE;
  rec->scm_fds = 0;
  long len = 1; /* with the terminating NUL, as both name helpers count it */
  if (inode && dentry) {
    /* The dentry's superblock, not the inode's: the pseudo filesystems tested have one, and the
       dentry is read already. */
    unsigned long magic = dentry->d_sb->s_magic;
    /* fs/d_path.c d_path: a dentry with d_dname is named by it unless it is the root of its mount.
       Direct loads (BTF pointers), not bpf_probe_read calls: this runs for every fd. */
    const struct dentry_operations *ops = dentry->d_op;
    bool named = ops && ops->d_dname &&
                 (dentry->d_parent != dentry || dentry != file->f_path.mnt->mnt_root);
    if (!named) {
      if (magic == MQUEUE_MAGIC && (rec->mode & S_IFMT) == S_IFREG) rec->kind = LIMBO_HANDLE_MQUEUE;
    } else if (magic == PIPEFS_MAGIC) {
      rec->kind = LIMBO_HANDLE_PIPE;
    } else if (magic == SOCKFS_MAGIC || magic == ANON_INODE_FS_MAGIC) {
      /* net/socket.c names a socket's dentry after sk_prot_creator->name (the sockprotoname xattr);
         fs/anon_inodes.c names it "[eventfd]", "inotify", ... and prints "anon_inode:NAME". */
      rec->kind = magic == SOCKFS_MAGIC ? LIMBO_HANDLE_SOCKET : LIMBO_HANDLE_ANON;
      len = bpf_probe_read_kernel_str(buf->name, sizeof buf->name, dentry->d_name.name);
      if (magic == SOCKFS_MAGIC) count_in_flight(file, rec);
    } else {
      /* nsfs, pidfs, memfd, secretmem, dmabuf...: the text readlink shows, classified by user space. */
      rec->kind = LIMBO_HANDLE_TEXT;
      len = bpf_d_path((struct path *)&file->f_path, buf->name, sizeof buf->name);
    }
  }
  /* The fd alone holds its file (its reference, and the iterator's): tallied, not written. One
     more reference (another fd, a mapping, a read in progress) and it is written, as before. */
  if (rec->kind == LIMBO_HANDLE_PATH && rec->flags == 0 && references_but_one(file) == 1) {
    tally.rec.fd++;
    tally.tally.by_type[(rec->mode >> 12) & 15]++;
    return 0;
  }
  if (len < 1) len = 1;
  rec->name_len = (__u16)(len - 1);
  __u32 size = sizeof *rec + rec->name_len;
  if (size > sizeof *buf) size = sizeof *buf;
  bpf_seq_write(seq, buf, size);
  if (rec->flags & LIMBO_HANDLE_FILE_FOLLOWS) {
    struct limbo_file_record candidate;
    fill_file_record(&candidate, task, ctx->fd, file);
    bpf_seq_write(seq, &candidate, sizeof candidate);
  }
  return 0;
}

SEC("iter/task_vma")
int limbo_handle_vma(struct bpf_iter__task_vma *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *task = ctx->task;
  struct vm_area_struct *vma = ctx->vma;
  if (!task || !vma) return 0;
  struct file *file = vma->vm_file;
  if (!file) return 0;
  struct limbo_handle_vma_record rec = {
      .tid = task->pid,
      .tgid = task->tgid,
      .mm = (__u64)vma->vm_mm,
      .file = (__u64)file,
  };
  /* ipc/shm.c: every shmat makes a struct file on the segment's shmem file, whose dentry is the
     pseudo root "SYSV%08x" (shmem_kernel_file_setup, hugetlb_file_setup): what maps shows as /SYSV. */
  struct dentry *dentry = file->f_path.dentry;
  char head[5] = {};
  if (dentry && dentry->d_parent == dentry &&
      bpf_probe_read_kernel_str(head, sizeof head, dentry->d_name.name) == 5 && head[0] == 'S' &&
      head[1] == 'Y' && head[2] == 'S' && head[3] == 'V')
    rec.flags = LIMBO_VMA_SYSV_SHM;
  bpf_seq_write(seq, &rec, sizeof rec);
  return 0;
}
