import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { Copy, StorageIdentity } from '@backstop/shared'
import { REMOVABLE_MEDIA_FILE, reportDetachedMedia } from '../../src/jobs/detached-media.ts'
import type { JobStorageSpec } from '../../src/jobs/job-storage.ts'
import type { StorageHints, StorageLocator } from '../../src/storage/probe.ts'

const spec: JobStorageSpec = {
  targets: [
    { kind: 'btrfs-fs', at: '/fast/.snapshots', hints: { media: 'hdd' } },
    { kind: 'btrfs-fs', at: '/stick/backstop', hints: { media: 'usb', fsUuid: 'STICK-UUID' } },
  ],
  sourcePaths: [],
}
const stickSeen: StorageIdentity = {
  host: 'nas1',
  site: 'home',
  devices: [{ id: 'serial:USB-SN-1', transport: 'usb', removable: true }],
  fsUuid: 'STICK-UUID',
  media: 'usb',
  attached: true,
  protections: ['btrfs-readonly'],
}
const copy = (id: string, target: string, storage?: StorageIdentity, runId?: string): Copy => ({
  copyId: `btrfs:${id}`,
  asset: { kind: 'btrfs-subvolume', id: '/fast/documents' },
  location: { kind: 'btrfs-fs', target },
  name: id,
  media: 'usb',
  offsite: false,
  offline: false,
  immutable: true,
  createdAt: '2026-02-01T10:00:00.000Z',
  verification: { state: 'verified', at: '2026-02-01T10:00:05.000Z', method: 'btrfs-received-uuid' },
  ...(storage ? { storage } : {}),
  ...(runId ? { runId } : {}),
})
const local = copy('documents.20260201T100000Z', '/fast', { ...stickSeen, media: 'hdd', attached: undefined })
const onStick = copy('documents.20260201T100000Z@stick', '/stick', stickSeen, 'run-1')

/** A prober that answers what the stick's mountpoint holds now, and counts the probes. */
function prober(answer: Partial<StorageIdentity> | null) {
  const asked: [StorageLocator, StorageHints][] = []
  return {
    asked,
    probe: async (at: StorageLocator, hints: StorageHints = {}) => {
      asked.push([at, hints])
      if (answer === null) {
        throw new Error('findmnt failed')
      }
      return { storage: { host: 'nas1', site: 'home', devices: [], media: 'usb' as const, ...answer }, warnings: [] }
    },
  }
}

function stateDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'bk-detached-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

describe('copies on a removable target that is not attached are re-reported as detached', () => {
  it('the stick pulled out: its copies come back as last seen, attached false, without the run id', async (t) => {
    const dir = stateDir(t)
    const first = await reportDetachedMedia([local, onStick], spec, prober(null), dir)
    assert.deepEqual(first, { copies: [], warnings: [] }, 'attached: nothing to add')
    const remembered = JSON.parse(readFileSync(join(dir, REMOVABLE_MEDIA_FILE), 'utf8'))
    assert.deepEqual(Object.keys(remembered), ['btrfs-fs:/stick/backstop'])

    const away = prober({ fsUuid: 'STICK-UUID', attached: false })
    const second = await reportDetachedMedia([local], spec, away, dir)
    assert.deepEqual(away.asked, [[{ kind: 'path', path: '/stick/backstop' }, spec.targets[1]!.hints]])
    const { runId: _made, ...lastSeen } = onStick
    assert.deepEqual(second.copies, [{ ...lastSeen, storage: { ...stickSeen, attached: false } }])
    assert.deepEqual(second.warnings, [
      '/stick/backstop: the removable medium STICK-UUID is not attached; ' +
        'its 1 copies are reported as last seen, detached',
    ])
  })

  it('another filesystem (or none) where the stick was mounted means it is gone too', async (t) => {
    const dir = stateDir(t)
    await reportDetachedMedia([local, onStick], spec, prober(null), dir)
    const root = await reportDetachedMedia([local], spec, prober({ fsUuid: 'ROOT-UUID', media: 'hdd' }), dir)
    assert.equal(root.copies.length, 1)
    assert.equal(root.copies[0]!.storage?.attached, false)
  })

  it('the stick is there but the run reported nothing on it: nothing is claimed', async (t) => {
    const dir = stateDir(t)
    await reportDetachedMedia([local, onStick], spec, prober(null), dir)
    const present = await reportDetachedMedia([local], spec, prober({ fsUuid: 'STICK-UUID', attached: true }), dir)
    assert.deepEqual(present, { copies: [], warnings: [] })
    const unknown = await reportDetachedMedia([local], spec, prober(null), dir)
    assert.deepEqual(unknown, { copies: [], warnings: [] }, 'a probe that fails proves nothing')
  })

  it('a target never seen attached (or not removable) is never probed', async (t) => {
    const dir = stateDir(t)
    const p = prober({ attached: false })
    const fixed = copy('documents@nas', '/stick', { ...stickSeen, attached: undefined, media: 'hdd' })
    assert.deepEqual(await reportDetachedMedia([local, fixed], spec, p, dir), { copies: [], warnings: [] })
    assert.deepEqual(await reportDetachedMedia([local], spec, p, dir), { copies: [], warnings: [] })
    assert.deepEqual(p.asked, [])
  })
})
