// Writes man/limbo.1 from the option declarations that also make --help (built into dist first:
// `npm run man`). With --check it writes nothing and fails when the committed page differs, so
// the man page cannot drift from the flags.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { formatManPage } = await import(join(root, 'dist/cli/man-page.js'));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const text = formatManPage(version);
const file = join(root, 'man/limbo.1');

let committed = null;
try {
  committed = readFileSync(file, 'utf8');
} catch {
  // not written yet
}
if (process.argv.includes('--check')) {
  if (committed !== text) {
    console.error('man/limbo.1 differs from the option declarations (run npm run man)');
    process.exitCode = 1;
  }
} else if (committed === text) {
  console.log('man: up to date');
} else {
  mkdirSync(join(root, 'man'), { recursive: true });
  writeFileSync(file, text);
  console.log('man: wrote man/limbo.1');
}
