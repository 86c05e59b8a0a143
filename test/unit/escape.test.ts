import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeControls, escapeName } from '../../src/format/escape.js';

const bytes = (...values: number[]) => Buffer.from(values);
const utf8 = (text: string) => Buffer.from(text, 'utf8');

/** The inverse of escapeName, written from its documented escapes; throws on anything else. */
function unescapeName(text: string): Buffer {
  const token = /\\\\|\\[ntre]|\\x[0-9a-f]{2}|\\u\{[0-9a-f]+\}|[^\\]+/gy;
  const simple: Record<string, number> = { '\\\\': 0x5c, '\\n': 0x0a, '\\t': 0x09, '\\r': 0x0d, '\\e': 0x1b };
  const parts: Buffer[] = [];
  let end = 0;
  for (let match = token.exec(text); match !== null; match = token.exec(text)) {
    const [piece] = match;
    end = token.lastIndex;
    if (piece in simple) parts.push(bytes(simple[piece] as number));
    else if (piece.startsWith('\\x')) parts.push(bytes(parseInt(piece.slice(2), 16)));
    else if (piece.startsWith('\\u{'))
      parts.push(utf8(String.fromCodePoint(parseInt(piece.slice(3, -1), 16))));
    else parts.push(utf8(piece));
  }
  if (end !== text.length) throw new Error(`not an escaped name at ${end}: ${JSON.stringify(text)}`);
  return Buffer.concat(parts);
}

/** Code points a terminal must never receive raw from a file name. */
function isDangerous(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

function assertTerminalSafe(output: string): void {
  for (const byte of utf8(output)) {
    assert.ok(byte >= 0x20 && byte !== 0x7f, `raw byte 0x${byte.toString(16)} in ${JSON.stringify(output)}`);
  }
  for (const char of output) {
    const code = char.codePointAt(0) as number;
    assert.ok(!isDangerous(code), `raw U+${code.toString(16)} in ${JSON.stringify(output)}`);
  }
}

describe('escapeName', () => {
  const cases: [string, Buffer, string][] = [
    ['plain ASCII as is', utf8('report-2024_v1.txt'), 'report-2024_v1.txt'],
    ['spaces as is', utf8('my file.txt'), 'my file.txt'],
    ['an empty name as empty', Buffer.alloc(0), ''],
    ['a newline as \\n', utf8('a\nb'), 'a\\nb'],
    ['a tab as \\t', utf8('a\tb'), 'a\\tb'],
    ['a carriage return as \\r', utf8('a\rb'), 'a\\rb'],
    ['an ESC colour sequence with \\e', utf8('\x1b[31mred\x1b[0m'), '\\e[31mred\\e[0m'],
    ['a title-setting OSC sequence with \\e and \\x07', utf8('\x1b]0;pwned\x07'), '\\e]0;pwned\\x07'],
    ['NUL as \\x00', bytes(0x61, 0x00, 0x62), 'a\\x00b'],
    ['other C0 controls as \\xNN', bytes(0x01, 0x08, 0x1f), '\\x01\\x08\\x1f'],
    ['DEL as \\x7f', bytes(0x61, 0x7f), 'a\\x7f'],
    ['a backslash doubled', utf8('C:\\dir'), 'C:\\\\dir'],
    ['a backslash then n apart from a newline', utf8('a\\nb'), 'a\\\\nb'],
    ['a backslash then x41 apart from the byte 0x41', utf8('\\x41'), '\\\\x41'],
    ['0xff as \\xff', bytes(0x61, 0xff, 0x62), 'a\\xffb'],
    ['a lone continuation byte as \\x80', bytes(0x80), '\\x80'],
    ['a lead byte followed by ASCII, keeping the ASCII', bytes(0xc3, 0x41), '\\xc3A'],
    ['a truncated 3-byte sequence at the end', bytes(0x2f, 0xe6, 0x97), '/\\xe6\\x97'],
    ['an overlong 2-byte slash (c0 af)', bytes(0xc0, 0xaf), '\\xc0\\xaf'],
    ['an overlong 2-byte (c1 bf)', bytes(0xc1, 0xbf), '\\xc1\\xbf'],
    ['an overlong 3-byte slash (e0 80 af)', bytes(0xe0, 0x80, 0xaf), '\\xe0\\x80\\xaf'],
    ['an overlong 4-byte slash (f0 80 80 af)', bytes(0xf0, 0x80, 0x80, 0xaf), '\\xf0\\x80\\x80\\xaf'],
    ['a high surrogate U+D800 (ed a0 80)', bytes(0xed, 0xa0, 0x80), '\\xed\\xa0\\x80'],
    ['a low surrogate U+DFFF (ed bf bf)', bytes(0xed, 0xbf, 0xbf), '\\xed\\xbf\\xbf'],
    ['a code point above U+10FFFF (f4 90 80 80)', bytes(0xf4, 0x90, 0x80, 0x80), '\\xf4\\x90\\x80\\x80'],
    ['a lead byte that is never valid (f5)', bytes(0xf5, 0x80, 0x80, 0x80), '\\xf5\\x80\\x80\\x80'],
    ['é as is', utf8('café'), 'café'],
    ['日本 as is', utf8('日本語.txt'), '日本語.txt'],
    ['an emoji as is', utf8('party 🎉.png'), 'party 🎉.png'],
    ['the last code point before the surrogates (U+D7FF) as is', bytes(0xed, 0x9f, 0xbf), '\ud7ff'],
    ['the first code point after the surrogates (U+E000) as is', bytes(0xee, 0x80, 0x80), '\ue000'],
    ['invalid bytes between valid characters', bytes(0xc3, 0xa9, 0xff, 0xc3, 0xa9), 'é\\xffé'],
    ['C1 NEL U+0085 as \\u{85}', utf8('a\u0085b'), 'a\\u{85}b'],
    ['C1 CSI U+009B as \\u{9b}', utf8('\u009b31m'), '\\u{9b}31m'],
    ['the right-to-left override U+202E', utf8('invoice\u202Efdp.exe'), 'invoice\\u{202e}fdp.exe'],
    ['the right-to-left isolate U+2067', utf8('a\u2067b'), 'a\\u{2067}b'],
    ['the right-to-left mark U+200F', utf8('a\u200Fb'), 'a\\u{200f}b'],
    ['a zero-width space U+200B', utf8('a\u200Bb'), 'a\\u{200b}b'],
    ['the line separator U+2028', utf8('a\u2028b'), 'a\\u{2028}b'],
    ['a byte order mark U+FEFF', utf8('\uFEFFname'), '\\u{feff}name'],
    ['a soft hyphen U+00AD', utf8('a\u00ADb'), 'a\\u{ad}b'],
  ];
  for (const [name, input, expected] of cases) {
    it(`writes ${name}`, () => {
      const output = escapeName(input);
      assert.equal(output, expected);
      assertTerminalSafe(output);
      assert.deepEqual(unescapeName(output), input);
    });
  }

  // U+061C ARABIC LETTER MARK is a bidi mark like U+200E/U+200F (which are escaped): UAX #9
  // lists ALM, LRM and RLM together as the implicit directional marks.
  it('writes the Arabic letter mark U+061C as an escape', () => {
    assert.equal(escapeName(utf8('a\u061Cb')), 'a\\u{61c}b');
  });
});

describe('escapeName on random bytes', () => {
  // A small seeded generator (mulberry32) so a failure always reproduces.
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const pieces = [
    utf8('é'),
    utf8('日'),
    utf8('🎉'),
    utf8('\\'),
    utf8('\x1b['),
    utf8('\u0085'),
    utf8('\u202E'),
    utf8('\uFEFF'),
    bytes(0xed, 0xa0, 0x80),
    bytes(0xc0, 0xaf),
    bytes(0xf4, 0x90),
  ];
  const next = random(20240611);
  const samples = Array.from({ length: 3000 }, () => {
    const parts: Buffer[] = [];
    const count = Math.floor(next() * 12);
    for (let i = 0; i < count; i++) {
      parts.push(
        next() < 0.5
          ? bytes(Math.floor(next() * 256))
          : (pieces[Math.floor(next() * pieces.length)] as Buffer),
      );
    }
    return Buffer.concat(parts);
  });

  it('never lets a control byte (< 0x20 or 0x7f), a C1 control or a bidi override through', () => {
    for (const sample of samples) assertTerminalSafe(escapeName(sample));
  });

  it('can always be read back to the exact bytes', () => {
    for (const sample of samples) assert.deepEqual(unescapeName(escapeName(sample)), sample);
  });

  it('leaves printable ASCII and valid UTF-8 letters untouched', () => {
    for (const text of ['abc', 'Ünïcödé', 'Ελληνικά', 'русский', 'עברית', '中文', '😀👍🏽']) {
      assert.equal(escapeName(utf8(text)), text);
    }
  });
});

describe('escapeControls', () => {
  it('escapes controls and format characters in a message, keeping its line breaks and backslashes', () => {
    assert.equal(
      escapeControls('limbo: cannot write /tmp/\x1b[2Jx\u202eevil\r\tC:\\dir\u0085\nnext line ok é'),
      'limbo: cannot write /tmp/\\e[2Jx\\u{202e}evil\\r\\tC:\\dir\\u{85}\nnext line ok é',
    );
  });
});
