// Every relative link in README.md and docs/ leads somewhere: the file exists and, for #anchor,
// the heading (as GitHub names it) or an explicit id is there.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/paths.js';

/** Text outside fenced code blocks and inline code, where a link is a link. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a markdown file offers: its headings (repeats get -1, -2…) and explicit ids. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, text] of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(text as string);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  for (const [, id] of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) found.add(id as string);
  return found;
}

/** Relative link targets in a markdown file: inline links, images and reference definitions. */
export function relativeLinks(markdown: string): string[] {
  const text = prose(markdown);
  const targets = [
    ...[...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] as string),
    ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1] as string),
  ];
  return targets.filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

describe('relative links in README.md and docs/', () => {
  const files = [join(repoRoot, 'README.md'), ...markdownFiles(join(repoRoot, 'docs'))];

  it('finds links to check (the scan reads markdown at all)', () => {
    const count = files.reduce((sum, file) => sum + relativeLinks(readFileSync(file, 'utf8')).length, 0);
    assert.ok(count >= 20, `${count} relative links`);
  });

  for (const file of files) {
    it(`every link in ${relative(repoRoot, file)} resolves`, () => {
      const broken: string[] = [];
      for (const target of relativeLinks(readFileSync(file, 'utf8'))) {
        const [path = '', anchor] = target.split('#');
        const resolved = path === '' ? file : join(dirname(file), decodeURIComponent(path));
        if (!existsSync(resolved)) {
          broken.push(`${target}: no such file`);
          continue;
        }
        if (anchor === undefined || !resolved.endsWith('.md') || statSync(resolved).isDirectory()) continue;
        if (!anchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor))) {
          broken.push(`${target}: no heading or id '${anchor}'`);
        }
      }
      assert.deepEqual(broken, []);
    });
  }
});

describe('docs/ files named in the source', () => {
  function sources(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return sources(path);
      return entry.name.endsWith('.ts') ? [path] : [];
    });
  }

  it('exist: a comment or message that points at docs/ points at a real file', () => {
    const named = sources(join(repoRoot, 'src')).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/\bdocs\/[\w./-]+\.(?:md|json)\b/g)].map((m) => ({
        file: relative(repoRoot, file),
        path: m[0],
      })),
    );
    assert.ok(named.length >= 5, `${named.length} paths named`);
    const missing = named.filter(({ path }) => !existsSync(join(repoRoot, path)));
    assert.deepEqual(missing, []);
  });
});

describe('slug and relativeLinks', () => {
  const cases: [string, string][] = [
    ['`limbo.report/1`', 'limboreport1'],
    ['`limbo` (no arguments), `limbo report`', 'limbo-no-arguments-limbo-report'],
    [
      '`limbo serve`: Prometheus exporter, JSON API and live dashboard',
      'limbo-serve-prometheus-exporter-json-api-and-live-dashboard',
    ],
    ['Quick start', 'quick-start'],
  ];
  for (const [heading, expected] of cases) {
    it(`${heading} → #${expected}`, () => assert.equal(slug(heading), expected));
  }

  it('takes links outside code only, and leaves URLs alone', () => {
    const markdown = [
      'See [a](docs/a.md#x), ![b](img/b.png "title") and [c](https://example.com/c).',
      '`[not](a-link.md)`',
      '```',
      '[nor](this.md)',
      '```',
      '[ref]: docs/ref.md',
    ].join('\n');
    assert.deepEqual(relativeLinks(markdown), ['docs/a.md#x', 'img/b.png', 'docs/ref.md']);
  });
});
