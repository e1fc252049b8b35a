import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { outboxRetentionConditions, type BodyOf } from '../../src/index.ts'

const base: BodyOf<'outbox.retention'> = {
  state: 'ok',
  keptEvents: 10,
  keptBytes: 4096,
  oldestKeptAt: '2026-12-01T00:00:00.000Z',
  checkpointSeq: 50,
  uncoveredThrough: 0,
  limits: { maxBytes: 268435456, maxAgeHours: 720, alertAfterHours: 48 },
}

describe('outbox.retention → outbox-backlog / outbox-uncovered', () => {
  const cases: Array<[string, Partial<BodyOf<'outbox.retention'>>, Record<string, [boolean, string]>]> = [
    ['all covered', {}, { 'outbox-backlog': [false, 'warning'], 'outbox-uncovered': [false, 'warning'] }],
    ['backlog', { state: 'backlog' }, { 'outbox-backlog': [true, 'warning'], 'outbox-uncovered': [false, 'warning'] }],
    [
      'released by a bound above the checkpoint',
      { uncoveredThrough: 70 },
      { 'outbox-backlog': [false, 'warning'], 'outbox-uncovered': [true, 'warning'] },
    ],
    [
      'released uncovered, since covered by a newer backup',
      { uncoveredThrough: 40 },
      { 'outbox-backlog': [false, 'warning'], 'outbox-uncovered': [false, 'warning'] },
    ],
    [
      'lost in a restore to an older backup',
      { uncoveredThrough: 40, lost: { fromSeq: 31, toSeq: 40 } },
      { 'outbox-backlog': [false, 'warning'], 'outbox-uncovered': [true, 'critical'] },
    ],
  ]
  for (const [name, over, want] of cases) {
    it(name, () => {
      const conds = outboxRetentionConditions('nas-1', { ...base, ...over })
      assert.deepEqual(Object.fromEntries(conds.map((c) => [c.kind, [c.firing, c.severity]])), want)
      assert.deepEqual(
        conds.map((c) => c.key),
        ['outbox-backlog/nas-1', 'outbox-uncovered/nas-1'],
      )
      assert.ok(conds.every((c) => c.node === 'nas-1' && c.summary.includes('nas-1')))
    })
  }
  it('the loss names the seqs', () => {
    const [, uncovered] = outboxRetentionConditions('nas-1', { ...base, lost: { fromSeq: 31, toSeq: 40 } })
    assert.match(uncovered!.summary, /seq 31\.\.40 .* lost/)
  })
})
