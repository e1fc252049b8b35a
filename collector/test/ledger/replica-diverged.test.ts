import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { H, harness, T0 } from './harness.ts'

describe('replica-diverged alert', () => {
  it('fires (warning) on a run reporting BK_ERR_REPLICATION_DIVERGED; resolves on one that replicates cleanly', () => {
    const h = harness()
    h.start()
    const key = 'replica-diverged/pve1/hourly'
    h.run('hourly', T0, 60_000, [h.copy('c1', 'tank/data', T0 + 1)])
    h.ledger.runNow()
    assert.equal(h.alert(key), undefined, 'nothing raised while replicas follow')
    const diverged = {
      code: 'BK_ERR_REPLICATION_DIVERGED',
      message:
        'target nas: nas/replicas/tank/data (root@nas:22) has snapshots that tank/data does not have after their ' +
        'newest common one, or none in common (matched by guid). Nothing was received or destroyed',
    }
    h.run('hourly', T0 + H, 60_000, [h.copy('c2', 'tank/data', T0 + H + 1)], 'partial', 1, undefined, diverged)
    h.ledger.runNow()
    const a = h.alert(key)!
    assert.equal(a.state, 'firing')
    assert.equal(a.severity, 'warning')
    assert.match(a.summary, /job hourly on pve1: target nas: .*Nothing was received or destroyed/)
    assert.equal(h.alert('run-failed/pve1/hourly'), undefined, 'the local snapshot was taken: not a failed run')
    h.run('hourly', T0 + 2 * H, 60_000, [h.copy('c3', 'tank/data', T0 + 2 * H + 1)])
    h.ledger.runNow()
    assert.equal(h.alert(key)!.state, 'resolved')
    h.stop()
  })
})
