// Copies the dashboard's static files, and uPlot from node_modules, into dist/serve/assets at
// build time: the server never reaches a CDN, and the page needs no bundler.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const target = join(root, 'dist/serve/assets');
mkdirSync(target, { recursive: true });
const source = join(root, 'src/serve/assets');
for (const name of readdirSync(source)) copyFileSync(join(source, name), join(target, name));
const uplot = join(root, 'node_modules/uplot/dist');
for (const name of ['uPlot.iife.min.js', 'uPlot.min.css'])
  copyFileSync(join(uplot, name), join(target, name));
