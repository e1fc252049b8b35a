import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ledgerConfig } from '../../src/ledger/config.ts'
import { producedByClock } from '../../src/ledger/apply-runs.ts'
import { H, harness, T0 } from './harness.ts'

const M = 60_000
const missed = 'missed-backup/pve1/snap/zfs-dataset/tank/data'
const expectationOf = (h: ReturnType<typeof harness>, assetId = 'tank/data') =>
  h.repos.expectations.get({ node: 'pve1', job: 'snap', assetKind: 'zfs-dataset', assetId })!

// Issue 11: a ZFS/Btrfs snapshot's time comes from its name (whole seconds) while the run's start keeps
// milliseconds, so the snapshot a run made looks up to 999 ms older than the run. With a 60 s grace the collector
// paged missed-backup for a run that had finished with verified copies.
describe('ledger: a run is paired with the copies it made by run id, not by clocks', () => {
  it('a snapshot named 400 ms before the run start, tagged with the run id, meets the expectation', () => {
    const h = harness(ledgerConfig({ defaultGraceS: 60 }))
    h.start()
    const startedAt = T0 + 400
    // The harness numbers runs r1, r2, …: the agent tags the copy it created with its run's id.
    const runId = h.run('snap', startedAt, 30_000, [h.copy('zfs:tank/data@auto-1', 'tank/data', T0, { runId: 'r1' })])
    assert.equal(runId, 'r1')
    h.ledger.runNow()
    assert.equal(expectationOf(h).state.status, 'up')
    assert.equal(expectationOf(h).state.runningRunId, undefined, 'the run is over, not "still going"')
    h.clock.set(startedAt + 30 * M)
    h.ledger.runNow()
    assert.equal(h.alert(missed), undefined, 'no missed-backup for a run that made its snapshot')
    // The next deadline is a day later, as for any met expectation.
    h.clock.set(startedAt + 24 * H - M)
    assert.equal(h.alert(missed), undefined)
    h.stop()
  })

  it('an agent that sends no run id: same-second copy and run start still pair (whole-second fallback)', () => {
    const h = harness(ledgerConfig({ defaultGraceS: 60 }))
    h.start()
    const startedAt = T0 + 999
    h.run('snap', startedAt, 30_000, [h.copy('zfs:tank/data@auto-1', 'tank/data', T0)])
    h.ledger.runNow()
    assert.equal(expectationOf(h).state.status, 'up')
    h.clock.set(startedAt + 30 * M)
    assert.equal(h.alert(missed), undefined)
    h.stop()
  })

  it('a run that tags copies only saw an old snapshot of an asset: that asset is not backed up by it', () => {
    const h = harness(ledgerConfig({ defaultGraceS: 60 }))
    h.start()
    const startedAt = T0 + 400
    h.run('snap', startedAt, 30_000, [
      // Made an hour ago by someone else, merely listed by this run; the clock would not pair it either.
      h.copy('zfs:tank/data@manual', 'tank/data', T0 - H),
      // Created in the same second as the run start but untagged although the agent tags: not this run's product.
      h.copy('zfs:tank/data@other', 'tank/data', T0 + 200),
      h.copy('zfs:tank/other@auto-1', 'tank/other', T0, { runId: 'r1' }),
    ])
    h.ledger.runNow()
    assert.equal(expectationOf(h, 'tank/other').state.status, 'up')
    assert.notEqual(expectationOf(h).state.status, 'up', 'listing an old snapshot is not a backup')
    h.stop()
  })
})

describe('producedByClock (agents without Copy.runId)', () => {
  it('compares whole seconds on both sides', () => {
    assert.equal(producedByClock('2026-11-20T00:00:00Z', '2026-11-20T00:00:00.999Z'), true)
    assert.equal(producedByClock('2026-11-20T00:00:01Z', '2026-11-20T00:00:00.999Z'), true)
    assert.equal(producedByClock('2026-11-19T23:59:59Z', '2026-11-20T00:00:00.001Z'), false)
    assert.equal(producedByClock(null, '2026-11-20T00:00:00Z'), false)
  })
})
