import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseAgentConfig } from '../../agent/src/config/load.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { collectInventory } from '../../agent/src/inventory/collect-inventory.ts'
import { buildJobs } from '../../agent/src/jobs/build-jobs.ts'
import { requirePlatform } from '../support/platform.ts'
import { btrfsReady, createTestBtrfs } from '../support/btrfs.ts'
import { createTestPool, must, zfsFuseReady } from '../support/zfs.ts'
import { silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

test('inventory on real btrfs and zfs-fuse: subvolumes and datasets with covering jobs, no snapshots', async (t) => {
  if (!requirePlatform(t, { root: true, checks: [btrfsReady, zfsFuseReady] })) {
    return
  }
  const fs = createTestBtrfs(t, 'inv')
  const home = join(fs.mnt, 'home')
  const scratch = join(fs.mnt, 'scratch')
  must(['btrfs', 'subvolume', 'create', home])
  must(['btrfs', 'subvolume', 'create', scratch])
  must(['mkdir', join(fs.mnt, 'snaps')])
  must(['btrfs', 'subvolume', 'snapshot', '-r', home, join(fs.mnt, 'snaps', 'home@manual')])
  const { pool } = createTestPool(t, 'inv')
  must(['zfs', 'create', `${pool}/data`])
  must(['zfs', 'create', `${pool}/data/vm`])
  must(['zfs', 'create', `${pool}/tmp`])
  const config = parseAgentConfig(
    `
node: inv1
role: server
collector: { url: mqtt://127.0.0.1:1883 }
jobs:
  - { kind: btrfs, name: home, schedule: "0 * * * *", subvolumes: [${home}], snapshotDir: ${join(fs.mnt, 'snaps')},
      retention: { keep: { last: 2 } }, media: ssd }
  - { kind: zfs, name: data, schedule: "0 * * * *", datasets: [{ name: ${pool}/data, recursive: true }],
      retention: { keep: { last: 2 } }, media: ssd }
`,
    'inline.yaml',
    { hostname: 'inv1' },
  )
  const log = silentLog
  const body = await collectInventory({
    exec: new NodeExec({ log }),
    clock: new TestClock(new Date('2026-11-20T00:00:00Z')),
    log,
    node: 'inv1',
    host: 'inv1',
    stateDir: fs.mnt,
    role: config.role,
    configs: config.jobs,
    jobs: buildJobs(config.jobs),
    signal: new AbortController().signal,
  })
  const mine = Object.fromEntries(
    body.assets
      .filter((a) => a.asset.id.startsWith(fs.mnt) || a.asset.id.startsWith(pool) || a.asset.kind === 'host-image')
      .map((a) => [`${a.asset.kind} ${a.asset.id}`, a.coveredBy]),
  )
  assert.deepEqual(mine, {
    [`btrfs-subvolume ${home}`]: ['home'],
    [`btrfs-subvolume ${scratch}`]: [],
    [`zfs-dataset ${pool}`]: [],
    [`zfs-dataset ${pool}/data`]: ['data'],
    [`zfs-dataset ${pool}/data/vm`]: ['data'],
    [`zfs-dataset ${pool}/tmp`]: [],
    'host-image host/inv1': [],
  })
  assert.equal(body.role, 'server')
  assert.ok(
    body.mounts?.some((m) => m.target === fs.mnt && m.fstype === 'btrfs'),
    JSON.stringify(body.mounts),
  )
  // FSTYPE comes from udev, absent in containers; the mount point lsblk reads from the kernel.
  assert.ok(
    body.blockDevices?.some((d) => `/dev/${d.name}` === fs.dev && d.mountpoint === fs.mnt),
    JSON.stringify(body.blockDevices),
  )
})
