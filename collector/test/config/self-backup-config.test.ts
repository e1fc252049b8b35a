import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { defaultCollectorNode } from '../../src/config/self-backup-input.ts'

const parse = (selfBackup: string): ReturnType<typeof parseCollectorConfig> =>
  parseCollectorConfig(`dataDir: /var/lib/bk\nselfBackup:\n${selfBackup}`, 'c.yaml')

const refused = (selfBackup: string, why: RegExp): void => {
  assert.throws(
    () => parse(selfBackup),
    (e: Error) => {
      assert.match(e.message, why)
      return true
    },
  )
}

describe('selfBackup config', () => {
  it('resolves the defaults of a section with only a target', () => {
    const s = parse('  targets: [{dir: /mnt/b/}]\n').selfBackup
    assert.deepEqual(
      { ...s, retention: s?.retention.keep },
      {
        schedule: '7 * * * *',
        timezone: 'UTC',
        site: 'default',
        node: defaultCollectorNode(),
        targets: [{ name: 'target-1', dir: '/mnt/b', site: 'default', media: undefined }],
        retention: { last: 24, hourly: 0, daily: 14, weekly: 8, monthly: 12, yearly: 0 },
        overdueGraceMs: 3_600_000,
      },
    )
    assert.equal(parseCollectorConfig('', 'empty.yaml').selfBackup, undefined, 'absent section: no self-backup')
  })

  it('refuses, with the line and field, what would not back up or not judge truthfully', () => {
    refused(
      '  targets: [{dir: /var/lib/bk/backups}]\n',
      /c\.yaml:3:\d+: selfBackup\.targets\[0\]\.dir: .*inside dataDir/,
    )
    refused('  targets: []\n', /selfBackup\.targets/)
    refused('  targets: [{dir: relative}]\n', /selfBackup\.targets\[0\]\.dir/)
    refused('  schedule: "61 * * * *"\n  targets: [{dir: /b}]\n', /c\.yaml:3:\d+: selfBackup\.schedule: .*61/)
    refused('  timezone: Mars/Olympus\n  targets: [{dir: /b}]\n', /selfBackup\.timezone: .*Mars\/Olympus/)
    refused(
      '  targets: [{dir: /a, name: x}, {dir: /b, name: x}]\n',
      /selfBackup\.targets\[1\]\.name: "x" names two targets/,
    )
    refused('  targets: [{dir: /a}, {dir: /a/}]\n', /selfBackup\.targets\[1\]\.dir: \/a is listed twice/)
    refused(
      '  targets: [{dir: /a}]\n  retention: {keep: {last: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0}}\n',
      /selfBackup\.retention\.keep: every keep count is 0/,
    )
  })

  it('turns a host name into a node id', () => {
    assert.equal(defaultCollectorNode('Backup-Host.example.COM'), 'collector-backup-host.example.com')
    assert.equal(defaultCollectorNode('__'), 'collector-host')
  })
})
