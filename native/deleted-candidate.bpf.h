/*
 * Which fds may hold a deleted file, decided in the kernel, and the record written for each:
 * shared by native/scan.bpf.c (the deleted-files walk) and native/handles.bpf.c (the ledger's
 * walk, which writes the same records when a snapshot wants both, so one walk serves both).
 * The test is a superset of the /proc scanner's: user space reads the few links found and
 * applies the /proc scanner's own rule (src/proc/fd-table.ts), so both scanners keep the same
 * files. Include after vmlinux.h and bpf_core_read.h.
 */
#ifndef LIMBO_DELETED_CANDIDATE_BPF_H
#define LIMBO_DELETED_CANDIDATE_BPF_H

#include "scan-records.h"

/* include/uapi/linux/magic.h: the pseudo filesystems whose files d_path names "... (deleted)". */
#define LIMBO_TMPFS_MAGIC 0x01021994
#define LIMBO_HUGETLBFS_MAGIC 0x958458f6
#define LIMBO_SECRETMEM_MAGIC 0x5345434d

#define LIMBO_DELETED_SUFFIX " (deleted)"
#define LIMBO_DELETED_LEN (sizeof(LIMBO_DELETED_SUFFIX) - 1)

/* Whether the dentry's own name ends in " (deleted)": a live file may really be called that. */
static __always_inline bool name_ends_deleted(struct dentry *dentry) {
  __u32 len = dentry->d_name.len;
  char tail[LIMBO_DELETED_LEN];
  if (len < LIMBO_DELETED_LEN) return false;
  if (bpf_probe_read_kernel(tail, sizeof tail, dentry->d_name.name + len - LIMBO_DELETED_LEN)) return false;
  for (int i = 0; i < (int)LIMBO_DELETED_LEN; i++)
    if (tail[i] != LIMBO_DELETED_SUFFIX[i]) return false;
  return true;
}

/* Both silly names are 28 bytes: fs/nfs/unlink.c ".nfs%016llx%08x", lib/fuse.c ".fuse_hidden%08x%08x". */
#define LIMBO_SILLY_NAME_LEN 28

/*
 * Whether the dentry's name is a silly rename's: NFS renames an unlinked open file to
 * .nfsXXXXXXXXXXXXXXXXXXXXXXXX (the fd then carries that name, hashed, with nlink 1 while it is
 * cached) and libfuse to .fuse_hiddenXXXXXXXXXXXXXXXX. User space applies the exact rule
 * (src/proc/deleted-name.ts); here the length and a prefix are enough. The length is tested
 * first: it is in the dentry already read, while the name is a read per fd (a tenth of the
 * ledger's walk at 1M fds).
 */
static __always_inline bool name_is_silly(struct dentry *dentry) {
  if (dentry->d_name.len != LIMBO_SILLY_NAME_LEN) return false;
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
static __always_inline bool may_be_deleted(struct file *file) {
  struct dentry *dentry = file->f_path.dentry;
  if (!dentry) return false;
  if (dentry->d_parent != dentry) {
    if (!dentry->d_hash.pprev) return true;
  } else {
    unsigned long magic = dentry->d_sb->s_magic;
    if (magic == LIMBO_TMPFS_MAGIC || magic == LIMBO_HUGETLBFS_MAGIC || magic == LIMBO_SECRETMEM_MAGIC)
      return true;
    if (file->f_inode && file->f_inode->i_nlink == 0) return true;
  }
  return name_ends_deleted(dentry) || name_is_silly(dentry);
}

/* Whether fd has its close-on-exec bit set in the table: fdinfo adds O_CLOEXEC to the flags then. */
static __always_inline bool close_on_exec(struct files_struct *files, __u32 fd) {
  unsigned long *bits = BPF_CORE_READ(files, fdt, close_on_exec);
  unsigned long word = 0;
  if (!bits || bpf_probe_read_kernel(&word, sizeof word, bits + fd / 64)) return false;
  return (word >> (fd % 64)) & 1;
}

/* The record of a candidate's file, as stat and fdinfo would show it. */
static __always_inline void fill_file_record(struct limbo_file_record *rec, struct task_struct *task, __u32 fd,
                                             struct file *file) {
  struct inode *inode = file->f_inode;
  rec->file = (__u64)file;
  rec->ino = inode->i_ino;
  rec->size = inode->i_size;
  rec->pos = file->f_pos;
  rec->dev = inode->i_sb->s_dev;
  rec->nlink = inode->i_nlink;
  rec->mode = inode->i_mode;
  rec->flags = file->f_flags | (close_on_exec(task->files, fd) ? LIMBO_O_CLOEXEC : 0);
}

#endif
