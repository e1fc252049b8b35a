import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { describe, it } from 'node:test'
import { requirePlatform } from '../support/platform.ts'
import { waitFor } from '../support/wait-for.ts'
import { zfsFuseReady } from '../support/zfs.ts'
import { fleet } from './support/fleet.ts'

/**
 * Nodes that go away: a graceful restart (systemd stop/start on an upgrade) and a node that dies (kill -9). Both
 * nodes snapshot a zfs-fuse dataset every few seconds. node-down waits `nodeDownAfterS`.
 */
const needs = { root: true, commands: ['zpool', 'zfs'], checks: [zfsFuseReady] }
const keep = { keep: { last: 3, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
const DOWN_AFTER_S = 15

describe('scenarios: liveness without noise', { timeout: 180_000 }, () => {
  it('agent restarted gracefully: no node-down page; a node killed: node-down after the delay', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t, { ledger: { nodeDownAfterS: DOWN_AFTER_S, defaultPeriodS: 60, defaultGraceS: 60 } })
    /** What each node's own storage says, whatever happens to the node: see the end. */
    const standing: string[] = []
    for (const name of ['pve1', 'pve2']) {
      const n = f.node(name)
      const tank = n.zfsPool('tank')
      const ds = tank.dataset('vm-100-disk-0')
      standing.push(
        `firing warning coverage-gap/${name}/host-image/host/${hostname().split('.')[0]}`,
        `firing warning coverage-gap/${name}/zfs-dataset/${tank.pool}`,
        `firing warning non-compliant/${name}/zfs-dataset/${ds}`,
      )
      n.job({ kind: 'zfs', name: 'often', schedule: '*/5 * * * * *', datasets: [ds], retention: keep, media: 'hdd' })
      await n.start()
    }
    const offline = (node: string) =>
      waitFor(
        async () => {
          const s = await f.collector.nodeStatus(node)
          return s.status === 'offline' ? s : undefined
        },
        { what: `${node} offline`, timeoutMs: 20_000 },
      )

    // pve1: an upgrade restarts the agent.
    assert.equal(await f.node('pve1').stop(), 0)
    const stopped = await offline('pve1')
    assert.equal(stopped.statusReason, 'shutdown')
    await f.node('pve1').start()
    const back = Date.now()
    assert.ok(
      back - Date.parse(stopped.statusAt!) < DOWN_AFTER_S * 1000,
      'back within the delay, or this proves nothing',
    )

    // pve2 dies after pve1's stop: its node-down deadline comes after pve1's would have.
    await f.node('pve2').kill()
    const lost = await offline('pve2')
    assert.equal(lost.statusReason, 'lost')
    const down = await waitFor(
      async () => (await f.collector.alerts('pve2')).find((a) => a.kind === 'node-down' && a.state === 'firing'),
      { what: 'node-down for pve2', timeoutMs: (DOWN_AFTER_S + 30) * 1000 },
    )
    assert.equal(down.severity, 'critical')
    assert.equal(Date.parse(down.since) - Date.parse(lost.statusAt!), DOWN_AFTER_S * 1000, 'after the delay')
    // One page for the dead node, none for the restarted one (not even one that fired and resolved), and no
    // missed-backup for either: what else is listed is what was true before (versions only, no image, a pool
    // root in no job).
    await f.alertsAre([...standing, 'firing critical node-down/pve2'], 'pve1 restarted, pve2 killed')
  })
})
