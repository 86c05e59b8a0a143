// limbo's one home for JSON Schema: each contract is declared once with these builders, and its
// TypeScript type (Static), its published docs/schemas file (scripts/schemas.mjs) and its runtime
// check (findSchemaError) all come from that declaration. Hand-rolled rather than a dependency:
// the contracts use a small draft-07 subset, the published files keep their exact shape
// (`"type": ["string", "null"]`, `$ref` into `definitions`), and start-up loads nothing extra.

declare const STATIC: unique symbol;
const OPTIONAL = Symbol('optional');
const TARGET = Symbol('ref target');

/** A JSON Schema (draft-07) object whose phantom type is the JSON value it accepts. */
export interface Schema<T = unknown> {
  readonly [STATIC]?: T;
  readonly [key: string]: unknown;
}

/** The TypeScript type of the JSON a schema accepts. */
export type Static<S> = S extends Schema<infer T> ? T : never;

/** Keywords any schema may carry besides what its builder sets. */
export interface Annotations {
  readonly description?: string;
  readonly title?: string;
}
interface StringOptions extends Annotations {
  readonly pattern?: string;
  readonly format?: string;
  readonly contentEncoding?: string;
}
interface NumberOptions extends Annotations {
  readonly minimum?: number;
}
interface ArrayOptions extends Annotations {
  readonly minItems?: number;
}
interface ObjectOptions extends Annotations {
  /** false: no property besides those declared. */
  readonly additionalProperties?: false;
  /** Named schemas that `ref` points into, published under `definitions`. */
  readonly definitions?: Readonly<Record<string, Schema>>;
}

type OptionalSchema<T> = Schema<T> & { readonly [OPTIONAL]: true };
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ObjectStatic<P extends Record<string, Schema>> = Simplify<
  { readonly [K in keyof P as P[K] extends { readonly [OPTIONAL]: true } ? never : K]: Static<P[K]> } & {
    readonly [K in keyof P as P[K] extends { readonly [OPTIONAL]: true } ? K : never]?: Static<P[K]>;
  }
>;
type UnionStatic<S extends readonly Schema[]> = { [I in keyof S]: Static<S[I]> }[number];
type IntersectStatic<S extends readonly Schema[]> = S extends readonly [infer A, ...infer R extends Schema[]]
  ? Static<A> & IntersectStatic<R>
  : unknown;

export function string(options: StringOptions = {}): Schema<string> {
  return { ...annotations(options), type: 'string', ...rest(options) };
}
export function integer(options: NumberOptions = {}): Schema<number> {
  return { ...annotations(options), type: 'integer', ...rest(options) };
}
export function number(options: NumberOptions = {}): Schema<number> {
  return { ...annotations(options), type: 'number', ...rest(options) };
}
export function boolean(options: Annotations = {}): Schema<boolean> {
  return { ...annotations(options), type: 'boolean' };
}
export function nullType(): Schema<null> {
  return { type: 'null' };
}
export function constant<const T extends string | number | boolean>(value: T): Schema<T> {
  return { const: value };
}
export function enumOf<const T extends readonly (string | null)[]>(
  values: T,
  options: Annotations = {},
): Schema<T[number]> {
  return { ...annotations(options), enum: values };
}

/** The same schema with null allowed too, written `"type": [T, "null"]` as the published files do. */
export function nullable<T>(schema: Schema<T>): Schema<T | null> {
  if (typeof schema['type'] !== 'string') throw new TypeError('nullable() needs a schema with one type');
  return { ...schema, type: [schema['type'], 'null'] };
}

export function array<T>(items: Schema<T>, options: ArrayOptions = {}): Schema<readonly T[]> {
  return { ...annotations(options), type: 'array', ...rest(options), items };
}

/** An object; its properties are required unless wrapped in `optional`. */
export function object<const P extends Record<string, Schema>>(
  properties: P,
  options: ObjectOptions = {},
): Schema<ObjectStatic<P>> {
  const { definitions, additionalProperties, ...rest } = options;
  const required = Object.keys(properties).filter((key) => !(OPTIONAL in (properties[key] as object)));
  return {
    ...annotations(rest),
    type: 'object',
    required,
    ...(additionalProperties === false ? { additionalProperties } : {}),
    ...(definitions ? { definitions } : {}),
    properties,
  };
}

/** An object used as a map: any keys, each value matching `values`. */
export function record<T>(values: Schema<T>): Schema<Readonly<Record<string, T>>> {
  return { type: 'object', additionalProperties: values };
}

/** Marks an object property as optional (left out of `required`). */
export function optional<T>(schema: Schema<T>): OptionalSchema<T> {
  const marked = { ...schema };
  Object.defineProperty(marked, OPTIONAL, { value: true });
  return marked as OptionalSchema<T>;
}

export function oneOf<const S extends readonly Schema[]>(
  schemas: S,
  options: Annotations = {},
): Schema<UnionStatic<S>> {
  return { ...annotations(options), oneOf: schemas };
}
export function allOf<const S extends readonly Schema[]>(schemas: S): Schema<IntersectStatic<S>> {
  return { allOf: schemas };
}

/** `{ "$ref": "#/definitions/NAME" }`, for `target` published under that name in the document's `definitions`. */
export function ref<T>(name: string, target: Schema<T>): Schema<T> {
  const schema = { $ref: `#/definitions/${name}` };
  Object.defineProperty(schema, TARGET, { value: target });
  return schema;
}

/** A published contract: its root object with `$schema`, `$id` and `title` first. */
export function contract<T>(id: string, title: string, root: Schema<T>): Schema<T> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `https://limbo.invalid/schemas/${id}.schema.json`,
    title,
    ...root,
  };
}

function annotations(options: Annotations): Annotations {
  return {
    ...(options.title !== undefined ? { title: options.title } : {}),
    ...(options.description !== undefined ? { description: options.description } : {}),
  };
}
function rest<O extends Annotations>(options: O): Omit<O, 'title' | 'description'> {
  return Object.fromEntries(
    Object.entries(options).filter(([key]) => key !== 'title' && key !== 'description'),
  ) as Omit<O, 'title' | 'description'>;
}

/** Where a value first breaks its schema: a path such as `processes[3].fds[0].fd` and what was expected. */
export interface SchemaError {
  readonly path: string;
  readonly message: string;
}

/**
 * Checks a parsed JSON value against a schema built here; returns the first error, or null.
 * Covers the keywords the builders write; `format` and `contentEncoding` are annotations only.
 */
export function findSchemaError(schema: Schema, value: unknown): SchemaError | null {
  return check(schema, value, '');
}

/** True when the value matches (so the caller may treat it as `Static<typeof schema>`). */
export function matchesSchema<T>(schema: Schema<T>, value: unknown): value is T {
  return check(schema, value, '') === null;
}

function check(schema: Schema, value: unknown, path: string): SchemaError | null {
  const target = (schema as { [TARGET]?: Schema })[TARGET];
  if (target) return check(target, value, path);
  const fail = (message: string): SchemaError => ({ path: path === '' ? '(top level)' : path, message });
  const types = schema['type'] as string | string[] | undefined;
  if (types !== undefined) {
    const list = typeof types === 'string' ? [types] : types;
    if (!list.some((type) => hasType(value, type))) return fail(`expected ${list.join(' or ')}`);
  }
  if ('const' in schema && value !== schema['const'])
    return fail(`expected ${JSON.stringify(schema['const'])}`);
  const allowed = schema['enum'] as readonly unknown[] | undefined;
  if (allowed && !allowed.includes(value))
    return fail(`expected one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
  if (typeof value === 'number' && typeof schema['minimum'] === 'number' && value < schema['minimum']) {
    return fail(`expected a number ≥ ${schema['minimum']}`);
  }
  if (
    typeof value === 'string' &&
    typeof schema['pattern'] === 'string' &&
    !compiled(schema['pattern']).test(value)
  ) {
    return fail(`expected a string matching ${schema['pattern']}`);
  }
  if (Array.isArray(value)) {
    const minItems = schema['minItems'];
    if (typeof minItems === 'number' && value.length < minItems)
      return fail(`expected at least ${minItems} items`);
    const items = schema['items'] as Schema | undefined;
    if (items) {
      for (const [index, item] of value.entries()) {
        const error = check(items, item, `${path}[${index}]`);
        if (error) return error;
      }
    }
  }
  if (isPlainObject(value)) {
    for (const key of (schema['required'] as readonly string[] | undefined) ?? []) {
      if (!Object.hasOwn(value, key)) return { path: join(path, key), message: 'missing' };
    }
    const properties = (schema['properties'] as Readonly<Record<string, Schema>> | undefined) ?? {};
    const additional = schema['additionalProperties'] as Schema | false | undefined;
    for (const [key, item] of Object.entries(value)) {
      const property = Object.hasOwn(properties, key) ? properties[key] : undefined;
      if (property) {
        const error = check(property, item, join(path, key));
        if (error) return error;
      } else if (additional === false) {
        return { path: join(path, key), message: 'unexpected field' };
      } else if (additional) {
        const error = check(additional, item, join(path, key));
        if (error) return error;
      }
    }
  }
  for (const part of (schema['allOf'] as readonly Schema[] | undefined) ?? []) {
    const error = check(part, value, path);
    if (error) return error;
  }
  const alternatives = schema['oneOf'] as readonly Schema[] | undefined;
  if (alternatives) {
    const errors = alternatives.map((alternative) => check(alternative, value, path));
    const matches = errors.filter((error) => error === null).length;
    if (matches !== 1) {
      // One alternative failing deeper than this point says more than "no alternative matched".
      const deeper = errors.find((error) => error !== null && error.path !== fail('').path);
      if (matches === 0 && deeper) return deeper;
      return fail(
        matches === 0
          ? errors.map((error) => error?.message).join(', or ')
          : 'matches more than one alternative',
      );
    }
  }
  return null;
}

const PATTERNS = new Map<string, RegExp>();

/** A schema's pattern, compiled once: a snapshot checks the same few patterns on every fd. */
function compiled(pattern: string): RegExp {
  let regexp = PATTERNS.get(pattern);
  if (!regexp) {
    regexp = new RegExp(pattern, 'u');
    PATTERNS.set(pattern, regexp);
  }
  return regexp;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'object':
      return isPlainObject(value);
    case 'array':
      return Array.isArray(value);
    default:
      return typeof value === type;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function join(path: string, key: string): string {
  const part = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  return path === '' || part.startsWith('[') ? `${path}${part}` : `${path}.${part}`;
}
