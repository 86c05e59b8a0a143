// `limbo restart` on real processes whose executable or library was replaced the way package
// managers do it (rename over the old name), and on look-alikes that must not be reported.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, linkSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RestartJson } from '../../src/analyses/restart-json.js';
import {
  holderBinary,
  kernelStat,
  removeSegments,
  startHolder,
  type Holder,
  type HolderOptions,
} from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';

let dir: string;
const holders: Holder[] = [];

async function hold(ops: string[], options: HolderOptions = {}): Promise<Holder> {
  const holder = await startHolder(ops, options);
  holders.push(holder);
  return holder;
}

function limboRestart(args: string[] = []): RestartJson {
  const run = runLimbo(['restart', '--json', ...args]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as RestartJson;
}

function processOf(report: RestartJson, pid: number): RestartJson['processes'][number] | undefined {
  return report.processes.find((p) => p.pid === pid);
}

/** What dpkg and rpm do: write the new file beside the old, then rename it over the old name. */
function renameOver(path: string, content: Buffer | string): void {
  writeFileSync(`${path}.new`, content, { mode: 0o755 });
  renameSync(`${path}.new`, path);
}

function buildLibrary(path: string, value: number): void {
  const source = `${path}.c`;
  writeFileSync(source, `int limbo_demo(void) { return ${value}; }\n`);
  execFileSync('cc', ['-shared', '-fPIC', '-o', path, source]);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'limbo-restart-'));
});

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  holders.forEach(removeSegments);
  rmSync(dir, { recursive: true, force: true });
});

describe('limbo restart on real processes', () => {
  it('lists a process whose executable was replaced by rename-over, with the old inode', async () => {
    const binary = join(dir, 'service-a');
    copyFileSync(holderBinary, binary);
    const holder = await hold([], { binary });
    const oldInode = kernelStat(`/proc/${holder.pid}/exe`).inode;
    renameOver(binary, Buffer.concat([Buffer.from('#!/bin/sh\n')]));
    const entry = processOf(limboRestart(), holder.pid);
    assert.ok(entry, 'the process is listed');
    assert.deepEqual(
      entry.reasons.map((r) => [r.kind, r.path, r.inode, r.how]),
      [['exe', binary, oldInode, 'replaced']],
    );
  });

  it('groups forked workers under their master instead of listing each alone', async () => {
    const binary = join(dir, 'service-fam');
    copyFileSync(holderBinary, binary);
    const holder = await hold(['fork', 'fork'], { binary });
    renameOver(binary, Buffer.from('#!/bin/sh\n'));
    const [w1, w2] = holder.children;
    const report = limboRestart();
    const unit = report.units.find((u) => u.pids.includes(holder.pid));
    assert.deepEqual(unit && [unit.master, [...unit.pids].sort()], [holder.pid, [holder.pid, w1, w2].sort()]);
    const table = runLimbo(['restart']).stdout;
    assert.ok(
      table.includes(
        `  service-fam master ${holder.pid} and 2 workers (${w1}, ${w2}): restart it from its master, pid ${holder.pid}`,
      ),
      table,
    );
  });

  it('says deleted, not replaced, when nothing sits at the name any more', async () => {
    const binary = join(dir, 'service-gone');
    copyFileSync(holderBinary, binary);
    const holder = await hold([], { binary });
    rmSync(binary);
    assert.deepEqual(
      processOf(limboRestart(), holder.pid)?.reasons.map((r) => [r.kind, r.how]),
      [['exe', 'deleted']],
    );
  });

  it('does not list a process whose executable is untouched', async () => {
    const binary = join(dir, 'service-b');
    copyFileSync(holderBinary, binary);
    const holder = await hold([], { binary });
    assert.equal(processOf(limboRestart(['--all']), holder.pid), undefined);
  });

  it('lists a process whose dlopen’d library was replaced', async () => {
    const library = join(dir, 'libdemo.so');
    buildLibrary(library, 1);
    const holder = await hold(['dlopen', library]);
    const mapped = readdirSync(`/proc/${holder.pid}/map_files`).find((range) =>
      execFileSync('readlink', [`/proc/${holder.pid}/map_files/${range}`], { encoding: 'utf8' }).startsWith(
        library,
      ),
    );
    const oldInode = kernelStat(`/proc/${holder.pid}/map_files/${mapped}`).inode;
    buildLibrary(`${library}.next`, 2);
    renameSync(`${library}.next`, library);
    const entry = processOf(limboRestart(), holder.pid);
    assert.ok(entry);
    assert.deepEqual(
      entry.reasons.map((r) => [r.kind, r.path, r.inode]),
      [['library', library, oldInode]],
    );
  });

  it('tells a replaced library from a deleted one when a hard link keeps the old inode alive', async () => {
    const library = join(dir, 'libkept.so');
    buildLibrary(library, 1);
    const holder = await hold(['dlopen', library]);
    linkSync(library, join(dir, 'libkept.so.backup'));
    buildLibrary(`${library}.next`, 2);
    renameSync(`${library}.next`, library);
    const entry = processOf(limboRestart(), holder.pid);
    assert.deepEqual(
      entry?.reasons.map((r) => [r.kind, r.how]),
      [['library', 'replaced']],
      'nlink is 1, but the name now holds another inode',
    );
  });

  it('lists a process whose main thread exited while running a replaced binary', async () => {
    const binary = join(dir, 'service-c');
    copyFileSync(holderBinary, binary);
    const holder = await hold(['thread-exit'], { binary });
    renameOver(binary, '#!/bin/sh\n');
    assert.deepEqual(readdirSync(`/proc/${holder.pid}/fd`), [], 'the main thread is gone');
    const entry = processOf(limboRestart(), holder.pid);
    assert.deepEqual(
      entry?.reasons.map((r) => [r.kind, r.path]),
      [['exe', binary]],
    );
  });

  it('does not list memfd code, SysV shm, or a live file really named "x (deleted)"', async () => {
    const lookalike = join(dir, 'plugin (deleted)');
    writeFileSync(lookalike, Buffer.alloc(4096, 0xc3));
    const holder = await hold([
      'memfd',
      'jit',
      '4096',
      'mmapx',
      'shm',
      '4096',
      '1',
      'open',
      lookalike,
      'mmapx',
    ]);
    const maps = execFileSync('cat', [`/proc/${holder.pid}/maps`], { encoding: 'utf8' });
    assert.match(maps, /\/memfd:jit \(deleted\)/);
    assert.match(maps, /\/SYSV0+ \(deleted\)/);
    assert.match(maps, /plugin \(deleted\)/);
    assert.equal(processOf(limboRestart(['--all']), holder.pid), undefined);
    execFileSync('ipcrm', ['-m', String(holder.shmids[0])]);
  });

  it('reports deleted data files only with --all, and --check exits 1 only when something needs a restart', async () => {
    const data = join(dir, 'table.dat');
    writeFileSync(data, Buffer.alloc(8192, 1));
    const holder = await hold(['open', data, 'mmap', 'unlink', data]);
    assert.equal(processOf(limboRestart(), holder.pid), undefined, 'data is not code');
    assert.deepEqual(
      processOf(limboRestart(['--all']), holder.pid)?.reasons.map((r) => [r.kind, r.path]),
      [['mapped', data]],
    );
    const check = runLimbo(['restart', '--check', '--all']);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /processes outside any service or container: restart each process/);
  });
});
