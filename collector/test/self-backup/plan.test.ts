import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keepLastOnly, resolveRetentionPolicy } from '@backstop/shared'
import { backupFileName, backupTakenAt } from '../../src/self-backup/backup-file.ts'
import { nextSlot, overdueAt, planTargetRetention, slotMissed } from '../../src/self-backup/plan.ts'

const at = (iso: string): number => Date.parse(iso)
const hourly = { cron: '7 * * * *', timezone: 'Europe/Amsterdam' }

describe('self-backup decisions (pure, injected now)', () => {
  it('names sort by time and parse back; other names are not backups', () => {
    const name = backupFileName(new Date('2026-03-29T01:07:09.900Z'))
    assert.equal(name, 'backstop-collector-20260329T010709Z.db')
    assert.equal(backupTakenAt(name)?.toISOString(), '2026-03-29T01:07:09.000Z')
    assert.equal(backupTakenAt('collector.db'), null)
    assert.equal(backupTakenAt('backstop-collector-20261399T000000Z.db'), null)
  })

  it('the next slot, and a slot missed while the collector was down (caught up once)', () => {
    assert.equal(nextSlot(hourly, at('2026-11-20T10:07:00Z')), at('2026-11-20T11:07:00Z'))
    assert.equal(slotMissed(hourly, null, at('2026-11-20T10:00:00Z')), true, 'never backed up')
    assert.equal(slotMissed(hourly, at('2026-11-20T10:07:00Z'), at('2026-11-20T11:06:59Z')), false)
    assert.equal(slotMissed(hourly, at('2026-11-20T10:07:00Z'), at('2026-11-20T11:07:00Z')), true)
    assert.equal(slotMissed(hourly, at('2026-11-20T10:07:00Z'), at('2026-11-23T00:00:00Z')), true)
  })

  it('overdue: the first slot after the newest verified backup (or the start of watching) plus the grace', () => {
    const grace = 30 * 60_000
    assert.equal(overdueAt(hourly, at('2026-11-20T10:07:05Z'), 0, grace), at('2026-11-20T11:37:00Z'))
    assert.equal(overdueAt(hourly, null, at('2026-11-20T10:30:00Z'), grace), at('2026-11-20T11:37:00Z'))
  })

  it('keep rules see only backup files; a failed copy never outlives a newer good one', () => {
    const files = [
      'backstop-collector-20261120T080700Z.db',
      'backstop-collector-20261120T090700Z.db',
      'backstop-collector-20261120T100700Z.db',
      'notes.txt',
      '.backstop-collector-20261120T110700Z.db.0123456789ab.tmp',
    ]
    const plan = planTargetRetention(
      files,
      new Set(['backstop-collector-20261120T090700Z.db']),
      resolveRetentionPolicy(undefined, 'UTC', keepLastOnly(2)),
      at('2026-11-20T12:00:00Z'),
    )
    assert.deepEqual(
      plan.map((p) => [p.id, p.action]),
      [
        ['backstop-collector-20261120T080700Z.db', 'keep'],
        ['backstop-collector-20261120T090700Z.db', 'destroy'],
        ['backstop-collector-20261120T100700Z.db', 'keep'],
      ],
    )
    assert.match(plan[1]!.reasons.join(), /failed copy/)
  })
})
