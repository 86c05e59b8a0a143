/**
 * Makes raw bytes from a file name safe for a terminal or HTML-free text: printable UTF-8
 * passes through; control characters, invalid bytes, and Unicode format characters (which
 * can reorder text, e.g. U+202E) become visible escapes. A backslash is doubled so every
 * escape is unambiguous.
 */
export function escapeName(name: Buffer): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const byte = name[i] as number;
    if (byte >= 0x20 && byte < 0x7f) {
      out += byte === 0x5c ? '\\\\' : String.fromCharCode(byte);
      i++;
      continue;
    }
    if (byte < 0x80) {
      out += controlEscape(byte);
      i++;
      continue;
    }
    const length = utf8SequenceLength(name, i);
    if (length === 0) {
      out += `\\x${hex(byte)}`;
      i++;
      continue;
    }
    const char = name.toString('utf8', i, i + length);
    const code = char.codePointAt(0) as number;
    out += isUnsafeCodePoint(code) ? `\\u{${code.toString(16)}}` : char;
    i += length;
  }
  return out;
}

/**
 * The last guard for a message about to reach a terminal: control characters and Unicode format
 * characters become visible escapes, as in escapeName, while line breaks and everything else,
 * backslashes included, stay as they are (names in it were escaped where it was written).
 */
export function escapeControls(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (code === 0x0a || (code >= 0x20 && code < 0x7f)) out += char;
    else if (code < 0x80) out += controlEscape(code);
    else out += isUnsafeCodePoint(code) ? `\\u{${code.toString(16)}}` : char;
  }
  return out;
}

function controlEscape(byte: number): string {
  switch (byte) {
    case 0x0a:
      return '\\n';
    case 0x09:
      return '\\t';
    case 0x0d:
      return '\\r';
    case 0x1b:
      return '\\e';
    default:
      return `\\x${hex(byte)}`;
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

/** The length of a well-formed UTF-8 sequence at `i` (no overlongs, surrogates or > U+10FFFF), else 0. */
function utf8SequenceLength(bytes: Buffer, i: number): number {
  const b0 = bytes[i] as number;
  const at = (k: number) => bytes[i + k] ?? -1;
  const cont = (k: number) => (at(k) & 0xc0) === 0x80 && at(k) >= 0;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const b1 = at(1);
    if (b0 === 0xe0 && b1 < 0xa0) return 0;
    if (b0 === 0xed && b1 > 0x9f) return 0;
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const b1 = at(1);
    if (b0 === 0xf0 && b1 < 0x90) return 0;
    if (b0 === 0xf4 && b1 > 0x8f) return 0;
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** C1 controls, line/paragraph separators, bidi and other format characters. */
function isUnsafeCodePoint(code: number): boolean {
  return (
    (code >= 0x80 && code <= 0x9f) ||
    code === 0xad ||
    code === 0x61c ||
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x206f) ||
    code === 0xfeff ||
    (code >= 0xfff9 && code <= 0xfffb)
  );
}

/**
 * One word for a POSIX shell, so a printed command works when pasted: safe characters pass
 * through, printable text goes in single quotes, and bytes a terminal must not see (controls,
 * invalid UTF-8, bidi marks) use bash's $'…' with \xNN escapes, which never reach the terminal raw.
 */
export function shellWord(word: Buffer | string): string {
  const bytes = typeof word === 'string' ? Buffer.from(word, 'utf8') : word;
  const text = bytes.toString('utf8');
  if (bytes.length > 0 && /^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) return text;
  if (!text.includes('\\') && escapeName(bytes) === text) {
    return `'${text.replaceAll("'", `'\\''`)}'`;
  }
  let out = '';
  for (const byte of bytes) {
    out +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x27 && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${hex(byte)}`;
  }
  return `$'${out}'`;
}

/** A user's text inside a message: quoted, with control characters and invalid UTF-8 escaped. */
export function quote(text: string): string {
  return `'${escapeName(Buffer.from(text))}'`;
}
