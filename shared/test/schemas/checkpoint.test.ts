import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkBody, nodeTopic, parseNodeTopic, type BodyOf, type Envelope } from '@backstop/shared'

const checkpoint: BodyOf<'checkpoint'> = {
  coveredSeq: 120,
  collectorHighWater: 150,
  backupTakenAt: '2026-12-05T08:07:00.000Z',
}
const retention: BodyOf<'outbox.retention'> = {
  state: 'backlog',
  keptEvents: 30,
  keptBytes: 24000,
  oldestKeptAt: '2026-12-03T08:00:00.000Z',
  checkpointSeq: 120,
  uncoveredThrough: 0,
  limits: { maxBytes: 268435456, maxAgeHours: 720, alertAfterHours: 48 },
}
const env = (kind: 'checkpoint' | 'outbox.retention', b: unknown): Envelope =>
  ({ v: 1, kind, node: 'pve1', msgId: 'm1', seq: 0, ts: '2026-12-05T09:00:00.000Z', sig: 's', body: b }) as Envelope

describe('checkpoint and outbox.retention wire contract', () => {
  it('accepts a checkpoint with and without a backup, and retention reports with and without a loss', () => {
    assert.doesNotThrow(() => checkBody(env('checkpoint', checkpoint)))
    assert.doesNotThrow(() => checkBody(env('checkpoint', { coveredSeq: 0, collectorHighWater: 0 })))
    assert.doesNotThrow(() => checkBody(env('outbox.retention', retention)))
    assert.doesNotThrow(() =>
      checkBody(env('outbox.retention', { ...retention, lost: { fromSeq: 90, toSeq: 120 }, uncoveredThrough: 120 })),
    )
  })

  it('refuses negative or fractional seqs, unknown states and unknown fields', () => {
    const bad: Array<['checkpoint' | 'outbox.retention', unknown]> = [
      ['checkpoint', { ...checkpoint, coveredSeq: -1 }],
      ['checkpoint', { ...checkpoint, collectorHighWater: 1.5 }],
      ['checkpoint', { coveredSeq: 1 }],
      ['checkpoint', { ...checkpoint, release: 'all' }],
      ['outbox.retention', { ...retention, state: 'full' }],
      ['outbox.retention', { ...retention, lost: { fromSeq: 0, toSeq: 3 } }],
      ['outbox.retention', { ...retention, limits: { maxBytes: 1 } }],
    ]
    for (const [kind, b] of bad) {
      assert.throws(() => checkBody(env(kind, b)), { code: 'BK_ERR_WIRE_SCHEMA' }, JSON.stringify(b))
    }
  })

  it('checkpoints have their own node channel', () => {
    assert.equal(nodeTopic('pve1', 'checkpoint'), 'backstop/v1/pve1/checkpoint')
    assert.deepEqual(parseNodeTopic('backstop/v1/pve1/checkpoint'), { node: 'pve1', channel: 'checkpoint' })
  })
})
