// How an acting command asks the person at the terminal before it changes anything. The CLI
// reads a line from the terminal on stdin; tests inject their own answer (and can act on the
// system while "the person thinks", to prove the act re-checks what the preview showed).
import { readSync } from 'node:fs';
import { isatty } from 'node:tty';
import { errnoOf, LimboError } from '../core/errors.js';
import type { Io } from './io.js';

/** A yes/no question to a person. */
export interface Confirm {
  /** False when there is nobody to ask (stdin is not a terminal): the command then needs --yes. */
  readonly available: boolean;
  /** Asks `question`; true only for an explicit yes. */
  ask(question: string): boolean;
}

/** The Io of a command that may ask for confirmation. */
export type ActingIo = Io & { readonly confirm?: Confirm };

/** The confirm of `io`, or one that reads the answer from the terminal on stdin. */
export function confirmFor(io: ActingIo): Confirm {
  return io.confirm ?? terminalConfirm(io);
}

function terminalConfirm(io: Io): Confirm {
  return {
    available: isatty(0),
    ask(question) {
      io.stderr.write(`${question} [y/N] `);
      return /^\s*y(es)?\s*$/i.test(readLine());
    },
  };
}

/** One line from fd 0, read synchronously (the commands are synchronous; nothing else reads stdin). */
function readLine(): string {
  const buffer = Buffer.alloc(256);
  let line = '';
  for (;;) {
    let read: number;
    try {
      read = readSync(0, buffer, 0, buffer.length, null);
    } catch (error) {
      if (errnoOf(error) === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
      throw error;
    }
    if (read === 0) return line;
    line += buffer.toString('utf8', 0, read);
    if (line.includes('\n')) return line.slice(0, line.indexOf('\n'));
  }
}

/**
 * The rule every acting command follows: `--dry-run` acts never, `--yes` acts without asking,
 * otherwise a person at a terminal is asked; with nobody to ask, nothing is done (exit 2).
 */
export function requireConsent(
  command: string,
  values: { dryRun: boolean; yes: boolean },
  confirm: Confirm,
): void {
  if (values.dryRun || values.yes || confirm.available) return;
  throw new LimboError(
    'usage',
    `limbo ${command}: nothing done: no terminal to confirm on. Preview with --dry-run, then run again with --yes to act without asking.`,
  );
}
