import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { describe, it } from 'node:test'
import { requirePlatform } from '../support/platform.ts'
import { zfsFuseReady } from '../support/zfs.ts'
import { waitFor } from '../support/wait-for.ts'
import { fleet, recordedTool } from './support/fleet.ts'

/**
 * What `zfs` prints when zfs-fuse is installed but its daemon is not running (recorded on the CI machine). The
 * daemon is shared by every test on the machine, so the scenario cannot stop it: the node's agent gets a `zfs` on
 * its PATH that answers exactly that; everything else (the pool, the collector, lsblk, findmnt) is real.
 */
const ZFS_FUSE_STOPPED = [
  'connect: No such file or directory',
  'Please make sure that the zfs-fuse daemon is running.',
  'internal error: failed to initialize ZFS library',
]

describe('scenarios: coverage when a tool fails', { timeout: 180_000 }, () => {
  it('zfs-fuse stopped: datasets unknown, not gone, and the missing bare-metal image still raised', async (t) => {
    if (!requirePlatform(t, { root: true, commands: ['zpool', 'zfs', 'sh'], checks: [zfsFuseReady] })) {
      return
    }
    const f = await fleet(t)
    const pve1 = f.node('pve1')
    const tank = pve1.zfsPool('tank')
    const data = tank.dataset('data')
    const realPath = process.env['PATH'] ?? '/usr/bin:/bin'
    const stopped = recordedTool(f.dir, 'zfs', [...ZFS_FUSE_STOPPED.map((l) => `echo '${l}' >&2`), 'exit 1'].join('\n'))
    const noImage = `firing warning coverage-gap/pve1/host-image/host/${hostname().split('.')[0]}`

    // The daemon starts with zfs not answering: its inventory is still sent, so the gap it can see is raised.
    pve1.configure({}, { PATH: stopped })
    await pve1.start()
    await f.alertsAre([noImage], 'zfs-fuse stopped', 60_000)
    const unknown = await f.collector.coverage('pve1')
    assert.deepEqual(
      unknown.incomplete.map((i) => i.part),
      ['zfs-dataset'],
    )
    assert.match(unknown.incomplete[0]!.reason, /failed to initialize ZFS library/)
    assert.equal(
      unknown.assets.find((a) => a.id === data),
      undefined,
      'no dataset was seen',
    )

    // zfs-fuse back, the agent restarted: the datasets nobody backs up are gaps, and nothing is unknown any more.
    assert.equal(await pve1.stop(), 0)
    pve1.configure({}, { PATH: realPath })
    await pve1.start()
    const gaps = [tank.pool, data].map((id) => `firing warning coverage-gap/pve1/zfs-dataset/${id}`)
    await f.alertsAre([noImage, ...gaps], 'zfs-fuse back', 60_000)
    const known = await waitFor(
      async () => {
        const c = await f.collector.coverage('pve1')
        return c.incomplete.length === 0 && c
      },
      { what: 'a complete inventory' },
    )
    assert.equal(known.assets.find((a) => a.id === data)?.status, 'gap')
  })
})
