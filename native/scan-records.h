/*
 * The records native/scan.bpf.c writes and native/bpf-scan.c reads, in the order read(2) gives
 * them: one limbo_fd_record per fd whose file may be deleted (per fd, when every_fd is set),
 * followed by one limbo_file_record when its fd field has LIMBO_FD_FILE_FOLLOWS. Both sides are built on the same machine
 * and architecture, so the layout is the compiler's; the padding is spelled out.
 */
#ifndef LIMBO_SCAN_RECORDS_H
#define LIMBO_SCAN_RECORDS_H

#define LIMBO_FD_FILE_FOLLOWS 0x80000000u /* fd numbers stay below 2^30 (fs.nr_open's ceiling) */
#define LIMBO_O_CLOEXEC 02000000           /* include/uapi/asm-generic/fcntl.h (x86, arm64) */

struct limbo_fd_record {
  __u32 tid;   /* in the initial pid namespace */
  __u32 fd;    /* | LIMBO_FD_FILE_FOLLOWS */
  __u64 files; /* the task's struct files_struct: one fd table */
};

struct limbo_file_record {
  __u64 file; /* the struct file: one open file description */
  __u64 ino;
  __s64 size;
  __s64 pos;
  __u32 dev; /* the superblock's s_dev, the kernel's encoding: major << 20 | minor */
  __u32 nlink;
  __u32 mode;
  __u32 flags; /* f_flags, with O_CLOEXEC added from the fd table as fdinfo shows them */
};

#endif
