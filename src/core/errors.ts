/** How a read of a /proc entry failed, in the terms limbo reports. */
export type ReadFailure = 'gone' | 'denied' | 'too-long' | 'other';

/** The errno name (ENOENT, EACCES, ...) an fs or child_process error carries, if any. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Why a call failed, in one word where the system gives one: its errno name, else its message. */
export function whyFailed(error: unknown): string {
  return errnoOf(error) ?? (error instanceof Error ? error.message : String(error));
}

/** Classifies an fs error: a vanished process or fd is normal, denial is counted, the rest is real. */
export function classifyError(error: unknown): ReadFailure {
  switch (errnoOf(error)) {
    case 'ENOENT':
    case 'ESRCH':
    case 'ENOTDIR':
      return 'gone';
    case 'EACCES':
    case 'EPERM':
      return 'denied';
    case 'ENAMETOOLONG':
      return 'too-long';
    default:
      return 'other';
  }
}

/** The one error class limbo throws; `code` is stable, `cause` keeps the original. */
export class LimboError extends Error {
  readonly code: LimboErrorCode;
  constructor(code: LimboErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LimboError';
    this.code = code;
  }
}

/** `usage` exits 2; every other code exits 1. `not-found`: a pid, user, path or target that does not exist. */
export type LimboErrorCode = 'usage' | 'proc-unreadable' | 'snapshot-invalid' | 'io' | 'not-found';
