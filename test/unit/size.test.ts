import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, parseSize } from '../../src/format/size.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

describe('formatBytes', () => {
  const cases: [number, string][] = [
    [0, '0 B'],
    [1, '1 B'],
    [512, '512 B'],
    [1023, '1023 B'],
    [KiB, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [8 * KiB, '8.0 KiB'],
    [MiB, '1.0 MiB'],
    [10 * MiB + 512 * KiB, '10.5 MiB'],
    [GiB, '1.0 GiB'],
    [1.5 * TiB, '1.5 TiB'],
    [1024 ** 5, '1.0 PiB'],
    [2 ** 63, '8.0 EiB'],
    [1024 ** 7, '1024.0 EiB'],
    [-2048, '-2.0 KiB'],
  ];
  for (const [bytes, expected] of cases) {
    it(`formats ${bytes} as ${expected}`, () => {
      assert.equal(formatBytes(bytes), expected);
    });
  }

  it('moves to the next unit when rounding reaches 1024', () => {
    assert.equal(formatBytes(MiB - 1), '1.0 MiB');
  });
});

describe('parseSize', () => {
  const cases: [string, number][] = [
    ['4096', 4096],
    ['0', 0],
    ['512K', 512 * KiB],
    ['512k', 512 * KiB],
    ['10M', 10 * MiB],
    ['1G', GiB],
    ['2T', 2 * TiB],
    ['1P', 1024 ** 5],
    ['1E', 1024 ** 6],
    ['1.5GiB', 1.5 * GiB],
    ['1.5gib', 1.5 * GiB],
    ['10 MB', 10 * MiB],
    ['10MiB', 10 * MiB],
    ['10mb', 10 * MiB],
    ['4096B', 4096],
    ['1.5K', 1536],
    ['0.1K', 102],
    ['  10M  ', 10 * MiB],
  ];
  for (const [text, expected] of cases) {
    it(`reads ${JSON.stringify(text)} as ${expected} bytes`, () => {
      assert.equal(parseSize(text), expected);
    });
  }

  const bad = [
    '',
    ' ',
    'M',
    'abc',
    '-5M',
    '+5M',
    '10X',
    '10MM',
    '1.5.5G',
    '.5G',
    '5.G',
    '1e3',
    '10 M B',
    '0x10',
    '1,5G',
    '1'.repeat(400),
  ];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text.length > 20 ? `${text.slice(0, 10)}…(${text.length} chars)` : text)}`, () => {
      assert.equal(parseSize(text), null);
    });
  }
});
