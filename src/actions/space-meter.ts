// What an action really gave back, per filesystem: statfs before the first change on it and
// after the last. The figure is f_bavail × f_bsize, what df shows as "Avail": root's reserve
// (f_bfree − f_bavail) does not move when blocks are freed, so both rise by the same amount;
// f_bavail is the one a person compares with df.
import { closeSync, openSync } from 'node:fs';
import { readSpace } from '../walk/measure-filesystems.js';
import { O_PATH } from './held-file.js';

/** One filesystem's free space around an action. */
export interface FilesystemChange {
  /** "MAJ:MIN". */
  readonly dev: string;
  /** Where it is mounted, as the holder saw it; null for memfd (no mount). */
  readonly mount: string | null;
  readonly fstype: string | null;
  /** statfs f_bavail × f_bsize before; null when the filesystem sets no limit (memfd's internal mount). */
  readonly availableBeforeBytes: number | null;
  readonly availableAfterBytes: number | null;
  /** What the files acted on held of their own: st_blocks × 512 less blocks shared with other files. */
  readonly expectedBytes: number;
}

interface Tracked {
  dev: string;
  mount: string | null;
  fstype: string | null;
  /** An O_PATH descriptor on something on the filesystem, so "after" measures the same one. */
  anchor: number | null;
  before: number | null;
  expected: number;
}

/** Measures free space per filesystem around a series of changes. */
export class SpaceMeter {
  private readonly tracked = new Map<string, Tracked>();

  /**
   * Measures the filesystem of `path` now, unless already measured. `path` must be something
   * that outlives the action on that filesystem (an O_PATH descriptor is kept on it); for the
   * last holder of a file that is about to close, pass its mount point, never the file.
   */
  track(dev: string, mount: string | null, fstype: string | null, path: string): void {
    if (this.tracked.has(dev)) return;
    let anchor: number | null = null;
    try {
      if (O_PATH !== null) anchor = openSync(path, O_PATH);
    } catch {
      anchor = null;
    }
    const before = anchor === null ? null : available(`/proc/self/fd/${anchor}`);
    this.tracked.set(dev, { dev, mount, fstype, anchor, before, expected: 0 });
  }

  /** Adds what a file on `dev` held to the figure expected back. */
  expect(dev: string, bytes: number): void {
    const entry = this.tracked.get(dev);
    if (entry) entry.expected += bytes;
  }

  /** Measures every filesystem again, releases the anchors, and returns before and after. */
  finish(): FilesystemChange[] {
    const changes: FilesystemChange[] = [];
    for (const entry of this.tracked.values()) {
      const after = entry.anchor === null ? null : available(`/proc/self/fd/${entry.anchor}`);
      if (entry.anchor !== null) closeSync(entry.anchor);
      changes.push({
        dev: entry.dev,
        mount: entry.mount,
        fstype: entry.fstype,
        availableBeforeBytes: entry.before,
        availableAfterBytes: entry.before === null ? null : after,
        expectedBytes: entry.expected,
      });
    }
    this.tracked.clear();
    return changes;
  }
}

/** f_bavail × f_bsize, or null for a filesystem without a size (the kernel's internal shmem mount). */
function available(path: string): number | null {
  const space = readSpace(path);
  return space === null || space.sizeBytes === 0 ? null : space.availableBytes;
}
