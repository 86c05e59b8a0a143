/*
 * The records native/handles.bpf.c writes and native/bpf-handles.c reads for the handle ledger.
 * Both sides are built on the same machine, so the layout is the compiler's; padding is spelled out.
 */
#ifndef LIMBO_HANDLE_RECORDS_H
#define LIMBO_HANDLE_RECORDS_H

/* What an fd refers to, as far as the kernel decides it (user space names it: src/proc/fd-kind.ts). */
enum limbo_handle_kind {
  LIMBO_HANDLE_PATH = 0,   /* a file reached by a path: its kind is its mode's */
  LIMBO_HANDLE_MQUEUE = 1, /* a regular file on an mqueue filesystem */
  LIMBO_HANDLE_SOCKET = 2, /* name: the socket's protocol (sockfs names the dentry after it) */
  LIMBO_HANDLE_PIPE = 3,   /* an anonymous pipe (pipefs) */
  LIMBO_HANDLE_ANON = 4,   /* name: the anon inode's dentry name ("[eventfd]", "inotify", ...) */
  LIMBO_HANDLE_TEXT = 5,   /* name: what readlink shows (bpf_d_path of another pseudo file) */
  /* Not an fd: a tally of the task's fds that each hold a path file nothing else references
     (fd is how many), followed by a limbo_handle_tally in place of a name. */
  LIMBO_HANDLE_TALLY = 6,
};

#define LIMBO_HANDLE_NAME_MAX 256

/* Whether a record's scm_fds holds what the socket's fdinfo shows as scm_fds. */
enum limbo_unix_count {
  LIMBO_UNIX_NONE = 0,     /* not a unix socket */
  LIMBO_UNIX_COUNTED = 1,  /* scm_fds is its count */
  LIMBO_UNIX_LISTENER = 2, /* a listener: fdinfo sums its queued connections' counts, read there */
};

/* A limbo_handle_fd_record's flags: a limbo_file_record (native/scan-records.h) follows its name. */
#define LIMBO_HANDLE_FILE_FOLLOWS 1u

/*
 * One per (task, fd), followed by name_len bytes of name and, for an fd whose file may be deleted
 * when candidates are asked for, a limbo_file_record.
 */
struct limbo_handle_fd_record {
  __u32 tid;
  __u32 tgid; /* both in the initial pid namespace */
  __u32 fd;
  __u16 mode; /* i_mode & S_IFMT: the file's type */
  __u8 kind;  /* enum limbo_handle_kind */
  __u8 flags; /* LIMBO_HANDLE_FILE_FOLLOWS */
  __u64 files; /* the task's struct files_struct: one fd table */
  __u64 file;  /* the struct file: one open file description */
  __u16 name_len;
  __u16 unix_count; /* enum limbo_unix_count */
  __u32 scm_fds;    /* fds in flight to a unix socket: SCM_RIGHTS sent to it, not yet received */
};

/*
 * The fds a LIMBO_HANDLE_TALLY record counts, by file type (i_mode >> 12): each is the only
 * reference to its struct file, so each is one open file description of this process alone,
 * mapped by no one; user space needs no record of each to count them.
 */
struct limbo_handle_tally {
  __u32 by_type[16];
};

/* A LIMBO_HANDLE_TALLY record as written: its fd record (fd: how many), then the tally. */
struct limbo_handle_tally_record {
  struct limbo_handle_fd_record rec;
  struct limbo_handle_tally tally;
};

#define LIMBO_VMA_SYSV_SHM 1u

/* One per file-backed VMA of a task. */
struct limbo_handle_vma_record {
  __u32 tid;
  __u32 tgid;
  __u64 mm;   /* the task's struct mm_struct: one address space */
  __u64 file; /* vm_file */
  __u32 flags; /* LIMBO_VMA_SYSV_SHM: a shmat attach file */
  __u32 pad;
};

#endif
