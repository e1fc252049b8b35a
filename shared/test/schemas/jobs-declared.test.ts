import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkBody, type Envelope, type JobsDeclaredBody } from '@backstop/shared'

const body: JobsDeclaredBody = {
  at: '2026-11-22T02:00:00.000Z',
  hash: 'a'.repeat(64),
  jobs: [
    {
      name: 'nightly',
      kind: 'zfs',
      schedule: '0 3 * * *',
      timezone: 'Europe/Amsterdam',
      assets: [{ kind: 'zfs-dataset', id: 'tank/data' }],
      targets: ['zfs:tank'],
    },
    { name: 'by-hand', kind: 'archive', assets: [{ kind: 'file-set', id: 'fileset:by-hand' }], targets: ['/b'] },
  ],
}
const env = (b: unknown): Envelope =>
  ({ v: 1, kind: 'jobs.declared', node: 'pve1', msgId: 'm1', seq: 1, ts: body.at, sig: 's', body: b }) as Envelope

describe('jobs.declared wire contract', () => {
  it('accepts a job list with and without schedules, and an empty one (a node with no jobs)', () => {
    assert.doesNotThrow(() => checkBody(env(body)))
    assert.doesNotThrow(() => checkBody(env({ ...body, jobs: [] })))
  })

  it('refuses a hash that is not sha256 hex, an invalid job name and unknown fields', () => {
    const bad: unknown[] = [
      { ...body, hash: 'abc' },
      { ...body, jobs: [{ ...body.jobs[0], name: '../x' }] },
      { ...body, jobs: [{ ...body.jobs[0], grace: 60 }] },
      { ...body, extra: true },
    ]
    for (const b of bad) {
      assert.throws(() => checkBody(env(b)), { code: 'BK_ERR_WIRE_SCHEMA' }, JSON.stringify(b))
    }
  })
})
