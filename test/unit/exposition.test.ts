import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  CONTENT_TYPES,
  type ExpositionFormat,
  escapeHelp,
  escapeLabelValue,
  formatSampleValue,
  type MetricFamily,
  negotiateFormat,
  renderExposition,
  sanitizeLabelValue,
} from '../../src/serve/exposition.js';

const bytes = (...values: number[]) => Buffer.from(values);

/** Three families in the shapes limbo serve exposes: labelled bytes, a counter, a unit-less gauge. */
const FAMILIES: MetricFamily[] = [
  {
    name: 'limbo_deleted_allocated_bytes',
    help: 'Bytes held by deleted files, per filesystem.',
    type: 'gauge',
    unit: 'bytes',
    samples: [
      { labels: { mount: '/var', fstype: 'ext4' }, value: 1073741824 },
      { labels: { mount: '/tmp', fstype: 'tmpfs' }, value: 0 },
    ],
  },
  {
    name: 'limbo_scan_errors_total',
    help: 'Scans that failed since the server started.',
    type: 'counter',
    samples: [{ value: 3 }],
  },
  {
    name: 'limbo_scan_duration_seconds',
    help: 'How long the last scan took.',
    type: 'gauge',
    unit: 'seconds',
    samples: [{ labels: {}, value: 0.25 }],
  },
  { name: 'limbo_file_handles_unexplained', help: 'Not read yet.', type: 'gauge', samples: [] },
];

const PROMETHEUS_GOLDEN = `# HELP limbo_deleted_allocated_bytes Bytes held by deleted files, per filesystem.
# TYPE limbo_deleted_allocated_bytes gauge
limbo_deleted_allocated_bytes{mount="/var",fstype="ext4"} 1073741824
limbo_deleted_allocated_bytes{mount="/tmp",fstype="tmpfs"} 0
# HELP limbo_scan_errors_total Scans that failed since the server started.
# TYPE limbo_scan_errors_total counter
limbo_scan_errors_total 3
# HELP limbo_scan_duration_seconds How long the last scan took.
# TYPE limbo_scan_duration_seconds gauge
limbo_scan_duration_seconds 0.25
# HELP limbo_file_handles_unexplained Not read yet.
# TYPE limbo_file_handles_unexplained gauge
`;

const OPENMETRICS_GOLDEN = `# TYPE limbo_deleted_allocated_bytes gauge
# UNIT limbo_deleted_allocated_bytes bytes
# HELP limbo_deleted_allocated_bytes Bytes held by deleted files, per filesystem.
limbo_deleted_allocated_bytes{mount="/var",fstype="ext4"} 1073741824
limbo_deleted_allocated_bytes{mount="/tmp",fstype="tmpfs"} 0
# TYPE limbo_scan_errors counter
# HELP limbo_scan_errors Scans that failed since the server started.
limbo_scan_errors_total 3
# TYPE limbo_scan_duration_seconds gauge
# UNIT limbo_scan_duration_seconds seconds
# HELP limbo_scan_duration_seconds How long the last scan took.
limbo_scan_duration_seconds 0.25
# TYPE limbo_file_handles_unexplained gauge
# HELP limbo_file_handles_unexplained Not read yet.
# EOF
`;

describe('renderExposition golden output', () => {
  it('writes the Prometheus text format 0.0.4: HELP, TYPE, samples, no UNIT, no EOF', () => {
    assert.equal(renderExposition(FAMILIES, 'prometheus'), PROMETHEUS_GOLDEN);
  });

  it('writes OpenMetrics 1.0.0: TYPE, UNIT, HELP, counters named without _total, # EOF last', () => {
    assert.equal(renderExposition(FAMILIES, 'openmetrics'), OPENMETRICS_GOLDEN);
  });

  it('accepts a counter named without _total and adds it in both formats', () => {
    const counter: MetricFamily = {
      name: 'limbo_scan_errors',
      help: 'h',
      type: 'counter',
      samples: [{ value: 1 }],
    };
    assert.equal(
      renderExposition([counter], 'prometheus'),
      '# HELP limbo_scan_errors_total h\n# TYPE limbo_scan_errors_total counter\nlimbo_scan_errors_total 1\n',
    );
    assert.equal(
      renderExposition([counter], 'openmetrics'),
      '# TYPE limbo_scan_errors counter\n# HELP limbo_scan_errors h\nlimbo_scan_errors_total 1\n# EOF\n',
    );
  });

  it('puts a counter unit before _total (foo_seconds_total with UNIT seconds)', () => {
    const counter: MetricFamily = {
      name: 'limbo_cpu_seconds_total',
      help: 'h',
      type: 'counter',
      unit: 'seconds',
      samples: [{ value: 1.5 }],
    };
    assert.equal(
      renderExposition([counter], 'openmetrics'),
      '# TYPE limbo_cpu_seconds counter\n# UNIT limbo_cpu_seconds seconds\n# HELP limbo_cpu_seconds h\nlimbo_cpu_seconds_total 1.5\n# EOF\n',
    );
  });

  it('renders an empty metric set as nothing, or as just # EOF', () => {
    assert.equal(renderExposition([], 'prometheus'), '\n');
    assert.equal(renderExposition([], 'openmetrics'), '# EOF\n');
  });

  it('names the two content types exactly', () => {
    assert.equal(CONTENT_TYPES.prometheus, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(CONTENT_TYPES.openmetrics, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  });
});

describe('label values and HELP text', () => {
  const comm = Buffer.from('a"b\\c\nd');

  it('shows a comm of a"b\\c<newline>d as escapeName does, then escapes it for the format', () => {
    // escapeName: a"b\\c\nd (backslash doubled, newline made visible); then \ and " escaped once more.
    const family: MetricFamily = {
      name: 'limbo_process_open_fds',
      help: 'h',
      type: 'gauge',
      samples: [{ labels: { pid: '42', comm }, value: 7 }],
    };
    for (const format of ['prometheus', 'openmetrics'] as const) {
      const line = renderExposition([family], format)
        .split('\n')
        .find((l) => l.startsWith('limbo_process_open_fds{'));
      assert.equal(line, 'limbo_process_open_fds{pid="42",comm="a\\"b\\\\\\\\c\\\\nd"} 7');
    }
  });

  const escapes: [string, string, string][] = [
    ['a double quote', 'say "hi"', 'say \\"hi\\"'],
    ['a backslash', 'C:\\dir', 'C:\\\\dir'],
    ['a newline', 'a\nb', 'a\\nb'],
    ['all three, in order', '\\"\n', '\\\\\\"\\n'],
    ['plain text untouched', 'nginx.service', 'nginx.service'],
    ['UTF-8 untouched', 'café 日本', 'café 日本'],
  ];
  for (const [name, input, expected] of escapes) {
    it(`escapes ${name} in a label value`, () => {
      assert.equal(escapeLabelValue(input), expected);
    });
  }

  const helps: [string, string, ExpositionFormat, string][] = [
    ['0.0.4: backslash and newline', 'a\\b\nc "q"', 'prometheus', 'a\\\\b\\nc "q"'],
    ['OpenMetrics: backslash, newline and double quote', 'a\\b\nc "q"', 'openmetrics', 'a\\\\b\\nc \\"q\\"'],
  ];
  for (const [name, input, format, expected] of helps) {
    it(`escapes HELP text for ${name}`, () => {
      assert.equal(escapeHelp(input, format), expected);
    });
  }

  const sanitized: [string, string | Buffer, string][] = [
    ['invalid UTF-8 bytes as \\xNN', bytes(0x61, 0xff, 0xfe, 0x62), 'a\\xff\\xfeb'],
    ['a truncated UTF-8 sequence', bytes(0x6a, 0xe6, 0x97), 'j\\xe6\\x97'],
    ['valid UTF-8 bytes as text', Buffer.from('café'), 'café'],
    ['an ESC sequence from a comm', Buffer.from('\x1b[31mx'), '\\e[31mx'],
    ['a bidi override from a comm', Buffer.from('a\u202eb'), 'a\\u{202e}b'],
    [
      'a string, backslashes kept (systemd unit escapes)',
      'dev-disk-by\\x2duuid.swap',
      'dev-disk-by\\x2duuid.swap',
    ],
    ['a newline in a string, visibly', 'a\nb', 'a\\nb'],
    ['a tab, NUL and DEL in a string', 'a\tb\0c\x7f', 'a\\tb\\x00c\\x7f'],
    ['a C1 control in a string, as escapeName shows it', 'a\u0085b', 'a\\u{85}b'],
    ['a soft hyphen in a string', 'a\u00adb', 'a\\u{ad}b'],
    ['a bidi override in a string', 'a\u202eb', 'a\\u{202e}b'],
    ['a lone surrogate in a string, as U+FFFD', 'a\ud800b', 'a\ufffdb'],
    ['a surrogate pair in a string, kept', 'party 🎉', 'party 🎉'],
  ];
  for (const [name, input, expected] of sanitized) {
    it(`makes ${name} safe`, () => {
      assert.equal(sanitizeLabelValue(input), expected);
    });
  }

  it('writes only valid UTF-8, whatever bytes a label held', () => {
    const family: MetricFamily = {
      name: 'limbo_deleted_holder_allocated_bytes',
      help: 'h',
      type: 'gauge',
      samples: [
        { labels: { comm: bytes(0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x80) }, value: 1 },
        { labels: { comm: 'x\udc00y' }, value: 2 },
      ],
    };
    for (const format of ['prometheus', 'openmetrics'] as const) {
      const encoded = Buffer.from(renderExposition([family], format), 'utf8');
      const decoded = new TextDecoder('utf-8', { fatal: true }).decode(encoded);
      assert.ok(decoded.includes('comm="\\\\xff\\\\xc0\\\\xaf\\\\xed\\\\xa0\\\\x80\\\\x80"'), decoded);
      assert.ok(decoded.includes('comm="x\ufffdy"'), decoded);
    }
  });

  it('cuts a long label value to 128 code points, ending in … and a hash of the whole', () => {
    const cut = sanitizeLabelValue('x'.repeat(500));
    assert.match(cut, /^x{111}…[0-9a-f]{16}$/);
    assert.equal(sanitizeLabelValue('x'.repeat(500)), cut, 'the same value cuts the same way every time');
    assert.notEqual(sanitizeLabelValue(`${'x'.repeat(499)}y`), cut, 'a difference past the cut shows');
    assert.equal(sanitizeLabelValue('x'.repeat(128)), 'x'.repeat(128));
    const emoji = sanitizeLabelValue('🎉'.repeat(200));
    assert.equal(Array.from(emoji).length, 128);
    assert.match(emoji, /^(?:🎉){111}…[0-9a-f]{16}$/u); // never half a surrogate pair
  });

  it('counts the cap after escaping, and takes another cap when told', () => {
    assert.equal(Array.from(sanitizeLabelValue(Buffer.alloc(100, 0xff))).length, 128);
    const family: MetricFamily = {
      name: 'm',
      help: 'h',
      type: 'gauge',
      samples: [{ labels: { comm: 'abcdefghijklmnopqrstuvwxyz' }, value: 1 }],
    };
    assert.match(
      renderExposition([family], 'prometheus', { maxLabelValueLength: 20 }),
      /m\{comm="abc…[0-9a-f]{16}"\} 1/,
    );
  });

  it('never fails a scrape for names: values that render alike keep the first sample', () => {
    // Bytes escape one to one: a newline, a backslash + "n" and an invalid byte stay three series.
    const family: MetricFamily = {
      name: 'm',
      help: 'h',
      type: 'gauge',
      samples: [
        { labels: { mount: Buffer.from('/a\nb') }, value: 1 },
        { labels: { mount: Buffer.from('/a\\nb') }, value: 2 },
        { labels: { mount: Buffer.from([0x2f, 0x61, 0xff]) }, value: 3 },
        { labels: { mount: Buffer.from('/a\\xff') }, value: 4 },
        // Text keeps its backslashes, so these two render alike: the scrape still answers.
        { labels: { unit: 'a\nb' }, value: 5 },
        { labels: { unit: 'a\\nb' }, value: 6 },
      ],
    };
    const text = renderExposition([family], 'prometheus');
    assert.equal(text.match(/^m\{/gm)?.length, 5, text);
    assert.match(text, /^m\{mount="\/a\\\\nb"\} 1$/m);
    assert.match(text, /^m\{mount="\/a\\\\\\\\nb"\} 2$/m);
    assert.match(text, /^m\{unit="a\\\\nb"\} 5$/m);
  });
});

describe('formatSampleValue', () => {
  const cases: [string, number, string][] = [
    ['NaN', NaN, 'NaN'],
    ['+Inf', Infinity, '+Inf'],
    ['-Inf', -Infinity, '-Inf'],
    ['zero', 0, '0'],
    ['negative zero as 0', -0, '0'],
    ['an integer exactly', 1073741824, '1073741824'],
    ['a negative integer', -7, '-7'],
    ['2^53 exactly', 2 ** 53, '9007199254740992'],
    ['4 PiB exactly', 4 * 1024 ** 5, '4503599627370496'],
    ['2^60 digit for digit, not padded with zeros', 2 ** 60, '1152921504606846976'],
    ['the largest double below 2^64 digit for digit', 2 ** 64 - 2048, '18446744073709549568'],
    ['a negative integer past 2^53 digit for digit', -(2 ** 53) - 2, '-9007199254740994'],
    ['2^64 in the shortest form', 2 ** 64, '18446744073709552000'],
    ['0.1 in its shortest form', 0.1, '0.1'],
    ['a third to 16 digits', 1 / 3, '0.3333333333333333'],
    ['0.1 + 0.2 exactly as it is', 0.1 + 0.2, '0.30000000000000004'],
    ['a huge value in exponent form', 1e21, '1e+21'],
    ['a tiny value in exponent form', 1.5e-7, '1.5e-7'],
    ['the smallest subnormal', 5e-324, '5e-324'],
    ['the largest double', Number.MAX_VALUE, '1.7976931348623157e+308'],
  ];
  for (const [name, value, expected] of cases) {
    it(`writes ${name} as ${expected}`, () => {
      assert.equal(formatSampleValue(value), expected);
    });
  }

  it('reads back every finite value it writes exactly', () => {
    let x = 0.5;
    for (let i = 0; i < 2000; i++) {
      x = (x * 9301 + 49297) % 233280; // a fixed walk over awkward doubles
      for (const value of [x, x / 7, -x * 1e-9, x * 1e300, Math.floor(x) * 2 ** 20]) {
        assert.equal(Number(formatSampleValue(value)), value);
        assert.match(formatSampleValue(value), /^-?\d+(\.\d+)?(e[+-]\d+)?$/);
      }
    }
  });

  it('renders the special values in samples', () => {
    const family: MetricFamily = {
      name: 'm',
      help: 'h',
      type: 'gauge',
      samples: [
        { labels: { v: 'nan' }, value: NaN },
        { labels: { v: 'inf' }, value: Infinity },
        { labels: { v: '-inf' }, value: -Infinity },
      ],
    };
    assert.equal(
      renderExposition([family], 'prometheus'),
      '# HELP m h\n# TYPE m gauge\nm{v="nan"} NaN\nm{v="inf"} +Inf\nm{v="-inf"} -Inf\n',
    );
  });
});

describe('renderExposition refuses what would spoil the scrape', () => {
  const gauge = (name: string, labels: Record<string, string> = {}): MetricFamily => ({
    name,
    help: 'h',
    type: 'gauge',
    samples: [{ labels, value: 1 }],
  });
  const cases: [string, MetricFamily[], RegExp][] = [
    ['an empty metric name', [gauge('')], /invalid metric name ""/],
    ['a metric name starting with a digit', [gauge('1limbo')], /invalid metric name "1limbo"/],
    ['a dash in a metric name', [gauge('limbo-fds')], /invalid metric name "limbo-fds"/],
    ['a space in a metric name', [gauge('limbo fds')], /invalid metric name/],
    ['a non-ASCII metric name', [gauge('limbo_é')], /invalid metric name/],
    ['a label name starting with a digit', [gauge('m', { '1pid': 'x' })], /invalid label name "1pid"/],
    ['a dash in a label name', [gauge('m', { 'file-name': 'x' })], /invalid label name "file-name"/],
    ['an empty label name', [gauge('m', { '': 'x' })], /invalid label name ""/],
    ['a reserved __ label name', [gauge('m', { __name__: 'x' })], /reserved/],
    ['a family defined twice', [gauge('m'), gauge('m')], /defined twice/],
    [
      'a gauge clashing with a counter’s samples',
      [gauge('x_total'), { name: 'x', help: 'h', type: 'counter', samples: [] }],
      /defined twice/,
    ],
    [
      'one label set twice',
      [
        {
          name: 'm',
          help: 'h',
          type: 'gauge',
          samples: [
            { labels: { a: '1' }, value: 1 },
            { labels: { a: '1' }, value: 2 },
          ],
        },
      ],
      /appears twice/,
    ],
    [
      'a unit that does not end the name',
      [{ name: 'limbo_held', help: 'h', type: 'gauge', unit: 'bytes', samples: [] }],
      /unit "bytes" as the name's suffix/,
    ],
    [
      'a negative counter',
      [{ name: 'c_total', help: 'h', type: 'counter', samples: [{ value: -1 }] }],
      /never negative or NaN/,
    ],
    [
      'a NaN counter',
      [{ name: 'c_total', help: 'h', type: 'counter', samples: [{ value: NaN }] }],
      /never negative/,
    ],
  ];
  for (const [name, families, message] of cases) {
    it(`refuses ${name}`, () => {
      for (const format of ['prometheus', 'openmetrics'] as const) {
        assert.throws(
          () => renderExposition(families, format),
          (error: unknown) => {
            assert.ok(error instanceof RangeError);
            assert.match(error.message, message);
            return true;
          },
        );
      }
    });
  }

  const accepted: [string, string][] = [
    ['colons (recording-rule style)', 'job:limbo_fds:sum'],
    ['a leading underscore', '_limbo'],
    ['upper case', 'Limbo_FDS'],
  ];
  for (const [name, metric] of accepted) {
    it(`accepts a metric name with ${name}`, () => {
      assert.doesNotThrow(() => renderExposition([gauge(metric, { _x: '1', Pid: '2' })], 'prometheus'));
    });
  }
});

describe('negotiateFormat', () => {
  const cases: [string, string | undefined, ExpositionFormat][] = [
    ['no Accept header', undefined, 'prometheus'],
    ['an empty Accept header', '', 'prometheus'],
    ['*/* (curl)', '*/*', 'prometheus'],
    ['text/plain', 'text/plain', 'prometheus'],
    ['text/plain version 0.0.4', 'text/plain; version=0.0.4', 'prometheus'],
    ['OpenMetrics unversioned', 'application/openmetrics-text', 'openmetrics'],
    ['OpenMetrics 1.0.0', 'application/openmetrics-text; version=1.0.0; charset=utf-8', 'openmetrics'],
    ['OpenMetrics with a quoted version', 'application/openmetrics-text;version="1.0.0"', 'openmetrics'],
    ['OpenMetrics in other letter case', 'Application/OpenMetrics-Text; Version=1.0.0', 'openmetrics'],
    [
      "Prometheus 2's scrape header",
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      'openmetrics',
    ],
    [
      'a header preferring protobuf, then OpenMetrics',
      'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      'openmetrics',
    ],
    [
      'UTF-8 escaping parameters (Prometheus 3 style)',
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
      'openmetrics',
    ],
    [
      'only OpenMetrics 0.0.1, which is not what we write',
      'application/openmetrics-text;version=0.0.1',
      'prometheus',
    ],
    ['only a future OpenMetrics', 'application/openmetrics-text;version=2.0.0', 'prometheus'],
    ['OpenMetrics refused with q=0', 'application/openmetrics-text;q=0, text/plain', 'prometheus'],
    ['text preferred over OpenMetrics', 'text/plain;q=1, application/openmetrics-text;q=0.5', 'prometheus'],
    ['*/* preferred over OpenMetrics', 'application/openmetrics-text;q=0.9, */*', 'prometheus'],
    ['OpenMetrics and text equally', 'text/plain, application/openmetrics-text', 'openmetrics'],
    ['nothing we write (fall back to text)', 'application/json', 'prometheus'],
    ['a malformed q, read as 1', 'application/openmetrics-text;q=high, text/plain;q=0.5', 'openmetrics'],
  ];
  for (const [name, accept, expected] of cases) {
    it(`answers ${name} with ${expected}`, () => {
      assert.equal(negotiateFormat(accept), expected);
    });
  }
});

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const promtoolMissing = promtool.error !== undefined || promtool.status !== 0;

describe('promtool check metrics', () => {
  it(
    'finds nothing wrong in a rendered 0.0.4 exposition, hostile labels included',
    { skip: promtoolMissing ? 'promtool not found: apt-get install prometheus to run this check' : false },
    () => {
      const families: MetricFamily[] = [
        ...FAMILIES,
        {
          name: 'limbo_process_open_fds',
          help: 'Open file descriptors of a process\\with a backslash\nand a newline in its help.',
          type: 'gauge',
          samples: [
            { labels: { pid: '1', comm: Buffer.from('a"b\\c\nd'), unit: 'init.scope' }, value: 120 },
            {
              labels: { pid: '2', comm: bytes(0xff, 0xfe, 0x1b), unit: 'dev-disk-by\\x2duuid.swap' },
              value: NaN,
            },
            { labels: { pid: '3', comm: 'x'.repeat(300), unit: '' }, value: Infinity },
            { labels: { pid: '4', comm: 'tiny', unit: 'a\u202eb' }, value: -Infinity },
            { labels: { pid: '5', comm: 'big', unit: 'u' }, value: 1e21 },
            { labels: { pid: '6', comm: 'small', unit: 'u' }, value: 1.5e-7 },
          ],
        },
      ];
      const result = spawnSync('promtool', ['check', 'metrics'], {
        input: renderExposition(families, 'prometheus'),
        encoding: 'utf8',
      });
      assert.equal(`${result.stdout}${result.stderr}`, '');
      assert.equal(result.status, 0);
    },
  );
});
