// The one way tests check output against a published schema (docs/schemas), with ajv as an
// independent validator: limbo's own checker is not asked to grade its own declarations.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { repoRoot } from './paths.js';

// strictNumbers: a 1e400 parses to Infinity, which is no integer here either. ajv knows no
// formats by itself; date-time is the only one the contracts use.
const ajv = new Ajv({
  strict: false,
  strictNumbers: true,
  formats: { 'date-time': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/ },
});
const compiled = new Map<string, ValidateFunction>();

/** The published schema docs/schemas/NAME.schema.json (NAME like 'limbo.deleted-1'), compiled once. */
export function publishedSchema(name: string): ValidateFunction {
  let validate = compiled.get(name);
  if (!validate) {
    validate = ajv.compile(
      JSON.parse(readFileSync(`${repoRoot}docs/schemas/${name}.schema.json`, 'utf8')) as object,
    );
    compiled.set(name, validate);
  }
  return validate;
}

/** Fails with ajv's errors unless `value` is valid against the published schema NAME. */
export function assertMatchesSchema(name: string, value: unknown): void {
  const validate = publishedSchema(name);
  assert.ok(validate(value), `not valid ${name}: ${JSON.stringify(validate.errors, null, 2)}`);
}
