// The schema builder's checker (what --from trusts) against ajv reading the same JSON: they must
// agree on every case, and the checker names the first field at fault.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import {
  allOf,
  array,
  boolean,
  constant,
  enumOf,
  findSchemaError,
  integer,
  nullable,
  nullType,
  number,
  object,
  oneOf,
  optional,
  record,
  ref,
  string,
  type Schema,
} from '../../src/format/json-schema.js';

const bytes = integer({ minimum: 0 });
const schema: Schema = object(
  {
    schema: constant('x/1'),
    kind: enumOf(['file', 'memfd', null]),
    size: ref('bytes', bytes),
    ratio: optional(number({ minimum: 0 })),
    dev: nullable(string({ pattern: '^[0-9]+:[0-9]+$' })),
    inode: oneOf([integer({ minimum: 0 }), string({ pattern: '^[0-9]+$' })]),
    holders: array(object({ pid: integer({ minimum: 1 }), fds: array(integer()) }), { minItems: 1 }),
    counts: record(ref('bytes', bytes)),
    flags: allOf([object({ a: boolean() }), object({ b: nullable(integer()) })]),
    closed: object({ b: optional(nullType()) }, { additionalProperties: false }),
  },
  { definitions: { bytes } },
);
const good = {
  schema: 'x/1',
  kind: null,
  size: 0,
  dev: '8:1',
  inode: '18446744073709551615',
  holders: [{ pid: 1, fds: [0, 1] }],
  counts: { pipe: 3 },
  flags: { a: true, b: null },
  closed: {},
};

const cases: [string, Record<string, unknown>, string | null][] = [
  ['a valid value', good, null],
  ['a wrong const', { ...good, schema: 'x/2' }, 'schema: expected "x/1"'],
  ['a value outside the enum', { ...good, kind: 'tmpfile' }, 'kind: expected one of "file", "memfd", null'],
  ['a missing field', { ...good, size: undefined }, 'size: missing'],
  ['a negative size, through a $ref', { ...good, size: -1 }, 'size: expected a number ≥ 0'],
  ['a fractional size', { ...good, size: 1.5 }, 'size: expected integer'],
  ['a string size', { ...good, size: '1' }, 'size: expected integer'],
  ['an infinite size (1e400)', { ...good, size: Infinity }, 'size: expected integer'],
  ['an infinite ratio', { ...good, ratio: Infinity }, 'ratio: expected number'],
  ['a dev not matching its pattern', { ...good, dev: 'sda' }, 'dev: expected a string matching ^[0-9]+:[0-9]+$'],
  ['a null where allowed', { ...good, dev: null }, null],
  ['an inode neither number nor digits', { ...good, inode: '-1' }, 'inode: expected integer, or expected a string matching ^[0-9]+$'],
  ['an empty array under minItems', { ...good, holders: [] }, 'holders: expected at least 1 items'],
  ['a bad item deep inside', { ...good, holders: [{ pid: 1, fds: [0, 'x'] }] }, 'holders[0].fds[1]: expected integer'],
  ['a bad map value', { ...good, counts: { pipe: -3 } }, 'counts.pipe: expected a number ≥ 0'],
  ['an odd map key', { ...good, counts: { 'anon inode': 'x' } }, 'counts["anon inode"]: expected integer'],
  ['a field a closed object does not have', { ...good, closed: { c: 1 } }, 'closed.c: unexpected field'],
  ['an array where an object belongs', { ...good, closed: [] }, 'closed: expected object'],
  ['a break in the first half of an allOf', { ...good, flags: { b: 1 } }, 'flags.a: missing'],
  ['a break in the second half of an allOf', { ...good, flags: { a: true, b: 'x' } }, 'flags.b: expected integer or null'],
]; // prettier-ignore

describe('findSchemaError', () => {
  const ajv = new Ajv({ strict: false, strictNumbers: true }).compile(
    JSON.parse(JSON.stringify(schema)) as object,
  );
  for (const [what, raw, expected] of cases) {
    it(`${expected === null ? 'accepts' : 'refuses'} ${what}, as ajv does`, () => {
      const value = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
      const error = findSchemaError(schema, value);
      assert.equal(error === null ? null : `${error.path}: ${error.message}`, expected);
      assert.equal(ajv(value), expected === null, JSON.stringify(ajv.errors));
    });
  }
});
