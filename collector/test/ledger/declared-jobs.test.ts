import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { DeclaredJob, JobsDeclaredBody } from '@backstop/shared'
import { declaredSchedule } from '../../src/ledger/apply-declared-jobs.ts'
import { H, harness, T0 } from './harness.ts'

const M = 60_000
const GRACE = H // ledgerConfig's default grace (3600 s)
const nightly: DeclaredJob = {
  name: 'nightly',
  kind: 'zfs',
  schedule: '0 3 * * *',
  timezone: 'UTC',
  assets: [{ kind: 'zfs-dataset', id: 'tank/data' }],
  targets: ['zfs:tank'],
}
const weekly: DeclaredJob = {
  name: 'weekly',
  kind: 'zfs',
  schedule: '0 4 * * 0',
  timezone: 'UTC',
  assets: [{ kind: 'zfs-dataset', id: 'tank/other' }],
  targets: ['zfs:tank'],
}
const declaration = (at: number, jobs: DeclaredJob[], hash = 'a'): JobsDeclaredBody => ({
  at: new Date(at).toISOString(),
  hash: hash.repeat(64),
  jobs,
})
const missedKey = (job: string, asset: string) => `missed-backup/pve1/${job}/zfs-dataset/${asset}`

describe('declared jobs: expectations before the first run', () => {
  it('a declared job that never runs raises missed-backup at its first slot plus grace, not before', () => {
    const h = harness()
    h.start()
    h.core.jobs.declare('pve1', declaration(T0, [nightly]))
    h.ledger.runNow()
    const e = h.repos.expectations.get({ node: 'pve1', job: 'nightly', assetKind: 'zfs-dataset', assetId: 'tank/data' })
    assert.ok(e, 'expected at once, before any run')
    assert.equal(e.state.status, 'new')
    assert.deepEqual(e.state.schedule, { kind: 'cron', cron: '0 3 * * *', timezone: 'UTC' })
    const due = T0 + 3 * H + GRACE
    assert.equal(e.alertAfter, due, 'due at the first 03:00 slot plus grace')
    h.clock.set(due - 1)
    assert.equal(h.alert(missedKey('nightly', 'tank/data')), undefined)
    h.clock.set(due + 5 * M)
    const a = h.alert(missedKey('nightly', 'tank/data'))
    assert.equal(a?.state, 'firing')
    assert.equal(a?.since, due, 'dated at the deadline')
    h.stop()
  })

  it('a job missing from a newer declaration is retired: no expectation, its alert resolved, one audit entry', () => {
    const h = harness()
    h.start()
    h.core.jobs.declare('pve1', declaration(T0, [nightly, weekly]))
    h.ledger.runNow()
    h.clock.set(T0 + 5 * H)
    assert.equal(h.alert(missedKey('nightly', 'tank/data'))?.state, 'firing')
    h.core.jobs.declare('pve1', declaration(T0 + 5 * H, [weekly], 'b'))
    h.ledger.runNow()
    assert.equal(
      h.repos.expectations.get({ node: 'pve1', job: 'nightly', assetKind: 'zfs-dataset', assetId: 'tank/data' }),
      undefined,
    )
    assert.ok(
      h.repos.expectations.get({ node: 'pve1', job: 'weekly', assetKind: 'zfs-dataset', assetId: 'tank/other' }),
      'the job still declared keeps its expectation',
    )
    assert.equal(h.alert(missedKey('nightly', 'tank/data'))?.state, 'resolved')
    const audit = h.auditLog.list({ action: 'job.retire' })
    assert.equal(audit.length, 1)
    assert.equal(audit[0]?.actor, 'system')
    assert.equal(audit[0]?.target, 'pve1/nightly')
    assert.deepEqual(audit[0]?.detail['expectations'], ['zfs-dataset/tank/data'])
    // An older declaration arriving late (outbox replay after a reconnect) does not bring the job back.
    h.core.jobs.declare('pve1', declaration(T0, [nightly, weekly], 'c'))
    h.ledger.runNow()
    assert.equal(h.repos.expectations.list({ node: 'pve1', limit: 10, offset: 0 }).total, 1)
    h.stop()
  })

  it('a declared job that runs on schedule never alerts', () => {
    const h = harness()
    h.start()
    h.core.jobs.declare('pve1', declaration(T0, [nightly]))
    h.ledger.runNow()
    for (const [day, runId] of [
      [0, 'r1'],
      [1, 'r2'],
    ] as const) {
      // The snapshot is named in whole seconds, the run start keeps milliseconds (issue 11).
      const slot = T0 + day * 24 * H + 3 * H
      h.run('nightly', slot + 250, 40_000, [h.copy(`zfs:tank/data@auto-${day}`, 'tank/data', slot, { runId })])
      h.ledger.runNow()
      h.clock.set(slot + 3 * H)
      const e = h.repos.expectations.get({
        node: 'pve1',
        job: 'nightly',
        assetKind: 'zfs-dataset',
        assetId: 'tank/data',
      })
      assert.equal(e?.state.status, 'up')
      assert.equal(e?.alertAfter, slot + 24 * H + GRACE, 'next due: the next 03:00 plus grace')
    }
    assert.equal(h.alert(missedKey('nightly', 'tank/data')), undefined, 'never fired, not even resolved')
    h.stop()
  })
})

describe('declaredSchedule', () => {
  it('a cron job is expected on its cron in its zone (UTC when none); a job without schedule is not', () => {
    assert.deepEqual(declaredSchedule({ ...nightly, timezone: 'Europe/Amsterdam' }), {
      kind: 'cron',
      cron: '0 3 * * *',
      timezone: 'Europe/Amsterdam',
    })
    const { timezone: _tz, ...noZone } = nightly
    assert.deepEqual(declaredSchedule(noZone), { kind: 'cron', cron: '0 3 * * *', timezone: 'UTC' })
    const { schedule: _s, ...manual } = nightly
    assert.equal(declaredSchedule(manual), null)
  })
})
