import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkBody, type AlertCondition, type DiskHealthBody, type Envelope } from '@backstop/shared'
import { createDiskHealthStore } from '../../src/health/disk-health-store.ts'
import { applyMessage } from '../../src/ingest/index.ts'
import type { HandlerContext, Incoming } from '../../src/ingest/types.ts'
import { createAssetsRepo } from '../../src/store/assets-repo.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { openDb } from '../../src/store/db.ts'
import { createEventsRepo } from '../../src/store/events-repo.ts'
import { createLedgerChangesRepo } from '../../src/store/ledger-changes-repo.ts'
import { createNodesRepo } from '../../src/store/nodes-repo.ts'
import { createRunsRepo } from '../../src/store/runs-repo.ts'

const body: DiskHealthBody = {
  at: '2026-11-22T03:00:00.000Z',
  disks: [
    {
      name: '/dev/sda',
      type: 'sat',
      protocol: 'ATA',
      source: 'smartctl',
      smart: 'failed',
      serial: 'S1',
      counters: { reallocatedSectors: 3 },
      failingAttributes: [],
      messages: [],
    },
  ],
  filesystems: [
    {
      mount: '/srv/backup',
      fs: '/dev/sda1',
      type: 'ext4',
      sizeBytes: 100,
      usedBytes: 97,
      backupTarget: true,
      fsUuid: 'ABCD',
      diskSerials: ['S1'],
    },
  ],
  pools: [],
  notes: [],
}

test('disk.health goes through the one dispatcher: stored once, judged, replay is a duplicate', (t) => {
  const { db } = openDb({ file: ':memory:' })
  t.after(() => db.close())
  const raised: AlertCondition[] = []
  const diskHealth = createDiskHealthStore(db, { raise: (c) => raised.push(c) })
  const ctx: HandlerContext = {
    store: {
      nodes: createNodesRepo(db),
      events: createEventsRepo(db),
      runs: createRunsRepo(db),
      copies: createCopiesRepo(db),
      assets: createAssetsRepo(db),
      diskHealth,
      commands: { recordResult: () => false },
    },
    collectorPublicKey: 'x',
    pinAfterCommit: () => {},
    changes: createLedgerChangesRepo(db),
  }
  const env = {
    v: 1,
    kind: 'disk.health',
    node: 'pve1',
    msgId: 'm1',
    seq: 7,
    ts: body.at,
    body,
    sig: 'AAAA',
  } as Envelope<'disk.health'>
  checkBody(env)
  const msg: Incoming = { env, raw: JSON.stringify(env), receivedAt: Date.parse('2026-11-22T03:00:01.000Z') }
  assert.deepEqual(applyMessage(msg, ctx), { stored: true })
  assert.deepEqual(applyMessage(msg, ctx), { stored: false })
  assert.deepEqual(raised.map((c) => `${c.severity} ${c.key}`).sort(), [
    'critical unhealthy-device/pve1/capacity/srv/backup',
    'critical unhealthy-device/pve1/smart-failed/serial:S1',
    // First sight of 3 reallocated sectors: news until acknowledged, never silently the baseline.
    'warning unhealthy-device/pve1/pre-existing-damage/serial:S1',
  ])
  assert.equal(diskHealth.deviceHealth('pve1')('fsuuid:abcd'), 'failed')
  assert.throws(
    () => checkBody({ ...env, body: { ...body, disks: [{ ...body.disks[0]!, smart: 'meh' }] } } as unknown as Envelope),
    /BK_ERR_WIRE_SCHEMA|schema/,
  )
})
