import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { paletteFor } from '../../src/format/color.js';

describe('paletteFor', () => {
  const cases: [string, { isTTY?: boolean }, NodeJS.ProcessEnv, boolean][] = [
    ['colours a TTY', { isTTY: true }, {}, true],
    ['never colours a pipe', { isTTY: false }, {}, false],
    ['honours NO_COLOR on a TTY', { isTTY: true }, { NO_COLOR: '1' }, false],
    ['treats an empty NO_COLOR as unset', { isTTY: true }, { NO_COLOR: '' }, true],
    ['does not colour TERM=dumb', { isTTY: true }, { TERM: 'dumb' }, false],
    ['colours a pipe with FORCE_COLOR', { isTTY: false }, { FORCE_COLOR: '1' }, true],
    ['takes FORCE_COLOR=0 as not forced', { isTTY: false }, { FORCE_COLOR: '0' }, false],
    ['lets NO_COLOR beat FORCE_COLOR', { isTTY: false }, { FORCE_COLOR: '1', NO_COLOR: '1' }, false],
  ];
  for (const [name, stream, env, coloured] of cases) {
    it(name, () => {
      assert.equal(paletteFor(stream, env).red('x') !== 'x', coloured);
    });
  }
});
