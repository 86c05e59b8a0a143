// The layer picture the README draws, proven on the source itself: no import cycle anywhere in
// src/, lint refusing an import that points up the layers (eslint.config.js, LAYERS), and the
// light option declarations kept light.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
import { repoRoot } from '../helpers/paths.js';

const src = join(repoRoot, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of a module (static, type-only and dynamic), resolved to a .ts file. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map(
    (m) => m[1] as string,
  );
  return specifiers.map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('the layers of src/', () => {
  it('has no import cycle', () => {
    const files = sourceFiles(src);
    const graph = new Map(files.map((file) => [file, importsOf(file)]));
    for (const [file, targets] of graph) {
      for (const target of targets)
        assert.ok(graph.has(target), `${relative(src, file)} imports a missing ${target}`);
    }
    const cycle = findCycle(graph);
    assert.equal(cycle, null, `import cycle: ${cycle?.map((f) => relative(src, f)).join(' → ')}`);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
    ]);
    assert.deepEqual(findCycle(graph), ['a', 'b', 'c', 'a']);
  });

  const eslint = new ESLint({ cwd: repoRoot });
  const cases: [string, string, boolean][] = [
    ['src/proc/probe.ts', "import { takeSnapshot } from '../snapshot/take-snapshot.js';", false],
    ['src/walk/probe.ts', "import type { Snapshot } from '../snapshot/types.js';", false],
    ['src/analyses/probe.ts', "import { runDeleted } from '../cli/deleted-command.js';", false],
    ['src/serve/probe.ts', "import { planReclaim } from '../actions/reclaim.js';", false],
    ['src/format/probe.ts', "import { nativeAddon } from '../native.js';", false],
    ['src/core/probe.ts', "import { escapeName } from '../format/escape.js';", false],
    ['src/snapshot/probe.ts', "import { main } from '../index.js';", false],
    ['src/analyses/probe.ts', "import type { Snapshot } from '../snapshot/types.js';", true],
    ['src/cli/probe.ts', "import { scanSystem } from '../serve/scan.js';", true],
    ['src/proc/probe.ts', "import { nativeAddon } from '../native.js';", true],
    // --help loads every command's declaration: they import no command and no analysis.
    ['src/cli/specs/probe.ts', "import { findDeletedFiles } from '../../analyses/deleted.js';", false],
    ['src/cli/specs/probe.ts', "import { runDeleted } from '../deleted-command.js';", false],
    ['src/cli/specs/probe.ts', "import type { DeletedFile } from '../../analyses/deleted.js';", true],
    ['src/cli/specs/probe.ts', "import { DELETED_KINDS } from '../../analyses/choices.js';", true],
  ];
  for (const [file, line, allowed] of cases) {
    it(`${allowed ? 'allows' : 'refuses'} ${line} in ${file}`, async () => {
      const [result] = await eslint.lintText(`${line}\nexport {};\n`, { filePath: join(repoRoot, file) });
      const refusals = (result?.messages ?? []).filter((m) => m.ruleId?.endsWith('no-restricted-imports'));
      assert.equal(refusals.length, allowed ? 0 : 1, JSON.stringify(result?.messages));
    });
  }
});
