import assert from 'node:assert/strict'
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { probeDirectory } from '../../collector/src/self-backup/storage-probe.ts'
import { selfBackupHarness } from '../../collector/test/self-backup/support.ts'
import { requirePlatform } from '../support/platform.ts'
import { must, sh } from '../support/zfs.ts'

/**
 * The collector's own storage probe on real mounts, created and removed by the test: is a self-backup target
 * a second copy of the collector's database, or only another directory on the same disk?
 */
const needs = { root: true, commands: ['mkfs.ext4', 'losetup', 'mount', 'umount'] }

/** An ext4 file system on a loop device over `img`, mounted at `mnt`; `undo` unmounts and detaches it. */
function loopFs(undo: (() => void)[], img: string, mnt: string): void {
  writeFileSync(img, '')
  truncateSync(img, 32 * 1024 * 1024)
  mkdirSync(mnt, { recursive: true })
  const dev = must(['losetup', '-f', '--show', img]).trim()
  let mounted = false
  undo.push(() => {
    if (mounted) {
      sh(['umount', mnt])
    }
    sh(['losetup', '-d', dev])
  })
  must(['mkfs.ext4', '-q', dev])
  must(['mount', dev, mnt])
  mounted = true
}

test("self-backup: a loop disk imaged on the collector's disk is a version; one on another fs counts", async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const suffix = Math.random().toString(36).slice(2, 8)
  const h = selfBackupHarness(
    {
      targets: [
        { dir: '@/same-disk/backups', name: 'same-disk' },
        { dir: '@/other-disk/backups', name: 'other-disk', site: 'office' },
      ],
    },
    (dir) => probeDirectory(dir, { site: 'home' }),
  )
  // Undone newest first, whatever failed, and the harness's temp directory last (it holds every mount point).
  const undo: (() => void)[] = []
  t.after(async () => {
    for (const step of undo.reverse()) {
      step()
    }
    await h.close()
  })
  // The data directory is in /tmp, on the root disk; so is the first image. The second lives on its own tmpfs.
  loopFs(undo, join(h.root, `same-${suffix}.img`), join(h.root, 'same-disk'))
  const tmpfs = join(h.root, `tmpfs-${suffix}`)
  mkdirSync(tmpfs)
  must(['mount', '-t', 'tmpfs', '-o', 'size=40M', `bk-sb-${suffix}`, tmpfs])
  undo.push(() => sh(['umount', tmpfs]))
  loopFs(undo, join(tmpfs, 'other.img'), join(h.root, 'other-disk'))

  const data = probeDirectory(h.dataDir, { site: 'home' })
  const same = probeDirectory(join(h.root, 'same-disk', 'backups'), { site: 'home' })
  const other = probeDirectory(join(h.root, 'other-disk', 'backups'), { site: 'office' })
  const ids = (s: typeof data): string[] => s.devices.map((d) => d.id)
  assert.ok(
    ids(same).some((id) => id.startsWith('loop:') && id.endsWith(`same-${suffix}.img`)),
    ids(same).join(),
  )
  assert.ok(
    ids(data).every((id) => ids(same).includes(id)),
    `the loop file's disk is the data disk: ${ids(data)} ⊆ ${ids(same)}`,
  )
  assert.ok(!ids(other).some((id) => ids(data).includes(id)), `nothing shared: ${ids(other)} vs ${ids(data)}`)

  h.service.start()
  const outcomes = await h.service.runNow()
  assert.deepEqual(
    outcomes.map((o) => [o.target, o.verified]),
    [
      ['same-disk', true],
      ['other-disk', true],
    ],
  )
  h.part.ledger.runNow()
  const asset = h.part.assets.get({ node: 'collector-test', kind: 'file-set', id: 'collector-db' })
  assert.equal(asset?.counts['versions'], 1, 'same-disk: a version of the database, not a copy')
  assert.equal(asset?.counts['copies'], 2, 'production and other-disk')
  assert.equal(asset?.counts['offsite'], 1)
  const sameDisk = asset?.places.find((p) => p.locationKey.endsWith('same-disk/backups'))
  assert.equal(sameDisk?.counted, false)
  assert.equal(sameDisk?.role, 'version')
})
