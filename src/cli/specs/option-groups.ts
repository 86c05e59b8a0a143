// Option groups that several commands share, declared once.
import { booleanOption, integerOption, sizeOption, stringOption, type Options } from '../options.js';

/**
 * The filters that choose deleted files: `limbo deleted` narrows its list with them, and the
 * acting commands choose what to act on (their help words them as such, with `withHelp`).
 */
export const DELETED_FILTER_OPTIONS = {
  pid: integerOption({
    value: 'N',
    min: 0,
    expects: 'a process id',
    help: 'only files process N holds (every holder is still shown)',
  }),
  user: stringOption({ value: 'NAME', help: 'only files held by a process of this user (name or uid)' }),
  mount: stringOption({
    value: 'PATH',
    help: 'only files on the filesystem mounted at PATH (a mount point exactly; /proc/PID/root/MOUNTPOINT for a mount of another mount namespace, as in a container)',
  }),
  filesystemOf: stringOption({
    value: 'PATH',
    help: 'only files on the whole filesystem that holds PATH (wherever it is mounted)',
  }),
  minSize: sizeOption({ value: 'SIZE', help: 'only files holding at least SIZE allocated (10M, 1G)' }),
  container: stringOption({
    value: 'ID',
    help: 'only files held by a process of this container: its id, a unique prefix of it (as docker prints), or its name (LXC, systemd-nspawn)',
  }),
} as const satisfies Options;

/** How an acting command gets consent: `--yes` acts without asking, `--dry-run` only shows. */
export function consentOptions(shows: string) {
  return {
    yes: booleanOption('act without asking (for scripts; nothing is asked without a terminal)'),
    dryRun: booleanOption(`show what would be ${shows}; change nothing`),
  } as const satisfies Options;
}
