import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { H, harness, T0 } from './harness.ts'

describe('immutability-lost alert', () => {
  it('fires (critical) while runs report BK_ERR_IMMUTABILITY_LOST, resolves on the first run without it', () => {
    const h = harness()
    h.start()
    const key = 'immutability-lost/pve1/offsite'
    h.run('offsite', T0, 60_000, [h.copy('c1', 'tank/data', T0 + 1)])
    h.ledger.runNow()
    assert.equal(h.alert(key), undefined, 'nothing raised while the proof holds')
    const lost = {
      code: 'BK_ERR_IMMUTABILITY_LOST',
      message: 'rest:http://nas:8000/: DELETE … was accepted (404); it was last proven append-only at …',
    }
    h.run('offsite', T0 + 24 * H, 60_000, [h.copy('c2', 'tank/data', T0 + 24 * H + 1)], 'partial', 1, undefined, lost)
    h.ledger.runNow()
    const a = h.alert(key)!
    assert.equal(a.state, 'firing')
    assert.equal(a.severity, 'critical')
    assert.match(a.summary, /job offsite on pve1: .*accepted \(404\)/)
    assert.equal(h.alert('run-failed/pve1/offsite'), undefined, 'partial is not a failed run')
    h.run('offsite', T0 + 48 * H, 60_000, [h.copy('c3', 'tank/data', T0 + 48 * H + 1)], 'partial', 1, undefined, lost)
    h.ledger.runNow()
    assert.equal(h.alert(key)!.state, 'firing')
    h.run('offsite', T0 + 72 * H, 60_000, [h.copy('c4', 'tank/data', T0 + 72 * H + 1)])
    h.ledger.runNow()
    assert.equal(h.alert(key)!.state, 'resolved')
    h.stop()
  })
})
