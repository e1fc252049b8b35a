import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Copy } from '@backstop/shared'
import { tagCreatedByRun } from '../../src/jobs/created-by-run.ts'

const snapshot = (name: string, createdAt: string, over: Partial<Copy> = {}): Copy => ({
  copyId: `zfs:tank/data@${name}`,
  asset: { kind: 'zfs-dataset', id: 'tank/data' },
  location: { kind: 'zfs-pool', target: 'tank' },
  name: `tank/data@${name}`,
  media: 'hdd',
  offsite: false,
  offline: false,
  immutable: false,
  createdAt,
  verification: { state: 'verified' },
  ...over,
})

// Issue 11: the snapshot a run makes is named in whole seconds, so it looks up to 999 ms older than the run start.
describe('tagCreatedByRun: the run id on the copies a run created', () => {
  const startedAt = new Date('2026-02-01T10:00:00.731Z')

  it('tags a snapshot named in the run start second (before the start in milliseconds) and later ones', () => {
    const [same, later] = tagCreatedByRun(
      [snapshot('auto-100000', '2026-02-01T10:00:00Z'), snapshot('auto-100003', '2026-02-01T10:00:03Z')],
      'run-7',
      startedAt,
    )
    assert.equal(same?.runId, 'run-7')
    assert.equal(later?.runId, 'run-7')
  })

  it('leaves untagged the snapshots the run only saw, and keeps a tag the job set itself', () => {
    const [old, ownTag] = tagCreatedByRun(
      [
        snapshot('auto-095959', '2026-02-01T09:59:59Z'),
        snapshot('replica', '2026-02-01T09:00:00Z', { runId: 'run-7' }),
      ],
      'run-7',
      startedAt,
    )
    assert.equal(old?.runId, undefined)
    assert.equal(ownTag?.runId, 'run-7')
  })
})
