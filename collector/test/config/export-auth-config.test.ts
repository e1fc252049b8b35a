import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { ConfigError } from '@backstop/shared'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { OFF_ON_NETWORK } from '../../src/config/schema.ts'

const example = readFileSync(
  fileURLToPath(new URL('../../../deploy/config/collector.example.yaml', import.meta.url)),
  'utf8',
)
const base = 'log: {level: info}\n'

/** The example's commented-out `export:` block, uncommented: what an operator gets by removing the `# `. */
function exampleWithExport(): string {
  const lines = example.split('\n')
  const start = lines.indexOf('# export:')
  assert.ok(start > 0, 'the example documents an export: section')
  return lines.map((l, i) => (i >= start && l.startsWith('# ') ? l.slice(2) : l)).join('\n')
}

test('the example documents export.influx; uncommented it resolves to the exporter options', () => {
  const cfg = parseCollectorConfig(exampleWithExport(), 'collector.example.yaml')
  assert.deepEqual(cfg.export.influx, {
    url: 'http://127.0.0.1:8428',
    token: 'replace-with-an-influx-token',
    org: 'backstop',
    bucket: 'backstop',
    batchLines: 5000,
    maxQueueLines: 1_000_000,
    timeoutMs: 10_000,
  })
  // Only url, org and bucket are needed; no token = '' (the client then sends no Authorization header).
  const minimal = parseCollectorConfig(
    `${base}export:\n  influx: {url: 'https://tsdb.lan:8086/prefix', org: o, bucket: b}\n`,
    'min.yaml',
  )
  assert.deepEqual(minimal.export.influx, { url: 'https://tsdb.lan:8086/prefix', token: '', org: 'o', bucket: 'b' })
  assert.equal(parseCollectorConfig(`${base}export: {}\n`, 'x.yaml').export.influx, undefined)
})

const invalid: [name: string, yaml: string, where: RegExp][] = [
  [
    'no scheme',
    'export:\n  influx:\n    url: tsdb.lan:8086\n    org: o\n    bucket: b\n',
    /x\.yaml:4:\d+: export\.influx\.url: must be an http:\/\/ or https:\/\/ URL/,
  ],
  [
    'ftp scheme',
    'export:\n  influx:\n    org: o\n    url: ftp://tsdb.lan\n    bucket: b\n',
    /x\.yaml:5:\d+: export\.influx\.url: /,
  ],
  [
    'empty host',
    'export:\n  influx:\n    url: "http://"\n    org: o\n    bucket: b\n',
    /x\.yaml:4:\d+: export\.influx\.url: /,
  ],
  [
    'space in url',
    'export:\n  influx:\n    url: "http://tsdb lan:8086"\n    org: o\n    bucket: b\n',
    /x\.yaml:4:\d+: export\.influx\.url: /,
  ],
  [
    'missing bucket',
    'export:\n  influx:\n    url: http://tsdb.lan:8086\n    org: o\n',
    /x\.yaml:4:\d+: export\.influx: missing required field\(s\) "bucket"/,
  ],
  [
    'unknown field',
    'export:\n  influx:\n    url: http://tsdb.lan:8086\n    org: o\n    bucket: b\n    flushEvery: 5\n',
    /x\.yaml:7:\d+: export\.influx: unknown field\(s\) "flushEvery"/,
  ],
  [
    'bad timeout',
    'export:\n  influx:\n    url: http://tsdb.lan:8086\n    org: o\n    bucket: b\n    timeoutMs: 5\n',
    /x\.yaml:7:\d+: export\.influx\.timeoutMs: .*100/,
  ],
  ['bad auth mode', 'api:\n  port: 8080\n  auth: maybe\n', /x\.yaml:4:\d+: api\.auth: /],
]
for (const [name, yaml, where] of invalid) {
  test(`invalid export/auth config (${name}) fails naming file:line:field`, () => {
    assert.throws(
      () => parseCollectorConfig(base + yaml, 'x.yaml'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError)
        assert.equal(e.code, 'BK_ERR_CONFIG_INVALID')
        assert.match(e.message, where)
        return true
      },
    )
  })
}

test('api.auth: required by default, off (loopback) and the network opt-out as written', () => {
  const cases: [yaml: string, mode: string][] = [
    ['', 'required'],
    ['api: {auth: required}\n', 'required'],
    ['api: {host: 127.0.0.1, auth: off}\n', 'off'],
    [`api: {host: 0.0.0.0, auth: ${OFF_ON_NETWORK}}\n`, OFF_ON_NETWORK],
  ]
  for (const [yaml, mode] of cases) {
    assert.equal(parseCollectorConfig(base + yaml, 'x.yaml').api.auth, mode, yaml || '(no api section)')
  }
})
