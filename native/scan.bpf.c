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

#include "deleted-candidate.bpf.h"

char LICENSE[] SEC("license") = "GPL"; /* bpf_seq_write is GPL-only */

/* Set by user space before a run (the skeleton's .bss is mapped): a short record for every fd. */
bool every_fd = false;

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

  struct limbo_file_record rec;
  fill_file_record(&rec, task, ctx->fd, file);
  bpf_seq_write(seq, &rec, sizeof rec);
  return 0;
}
