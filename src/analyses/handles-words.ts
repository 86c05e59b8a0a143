// Handle warnings in words: what is about to fail, and the fix. Kept apart from handles.ts, which
// decides when a limit is close, so the judgement stays data.
import { escapeName } from '../format/escape.js';
import type { HandleWarning } from './handles.js';

/** A warning as a person reads it. */
export interface HandleWarningWords {
  readonly message: string;
  /** What to do about it. */
  readonly fix: string;
}

/** The sentence and the fix for one warning; names are escaped, never raw bytes. */
export function describeHandleWarning(warning: HandleWarning): HandleWarningWords {
  if (warning.kind === 'system-file-max') {
    const { allocated, max } = warning;
    const used = Math.round((allocated / max) * 100);
    return {
      message: `the system has ${allocated} of ${max} file handles (${used}% of fs.file-max): at 100% open(2) fails with ENFILE everywhere`,
      fix: `find the leak among the processes below, or raise the limit: sysctl -w fs.file-max=${max * 2}`,
    };
  }
  const { process } = warning;
  // Double the soft limit; the hard limit must be at least as high (prlimit refuses soft > hard).
  const soft = (process.limit?.soft ?? 0) * 2;
  const hard = process.limit?.hard === null ? 'unlimited' : Math.max(soft, process.limit?.hard ?? 0);
  const raise = process.unit?.endsWith('.service')
    ? `LimitNOFILE= in ${process.unit}, then restart it`
    : `prlimit --pid ${process.pid} --nofile=${soft}:${hard}`;
  return {
    message: `pid ${process.pid} (${escapeName(process.comm)}) has ${process.fds} of ${process.limit?.soft} fds open (${process.limitUsedPercent}% of its soft limit): at 100% open(2) fails with EMFILE`,
    fix: `find the leak (ls -l /proc/${process.pid}/fd), or raise its limit: ${raise}`,
  };
}
