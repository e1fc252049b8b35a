import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { Copy, JobFinishedBody } from '@backstop/shared'
import type { Job } from '../../src/jobs/job.ts'
import { runJob, type JobEventSink } from '../../src/jobs/run-job.ts'
import {
  finishedWithStorage,
  fitStorageToWire,
  storageSpecOf,
  type JobStorageSpec,
} from '../../src/jobs/job-storage.ts'
import { StorageProber } from '../../src/storage/probe.ts'
import { memoryLog } from '../exec/memory-log.ts'
import { FakeClock } from '../scheduler/fake-clock.ts'
import { R, recorded } from './recorded.ts'

test('job.finished carries each copy`s probed storage and the live data`s storage as sources', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bk-runjob-storage-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const copy: Copy = {
    copyId: 'zfs:bkh7pb/bkh7pa/data@s1',
    asset: { kind: 'zfs-dataset', id: 'bkh7pa/data' },
    location: { kind: 'zfs-pool', target: 'bkh7pb' },
    name: 'bkh7pb/bkh7pa/data@s1',
    media: 'hdd',
    offsite: true,
    offline: false,
    immutable: true,
    createdAt: '2026-02-01T10:00:00.000Z',
    verification: { state: 'verified' },
  }
  const job: Job = {
    name: 'tank',
    kind: 'zfs',
    run: async () => ({ status: 'success', copies: [copy], deleted: [], warnings: [] }),
  }
  const spec = storageSpecOf({
    kind: 'zfs',
    name: 'tank',
    schedule: null,
    catchUp: true,
    timeoutMs: 60_000,
    datasets: [{ name: 'bkh7pa/data', recursive: false }],
    prefix: 'backstop',
    retention: { keepLast: 1 } as never,
    media: 'hdd',
    offsite: false,
    offline: false,
    targets: [
      {
        name: 'pb',
        dataset: 'bkh7pb',
        retention: { keepLast: 1 } as never,
        media: 'hdd',
        offsite: true,
        offline: false,
        site: 'shed',
        prunes: true,
        bandwidth: null,
        compress: false,
        raw: false,
      },
    ],
  })
  const finished: JobFinishedBody[] = []
  const events = {
    emit: async (kind: string, body: unknown) => {
      if (kind === 'job.finished') {
        finished.push(body as JobFinishedBody)
      }
    },
  } as JobEventSink
  await runJob(
    { job, trigger: 'manual', timeoutMs: 60_000, storage: spec },
    {
      node: 'h1',
      site: 'home',
      exec: recorded(),
      clock: new FakeClock('2026-02-01T10:00:00Z'),
      log: memoryLog().log,
      events,
      stateDir: dir,
    },
  )
  const body = finished[0]!
  assert.equal(body.status, 'success', JSON.stringify(body.error))
  assert.deepEqual(body.copies[0]!.storage, {
    host: 'h1',
    site: 'shed',
    devices: [
      { id: `file:254:0:${R}/a/p2.img`, transport: 'loop' },
      { id: 'dev:h1:vda', transport: 'virtio', rotational: true, removable: false },
    ],
    fsUuid: '14777705487679150003',
    media: 'hdd',
    protections: ['zfs-hold'],
  })
  assert.deepEqual(
    body.sources?.map((s) => [s.asset.id, s.storage.site, s.storage.devices.map((d) => d.id)]),
    [['bkh7pa/data', 'home', [`file:254:0:${R}/a/p1.img`, 'dev:h1:vda']]],
  )
})

test('a job.finished drained from the vzdump hook spool gets the same storage and keeps its own warnings', async () => {
  const body: JobFinishedBody = {
    runId: '6f1c2b1e-6a47-4b8e-9a64-3c1f3f1d2a10',
    job: 'guests',
    jobKind: 'vzdump',
    startedAt: '2026-02-01T10:00:00.000Z',
    finishedAt: '2026-02-01T10:05:00.000Z',
    status: 'success',
    copies: [
      {
        copyId: `vzdump:${R}/bm/data/vzdump-qemu-101.vma.zst`,
        asset: { kind: 'vm', id: 'vm/101' },
        location: { kind: 'dir', target: `${R}/bm/data` },
        name: 'vzdump-qemu-101.vma.zst',
        media: 'hdd',
        offsite: false,
        offline: false,
        immutable: false,
        createdAt: '2026-02-01T10:04:00.000Z',
        verification: { state: 'unverified' },
      },
    ],
    deleted: [],
    warnings: ['from the hook'],
  }
  const spec: JobStorageSpec = { targets: [{ kind: 'dir', at: `${R}/bm/data`, hints: {} }], sourcePaths: [] }
  const out = await finishedWithStorage(body, spec, new StorageProber(recorded(), 'h1', 'home'))
  assert.deepEqual(
    out.copies[0]!.storage?.devices.map((d) => d.id),
    [`loop:254:0:${R}/b.img`, 'dev:h1:vda'],
  )
  assert.deepEqual(out.warnings, ['from the hook'])
  assert.equal(out.sources, undefined, 'a guest`s live data is on its PVE storage, which the agent does not probe yet')
})

test('a run listing thousands of snapshots stays under the 1 MiB message limit: storage once per location', () => {
  const storage = {
    host: 'pve1',
    site: 'home',
    devices: [
      { id: 'wwn:0x5000c500a1b2c3d4', transport: 'sata' as const, rotational: true, removable: false },
      { id: 'wwn:0x5000c500a1b2c3d5', transport: 'sata' as const, rotational: true, removable: false },
    ],
    fsUuid: '14777705487679150003',
    media: 'hdd' as const,
    protections: ['zfs-hold' as const],
  }
  const copies: Copy[] = Array.from({ length: 2000 }, (_, i) => ({
    copyId: `zfs:${i % 2 ? 'tank' : 'usb'}/data@backstop_2026-01-01T00:${String(i).padStart(4, '0')}`,
    asset: { kind: 'zfs-dataset', id: 'tank/data' },
    location: { kind: 'zfs-pool', target: i % 2 ? 'tank' : 'usb' },
    name: `${i % 2 ? 'tank' : 'usb'}/data@backstop_2026-01-01T00:${String(i).padStart(4, '0')}`,
    media: 'hdd',
    offsite: false,
    offline: false,
    immutable: false,
    createdAt: '2026-01-01T00:00:00.000Z',
    verification: { state: 'verified' },
    storage,
  }))
  const body: JobFinishedBody = {
    runId: '6f1c2b1e-6a47-4b8e-9a64-3c1f3f1d2a10',
    job: 'tank',
    jobKind: 'zfs',
    startedAt: '2026-02-01T10:00:00.000Z',
    finishedAt: '2026-02-01T10:05:00.000Z',
    status: 'success',
    copies,
    deleted: [],
    warnings: [],
  }
  assert.ok(Buffer.byteLength(JSON.stringify(body)) > 1024 * 1024, 'the test body is over the limit with storage')
  const fitted = fitStorageToWire(body)
  assert.ok(Buffer.byteLength(JSON.stringify(fitted)) < 1024 * 1024 - 64 * 1024)
  assert.deepEqual(
    fitted.copies.filter((c) => c.storage).map((c) => c.location.target),
    ['usb', 'tank'],
  )
  assert.deepEqual(fitted.warnings, [
    'storage omitted on 1998 of 2000 copies to fit the message size limit; ' +
      "each location's storage is on its first copy",
  ])
  assert.equal(fitStorageToWire(fitted), fitted, 'a body that fits is returned as it is')
})
