/*
 * limbo's kernel-side fd scan: a BPF iterator over every (task, fd, struct file) of the tasks
 * in the reader's pid namespace (kernel/bpf/task_iter.c skips a thread whose fd table is its
 * leader's, so each table is walked once unless the leader has exited). For each fd whose file
 * may be deleted it writes a short record (task, fd, fd table) and a long one (the file). Where
 * user space cannot count a table's fds by stat(/proc/PID/fd).st_size (Linux < 6.2), it sets
 * every_fd and the short record is written for every fd, so it counts them from these. The
 * test is a superset of the /proc scanner's: user space reads the few links found and applies
 * the /proc scanner's own rule (src/proc/fd-table.ts), so both scanners keep the same files. Built with clang -target bpf against a vmlinux.h that
 * bpftool dumps at build time (CO-RE: field offsets are relocated at load on any kernel with BTF).
 *
 * Every record of one fd is written in one run of the program: when the seq_file buffer
 * overflows, the kernel drops that run's output and runs it again for the same fd
 * (kernel/bpf/bpf_iter.c bpf_seq_read), so the program keeps no state between runs.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "scan-records.h"

char LICENSE[] SEC("license") = "GPL"; /* bpf_seq_write is GPL-only */

/* include/uapi/linux/magic.h: the pseudo filesystems whose files d_path names "... (deleted)". */
#define TMPFS_MAGIC 0x01021994
#define HUGETLBFS_MAGIC 0x958458f6
#define SECRETMEM_MAGIC 0x5345434d

/* Set by user space before a run (the skeleton's .bss is mapped): a short record for every fd. */
bool every_fd = false;

#define DELETED_SUFFIX " (deleted)"
#define DELETED_LEN (sizeof(DELETED_SUFFIX) - 1)

/* Whether the dentry's own name ends in " (deleted)": a live file may really be called that. */
static bool name_ends_deleted(struct dentry *dentry) {
  __u32 len = dentry->d_name.len;
  char tail[DELETED_LEN];
  if (len < DELETED_LEN) return false;
  if (bpf_probe_read_kernel(tail, sizeof tail, dentry->d_name.name + len - DELETED_LEN)) return false;
  for (int i = 0; i < (int)DELETED_LEN; i++)
    if (tail[i] != DELETED_SUFFIX[i]) return false;
  return true;
}

/* ".nfs" + 24 hex digits and ".fuse_hidden" + 16: both silly names are this long (src/proc/deleted-name.ts). */
#define SILLY_NAME_LEN 28

/*
 * Whether the dentry's name is a silly rename's: NFS renames an unlinked open file to
 * .nfsXXXXXXXXXXXXXXXXXXXXXXXX (the fd then carries that name, hashed, with nlink 1 while it is
 * cached) and libfuse to .fuse_hiddenXXXXXXXXXXXXXXXX. User space applies the exact rule
 * (src/proc/deleted-name.ts); here the length and a prefix are enough. The length is in the
 * dentry already read: the name itself is read (a helper call) for almost no fd of a million.
 */
static bool name_is_silly(struct dentry *dentry) {
  if (dentry->d_name.len != SILLY_NAME_LEN) return false;
  char head[13] = {};
  if (bpf_probe_read_kernel_str(head, sizeof head, dentry->d_name.name) < 5) return false;
  if (head[0] != '.') return false;
  if (head[1] == 'n' && head[2] == 'f' && head[3] == 's') return true;
  const char fuse[] = ".fuse_hidden";
  for (int i = 1; i < (int)sizeof fuse - 1; i++)
    if (head[i] != fuse[i]) return false;
  return true;
}

/*
 * Whether readlink could end in " (deleted)" (fs/d_path.c): for a named file, when its dentry is
 * unlinked (unhashed, not a root; unlinked files and O_TMPFILE, nlink 0 or not); for a pseudo file
 * (a root dentry: memfd, shm, secretmem, sockets, pipes, anon inodes), when its filesystem's
 * d_dname appends it (shmem, hugetlbfs, secretmem) or, whatever its filesystem, its inode has no
 * link left. Or the name carries the suffix, or is a silly rename's. Only the dentry is read for
 * a named file, not its inode (a second cache miss per fd, a quarter of the walk's cost at 1M
 * fds): a hashed dentry of an inode with nlink 0 (an NFS file deleted on the server, not yet
 * revalidated) reads no suffix, and the /proc scanner leaves it too.
 */
static bool may_be_deleted(struct file *file) {
  struct dentry *dentry = file->f_path.dentry;
  if (!dentry) return false;
  if (dentry->d_parent != dentry) {
    if (!dentry->d_hash.pprev) return true;
  } else {
    unsigned long magic = dentry->d_sb->s_magic;
    if (magic == TMPFS_MAGIC || magic == HUGETLBFS_MAGIC || magic == SECRETMEM_MAGIC) return true;
    if (file->f_inode && file->f_inode->i_nlink == 0) return true;
  }
  return name_ends_deleted(dentry) || name_is_silly(dentry);
}

/* Whether fd has its close-on-exec bit set in the table: fdinfo adds O_CLOEXEC to the flags then. */
static bool close_on_exec(struct files_struct *files, __u32 fd) {
  unsigned long *bits = BPF_CORE_READ(files, fdt, close_on_exec);
  unsigned long word = 0;
  if (!bits || bpf_probe_read_kernel(&word, sizeof word, bits + fd / 64)) return false;
  return (word >> (fd % 64)) & 1;
}

SEC("iter/task_file")
int limbo_task_file(struct bpf_iter__task_file *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *task = ctx->task;
  struct file *file = ctx->file;
  if (!task || !file) return 0;

  bool candidate = may_be_deleted(file);
  if (!candidate && !every_fd) return 0;
  struct limbo_fd_record fd = {
      .tid = task->pid,
      .fd = ctx->fd | (candidate ? LIMBO_FD_FILE_FOLLOWS : 0),
      .files = (__u64)task->files,
  };
  bpf_seq_write(seq, &fd, sizeof fd);
  if (!candidate) return 0;

  struct inode *inode = file->f_inode;
  struct limbo_file_record rec = {
      .file = (__u64)file,
      .ino = inode->i_ino,
      .size = inode->i_size,
      .pos = file->f_pos,
      .dev = inode->i_sb->s_dev,
      .nlink = inode->i_nlink,
      .mode = inode->i_mode,
      .flags = file->f_flags | (close_on_exec(task->files, ctx->fd) ? LIMBO_O_CLOEXEC : 0),
  };
  bpf_seq_write(seq, &rec, sizeof rec);
  return 0;
}
