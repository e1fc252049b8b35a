import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { ConfigError } from '@backstop/shared'
import { loadCollectorConfig, parseCollectorConfig } from '../../src/config/load.ts'

const repo = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url))
const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/config/${name}`, import.meta.url))

test('deploy/config/collector.example.yaml parses and documents the defaults', () => {
  const cfg = loadCollectorConfig(repo('deploy/config/collector.example.yaml'))
  assert.equal(cfg.dataDir, '/var/lib/backstop-collector')
  assert.equal(cfg.dbFile, '/var/lib/backstop-collector/collector.db')
  assert.deepEqual(cfg.mqtt, { host: '0.0.0.0', port: 1883, limits: {} }, 'broker limits keep their defaults')
  assert.deepEqual(cfg.api, { host: '127.0.0.1', port: 8080, auth: 'required' })
  assert.equal(cfg.export.influx, undefined, 'export is off unless configured')
  assert.equal(cfg.logLevel, 'info')
  assert.equal(cfg.ingest.batchSize, 1000)
  assert.equal(cfg.ingest.batchIntervalMs, 5)
  assert.ok(cfg.ingest.verifyWorkers >= 1)
  // the example's values are the defaults: an empty config (one-time enrollment tokens only) resolves the same
  const minimal = parseCollectorConfig('', 'min.yaml')
  assert.deepEqual({ ...minimal, file: '' }, { ...cfg, file: '' })
  assert.deepEqual(cfg.enrollment.tokens, [], 'static enrollment tokens are optional')
  assert.deepEqual(cfg.warnings, [])
})

const invalid: [file: string, where: RegExp][] = [
  ['short-token.yaml', /short-token\.yaml:3:\d+: enrollment\.tokens\[0\]: .*16/],
  ['relative-datadir.yaml', /relative-datadir\.yaml:1:\d+: dataDir: /],
  ['bad-port.yaml', /bad-port\.yaml:4:\d+: mqtt\.port: .*65535/],
  [
    'bad-ingest.yaml',
    new RegExp(
      'bad-ingest\\.yaml:5:\\d+: ingest: unknown field\\(s\\) "flushEvery"\\n' +
        '.*bad-ingest\\.yaml:4:\\d+: ingest\\.batchSize: must be <= 10000$',
    ),
  ],
  ['bad-log-level.yaml', /bad-log-level\.yaml:4:\d+: log\.level: /],
  ['broken-yaml.yaml', /broken-yaml\.yaml:\d+:\d+: \(root\): YAML: /],
  [
    'duplicate-key.yaml',
    /duplicate-key\.yaml:5:\d+: \(root\): YAML: .*[Uu]nique|duplicate-key\.yaml:5:\d+: \(root\): YAML: /,
  ],
]
for (const [file, where] of invalid) {
  test(`invalid config ${file} fails naming file:line:field`, () => {
    assert.throws(
      () => loadCollectorConfig(fixture(file)),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError)
        assert.equal(e.code, 'BK_ERR_CONFIG_INVALID')
        assert.match(e.message, where)
        return true
      },
    )
  })
}

test('a missing config file is BK_ERR_CONFIG_NOT_FOUND with a hint', () => {
  assert.throws(
    () => loadCollectorConfig('/nonexistent/collector.yaml'),
    /BK_ERR_CONFIG_NOT_FOUND|configuration file not found[\s\S]*--config/,
  )
  assert.ok(readFileSync(fixture('short-token.yaml'), 'utf8').includes('short'))
})

test('mqtt.limits: what MQTT clients may cost the collector is configurable, within bounds', () => {
  const cfg = parseCollectorConfig(
    'mqtt:\n  limits:\n    maxConnectionsPerIp: 4\n    enrollsPerIp: { burst: 2, perMinute: 1 }\n',
    'limits.yaml',
  )
  assert.deepEqual(cfg.mqtt.limits, { maxConnectionsPerIp: 4, enrollsPerIp: { burst: 2, perMinute: 1 } })
  assert.throws(
    () => parseCollectorConfig('mqtt:\n  limits:\n    maxPacketBytes: 4096\n', 'small.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError)
      // A node's packet must fit a whole message (1 MiB + framing): smaller would refuse its own agents.
      assert.match(e.message, /small\.yaml:3:\d+: mqtt\.limits\.maxPacketBytes: must be >= 1049600/)
      return true
    },
  )
  assert.throws(
    () => parseCollectorConfig('mqtt:\n  limits:\n    maxSockets: 4\n', 'typo.yaml'),
    /typo\.yaml:\d+:\d+: mqtt\.limits: unknown field\(s\) "maxSockets"/,
  )
})
