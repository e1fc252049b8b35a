import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { H, harness, T0 } from './harness.ts'

/**
 * A target leg that fails while the local snapshot is taken (a backup disk gone, a host unreachable over ssh): the
 * run is `partial`, not failed, so run-failed stays quiet — and before this alert nothing told the user that their
 * replicas stopped arriving (found by the scenario "a backup disk unreachable for three daily runs, then back").
 */
const unreachable = {
  code: 'BK_ERR_REPLICATION_FAILED',
  message:
    'target backup is offline: /mnt/backup/backstop is not on a mounted btrfs filesystem; its copies are kept as ' +
    'last reported and local pruning went ahead. It is not marked offline: true — mount it or mark it as removable',
}

describe('replication-failed alert', () => {
  it('fires (warning) while partial runs report a failed target, resolves on the run that replicates again', () => {
    const h = harness()
    h.start()
    const key = 'replication-failed/pve1/docs'
    h.run('docs', T0, 60_000, [h.copy('c1', 'tank/data', T0 + 1)])
    h.ledger.runNow()
    assert.equal(h.alert(key), undefined, 'nothing raised while the target takes every snapshot')

    h.run(
      'docs',
      T0 + 24 * H,
      60_000,
      [h.copy('c2', 'tank/data', T0 + 24 * H + 1)],
      'partial',
      1,
      undefined,
      unreachable,
    )
    h.ledger.runNow()
    const a = h.alert(key)!
    assert.deepEqual([a.kind, a.state, a.severity], ['replication-failed', 'firing', 'warning'])
    assert.equal(a.summary, `job docs on pve1: ${unreachable.message}`)
    assert.equal(h.alert('run-failed/pve1/docs'), undefined, 'the local snapshot was taken: not a failed run')

    h.run('docs', T0 + 48 * H, 60_000, [h.copy('c3', 'tank/data', T0 + 48 * H + 1)], 'partial', 1, undefined, {
      code: 'BK_ERR_SSH_UNREACHABLE',
      message: 'target offsite: root@nas:22 cannot be reached: ssh: connect to host nas port 22: No route to host',
    })
    h.ledger.runNow()
    assert.equal(h.alert(key)!.state, 'firing', 'an ssh target that cannot be reached is a failed target too')
    assert.match(h.alert(key)!.summary, /No route to host/)

    h.run('docs', T0 + 72 * H, 60_000, [h.copy('c4', 'tank/data', T0 + 72 * H + 1)])
    h.ledger.runNow()
    assert.deepEqual(
      [h.alert(key)!.state, h.alert(key)!.summary],
      ['resolved', 'job docs on pve1: its targets take its snapshots again'],
    )
    h.stop()
  })
})
