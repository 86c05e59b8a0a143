import { createHash } from 'node:crypto';
import { escapeName } from '../format/escape.js';

/** The metric types limbo exposes; histograms and summaries are not needed yet. */
export type MetricType = 'gauge' | 'counter';

/**
 * A label value: a Buffer is raw bytes from the kernel (a comm, a file name) and is shown as
 * escapeName shows it on a terminal; a string is text (a unit name, a mount from JSON) and keeps
 * its backslashes, so systemd's `\x2d` escapes in unit names read as `systemctl` prints them.
 */
export type LabelValue = string | Buffer;

export interface MetricSample {
  /** In the order given; omitted or empty for a sample without labels. */
  readonly labels?: Readonly<Record<string, LabelValue>>;
  readonly value: number;
}

export interface MetricFamily {
  /** For a counter, with or without `_total`: each format adds it where it belongs. */
  readonly name: string;
  /** One line for humans; OpenMetrics shows it as a tooltip. */
  readonly help: string;
  readonly type: MetricType;
  /** OpenMetrics UNIT ("bytes", "seconds"): must end the name (before a counter's `_total`). */
  readonly unit?: string;
  readonly samples: readonly MetricSample[];
}

export type ExpositionFormat = 'prometheus' | 'openmetrics';

export const CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = {
  prometheus: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

export interface ExpositionOptions {
  /**
   * Label values longer than this many code points are cut, ending in "…" and a hash of the whole
   * value, so two names that share their beginning stay two series (default 128).
   */
  readonly maxLabelValueLength?: number;
}

/** Long comms are 15 bytes and unit names rarely pass 100: 128 keeps real names and caps hostile ones. */
export const DEFAULT_MAX_LABEL_VALUE_LENGTH = 128;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const UNIT = /^[a-zA-Z0-9_:]+$/;

/**
 * Renders metric families as the Prometheus text format 0.0.4 or OpenMetrics 1.0.0.
 * Throws RangeError on what would make the whole scrape invalid (bad names, duplicate families or
 * label sets, a negative or NaN counter): those are bugs in the caller, not in the system observed.
 * Names from the system never fail a scrape: escaping is one-to-one and a cut value carries a
 * hash of the whole, and should two different values still render alike (a crafted hash
 * collision), the later sample is left out rather than the scrape refused.
 */
export function renderExposition(
  families: readonly MetricFamily[],
  format: ExpositionFormat,
  options: ExpositionOptions = {},
): string {
  const maxLength = options.maxLabelValueLength ?? DEFAULT_MAX_LABEL_VALUE_LENGTH;
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const family of families) {
    const base = baseNameOf(family);
    const sampleName = sampleNameOf(family, base);
    const familyName = format === 'openmetrics' ? base : sampleName;
    // Both names a family is known by, in either format: a gauge "x_total" clashes with a counter "x".
    for (const name of new Set([base, sampleName])) {
      if (seen.has(name)) throw new RangeError(`metric family ${name} is defined twice`);
      seen.add(name);
    }
    if (format === 'openmetrics') {
      lines.push(`# TYPE ${familyName} ${family.type}`);
      if (family.unit) lines.push(`# UNIT ${familyName} ${family.unit}`);
      lines.push(`# HELP ${familyName} ${escapeHelp(family.help, format)}`);
    } else {
      lines.push(`# HELP ${familyName} ${escapeHelp(family.help, format)}`);
      lines.push(`# TYPE ${familyName} ${family.type}`);
    }
    // Rendered label set → the exact values it came from.
    const labelSets = new Map<string, string>();
    for (const sample of family.samples) {
      const labels = renderLabels(sample.labels ?? {}, sampleName, maxLength);
      const exact = exactKeyOf(sample.labels ?? {});
      const earlier = labelSets.get(labels);
      if (earlier === exact) throw new RangeError(`${sampleName}${labels} appears twice`);
      if (earlier !== undefined) continue;
      labelSets.set(labels, exact);
      if (family.type === 'counter' && !(sample.value >= 0)) {
        throw new RangeError(
          `counter ${sampleName}${labels} is ${sample.value}: counters are never negative or NaN`,
        );
      }
      lines.push(`${sampleName}${labels} ${formatSampleValue(sample.value)}`);
    }
  }
  if (format === 'openmetrics') lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

/**
 * The format to answer an Accept header with: OpenMetrics only when the client asks for
 * application/openmetrics-text (version 1.0.0 or unversioned) at least as strongly as for text;
 * otherwise, including no header or nothing acceptable, the 0.0.4 text every scraper reads.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (!accept) return 'prometheus';
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [mediaType = '', ...parameters] = range.split(';').map((part) => part.trim());
    const params = new Map<string, string>();
    for (const parameter of parameters) {
      const equals = parameter.indexOf('=');
      if (equals > 0) {
        const value = parameter.slice(equals + 1).trim();
        params.set(parameter.slice(0, equals).trim().toLowerCase(), value.replace(/^"(.*)"$/, '$1'));
      }
    }
    const q = qualityOf(params.get('q'));
    const version = params.get('version');
    const type = mediaType.toLowerCase();
    if (type === 'application/openmetrics-text' && (version === undefined || version === '1.0.0')) {
      openMetrics = Math.max(openMetrics, q);
    } else if (
      (type === 'text/plain' && (version === undefined || version === '0.0.4')) ||
      type === 'text/*' ||
      type === '*/*'
    ) {
      text = Math.max(text, q);
    }
  }
  return openMetrics > 0 && openMetrics >= text ? 'openmetrics' : 'prometheus';
}

/** An RFC 9110 qvalue; a malformed one counts as 1, as if absent. */
function qualityOf(text: string | undefined): number {
  if (text === undefined || !/^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(text)) return 1;
  return Number(text);
}

/** A sample value: integers below 2^64 digit for digit, other numbers in the shortest form that reads back the same. */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  // Past 2^53 the shortest round-trip form pads with zeros (2^60 → "1152921504606847000"): write a
  // kernel u64's worth of integers digit for digit instead.
  if (Number.isInteger(value) && Math.abs(value) >= 2 ** 53 && Math.abs(value) < 2 ** 64) {
    return BigInt(value).toString();
  }
  // Otherwise ECMAScript's Number-to-String is the shortest round-trip form ("0.1", "1e+21",
  // "5e-324"), which both formats' number grammars accept; -0 prints as "0".
  return String(value);
}

/** Escapes a label value's backslashes, double quotes and newlines (the same in both formats). */
export function escapeLabelValue(text: string): string {
  return text.replace(/[\\"\n]/g, (char) => (char === '\\' ? '\\\\' : char === '"' ? '\\"' : '\\n'));
}

/**
 * Escapes HELP text. 0.0.4 knows only `\\` and `\n` there (its parser rejects `\"`); OpenMetrics
 * HELP is an escaped-string like a label value, so a double quote is escaped too.
 */
export function escapeHelp(text: string, format: ExpositionFormat): string {
  const pattern = format === 'openmetrics' ? /[\\"\n]/g : /[\\\n]/g;
  return text.replace(pattern, (char) => (char === '\\' ? '\\\\' : char === '"' ? '\\"' : '\\n'));
}

/**
 * Makes a label value safe text: valid UTF-8 with no control or bidi characters raw, at most
 * `maxLength` code points (or 18, the least a cut value takes). Buffers go through escapeName,
 * which is one-to-one; strings get the same visible escapes for what a terminal must not
 * receive, but keep their backslashes as they are. A longer value is cut and ends in "…" and
 * the first 16 hex digits of the SHA-256 of the whole value: stable from scrape to scrape, and
 * different for names that differ only past the cut.
 */
export function sanitizeLabelValue(value: LabelValue, maxLength = DEFAULT_MAX_LABEL_VALUE_LENGTH): string {
  const text = typeof value === 'string' ? sanitizeText(value) : escapeName(value);
  if (text.length <= maxLength) return text; // UTF-16 units ≥ code points: nothing to count
  const codePoints = Array.from(text);
  if (codePoints.length <= maxLength) return text;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, CUT_HASH_DIGITS);
  return `${codePoints.slice(0, Math.max(1, maxLength - CUT_HASH_DIGITS - 1)).join('')}…${hash}`;
}

const CUT_HASH_DIGITS = 16;

/** A label set's exact values, to tell a caller's duplicate from two names that render alike. */
function exactKeyOf(labels: Readonly<Record<string, LabelValue>>): string {
  return Object.entries(labels)
    .map(([name, value]) =>
      typeof value === 'string' ? `${name}=s${JSON.stringify(value)}` : `${name}=b${value.toString('hex')}`,
    )
    .join(',');
}

// Lone surrogates (not encodable as UTF-8), C0 and C1 controls, DEL, and the format characters
// escapeName also escapes (soft hyphen, bidi marks and overrides, zero-width, separators, BOM).
/* eslint-disable no-control-regex -- matching control characters is the point */
const UNSAFE_TEXT =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|[\x00-\x1f\x7f-\x9f\xad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
/* eslint-enable no-control-regex */

function sanitizeText(text: string): string {
  return text.replace(UNSAFE_TEXT, (char) => {
    const code = char.charCodeAt(0);
    if (code >= 0xd800 && code <= 0xdfff) return '\ufffd';
    if (code === 0x0a) return '\\n';
    if (code === 0x09) return '\\t';
    if (code === 0x0d) return '\\r';
    if (code === 0x1b) return '\\e';
    return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

function baseNameOf(family: MetricFamily): string {
  if (!METRIC_NAME.test(family.name)) {
    throw new RangeError(
      `invalid metric name ${JSON.stringify(family.name)}: must match [a-zA-Z_:][a-zA-Z0-9_:]*`,
    );
  }
  const base = family.type === 'counter' ? family.name.replace(/_total$/, '') : family.name;
  if (base === '') throw new RangeError(`invalid metric name ${JSON.stringify(family.name)}`);
  if (family.unit !== undefined) {
    if (!UNIT.test(family.unit)) {
      throw new RangeError(`invalid unit ${JSON.stringify(family.unit)} for ${family.name}`);
    }
    if (!base.endsWith(`_${family.unit}`)) {
      throw new RangeError(
        `${family.name}: OpenMetrics needs the unit "${family.unit}" as the name's suffix`,
      );
    }
  }
  return base;
}

function sampleNameOf(family: MetricFamily, base: string): string {
  return family.type === 'counter' ? `${base}_total` : base;
}

function renderLabels(
  labels: Readonly<Record<string, LabelValue>>,
  metric: string,
  maxLength: number,
): string {
  const names = Object.keys(labels);
  if (names.length === 0) return '';
  const pairs = names.map((name) => {
    if (!LABEL_NAME.test(name)) {
      throw new RangeError(
        `${metric}: invalid label name ${JSON.stringify(name)}: must match [a-zA-Z_][a-zA-Z0-9_]*`,
      );
    }
    if (name.startsWith('__')) {
      throw new RangeError(
        `${metric}: label name ${name} is reserved (names starting "__" are Prometheus's own)`,
      );
    }
    const value = sanitizeLabelValue(labels[name] as LabelValue, maxLength);
    return `${name}="${escapeLabelValue(value)}"`;
  });
  return `{${pairs.join(',')}}`;
}
