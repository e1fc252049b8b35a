import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseCollectorConfig } from '../../src/config/load.ts'

const parse = (yaml: string): ReturnType<typeof parseCollectorConfig> =>
  parseCollectorConfig(`dataDir: /var/lib/bk\n${yaml}`, 'c.yaml')

const refused = (yaml: string, why: RegExp): void => {
  assert.throws(
    () => parse(yaml),
    (e: Error) => {
      assert.match(e.message, why)
      return true
    },
  )
}

describe('retention: and database: config', () => {
  it('defaults keep what a user and an auditor need; the audit chain is never sealed unless asked', () => {
    const c = parse('')
    assert.deepEqual(c.retention, {
      eventsDays: 90,
      runsDays: 400,
      tombstoneDays: 60,
      alertFlipsDays: 400,
      diskSamplesDays: 31,
      intervalMs: 3_600_000,
      batchRows: 2000,
      audit: { sealAfterDays: undefined, exportDir: '/var/lib/bk/audit-segments' },
    })
    assert.deepEqual(c.database, {
      optimizeIntervalMs: 6 * 3_600_000,
      walTruncateBytes: 64 * 1024 * 1024,
      idleCheckpointMs: 60_000,
      diskFillAlertPercent: 85,
      diskFullForecastDays: 30,
    })
  })

  it('takes every key', () => {
    const c = parse(
      'retention: {eventsDays: 30, runsDays: 800, tombstoneDays: 10, alertFlipsDays: 100, diskSamplesDays: 60,\n' +
        '  intervalMinutes: 15, batchRows: 500, audit: {sealAfterDays: 365, exportDir: /mnt/usb/audit}}\n' +
        'database: {optimizeIntervalHours: 1, walTruncateMiB: 8, idleCheckpointSeconds: 5,' +
        ' diskFillAlertPercent: 90,\n  diskFullForecastDays: 14}\n',
    )
    assert.equal(c.retention.intervalMs, 15 * 60_000)
    assert.deepEqual(c.retention.audit, { sealAfterDays: 365, exportDir: '/mnt/usb/audit' })
    assert.equal(c.database.walTruncateBytes, 8 * 1024 * 1024)
    assert.equal(c.database.diskFullForecastDays, 14)
  })

  it('refuses values that would lose what others rely on, naming file:line:field and why', () => {
    refused('retention: {eventsDays: 3}\n', /c\.yaml:2:\d+: retention\.eventsDays: must be >= 7/)
    refused('retention: {diskSamplesDays: 7}\n', /retention\.diskSamplesDays: must be >= 31/)
    refused('retention: {audit: {sealAfterDays: 10}}\n', /retention\.audit\.sealAfterDays: must be >= 30/)
    refused('retention: {audit: {exportDir: audit}}\n', /retention\.audit\.exportDir: must be an absolute path/)
    refused('retention: {eventDays: 30}\n', /retention: unknown field\(s\) "eventDays"/)
    refused('database: {diskFillAlertPercent: 120}\n', /database\.diskFillAlertPercent: must be <= 100/)
  })
})
