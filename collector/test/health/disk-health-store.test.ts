import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AlertCondition, DiskHealth, DiskHealthBody } from '@backstop/shared'
import { createDiskHealthStore } from '../../src/health/disk-health-store.ts'
import { openDb } from '../../src/store/db.ts'

const GB = 1e9
const day = (n: number): Date => new Date(Date.UTC(2026, 2, 1) + n * 86_400_000)
const disk = (over: Partial<DiskHealth> = {}): DiskHealth => ({
  name: '/dev/sda',
  type: 'sat',
  protocol: 'ATA',
  source: 'smartctl',
  smart: 'passed',
  serial: 'WD-1',
  rotationRpm: 7200,
  counters: { reallocatedSectors: 8, pendingSectors: 0 },
  failingAttributes: [],
  messages: [],
  ...over,
})
const body = (n: number, d: DiskHealth, usedGb = 300): DiskHealthBody => ({
  at: day(n).toISOString(),
  disks: [d],
  filesystems: [
    {
      mount: '/srv/backup',
      fs: '/dev/sda1',
      type: 'ext4',
      sizeBytes: 1000 * GB,
      usedBytes: usedGb * GB,
      backupTarget: true,
      fsUuid: 'F00D',
      diskSerials: ['WD-1'],
    },
  ],
  pools: [],
  notes: [],
})

function setup(t: { after: (fn: () => void) => void }) {
  const { db } = openDb({ file: ':memory:' })
  t.after(() => db.close())
  const raised: AlertCondition[] = []
  const store = createDiskHealthStore(db, { raise: (c) => raised.push(c) })
  return { store, raised }
}

test('a disk first seen with 8 reallocated sectors warns, degraded until acknowledged; then growth alerts', (t) => {
  const { store, raised } = setup(t)
  const r = store.applyReport('pve1', body(0, disk()), day(0))
  const warning = {
    key: 'unhealthy-device/pve1/pre-existing-damage/serial:WD-1',
    kind: 'unhealthy-device',
    severity: 'warning',
    node: 'pve1',
    summary: '/dev/sda: pre-existing damage: 8 reallocated sectors; acknowledge to baseline',
    firing: true,
  }
  assert.deepEqual(r.conditions, [warning])
  assert.deepEqual(raised, [warning])
  // The first report is recorded, not accepted: the disk's copies do not count until the operator acknowledges.
  assert.equal(store.baselines('pve1').get('serial:WD-1')?.acknowledgedAt, null)
  assert.equal(store.deviceHealth('pve1')('serial:WD-1'), 'degraded')
  assert.equal(store.deviceHealth('pve1')('fsuuid:f00d'), 'degraded')
  // The same values a day later: still a warning, never silently the baseline.
  store.applyReport('pve1', body(1, disk()), day(1))
  assert.deepEqual(raised.at(-1), warning)
  assert.deepEqual(store.acknowledge('pve1', 'serial:WD-1', 'alice', day(1))?.counters, {
    reallocatedSectors: 8,
    pendingSectors: 0,
  })
  // The acknowledgement resolves the warning at once, not at the next report.
  const resolved = { ...warning, severity: 'info', firing: false }
  assert.deepEqual(raised.at(-1), {
    ...resolved,
    summary: 'acknowledged by alice: the current counters are the baseline',
  })
  assert.equal(store.deviceHealth('pve1')('serial:WD-1'), 'ok')
  assert.equal(store.deviceHealth('pve1')('fsuuid:f00d'), 'ok')
  store.applyReport('pve1', body(2, disk()), day(2))
  assert.equal(raised.length, 3, 'the same 8 the next day: nothing new')
  // After the acknowledgement only growth beyond 8 alerts.
  store.applyReport('pve1', body(3, disk({ counters: { reallocatedSectors: 9, pendingSectors: 0 } })), day(3))
  assert.deepEqual(
    raised.slice(3).map((c) => [c.key, c.severity, c.firing, c.summary]),
    [
      [
        'unhealthy-device/pve1/counter-grew/serial:WD-1',
        'critical',
        true,
        '/dev/sda: reallocatedSectors 8→9 since the acknowledged baseline; acknowledge once understood',
      ],
    ],
  )
})

test('a disk first seen without damage raises nothing and is ok', (t) => {
  const { store, raised } = setup(t)
  store.applyReport('pve1', body(0, disk({ counters: { reallocatedSectors: 0, pendingSectors: 0 } })), day(0))
  assert.deepEqual(raised, [])
  assert.equal(store.deviceHealth('pve1')('serial:WD-1'), 'ok')
})

test('growth fires, stays until acknowledged, then resolves; the copy stops counting meanwhile', (t) => {
  const { store, raised } = setup(t)
  store.applyReport('pve1', body(0, disk()), day(0))
  store.acknowledge('pve1', 'serial:WD-1', 'alice', day(0))
  raised.length = 0
  store.applyReport('pve1', body(1, disk({ counters: { reallocatedSectors: 20, pendingSectors: 4 } })), day(1))
  assert.deepEqual(
    raised.map((c) => [c.key, c.severity, c.firing]),
    [['unhealthy-device/pve1/counter-grew/serial:WD-1', 'critical', true]],
  )
  assert.match(raised[0]!.summary, /reallocatedSectors 8→20/)
  // Degraded until acknowledged: copies on the disk or its filesystem stop counting.
  assert.equal(store.deviceHealth('pve1')('serial:WD-1'), 'degraded')
  assert.equal(store.deviceHealth('pve1')('fsuuid:f00d'), 'degraded')
  // Same values again: still news (still firing).
  store.applyReport('pve1', body(2, disk({ counters: { reallocatedSectors: 20, pendingSectors: 4 } })), day(2))
  assert.equal(raised.at(-1)!.firing, true)
  const acked = store.acknowledge('pve1', 'serial:WD-1', 'alice', day(2))
  assert.deepEqual(acked?.counters, { reallocatedSectors: 20, pendingSectors: 4 })
  const cleared = {
    key: 'unhealthy-device/pve1/counter-grew/serial:WD-1',
    kind: 'unhealthy-device',
    severity: 'info',
    node: 'pve1',
    summary: 'acknowledged by alice: the current counters are the baseline',
    firing: false,
  }
  assert.deepEqual(raised.at(-1), cleared)
  const before = raised.length
  store.applyReport('pve1', body(3, disk({ counters: { reallocatedSectors: 20, pendingSectors: 4 } })), day(3))
  assert.equal(raised.length, before, 'resolved by the acknowledgement, not again by the next report')
  assert.equal(store.deviceHealth('pve1')('serial:WD-1'), 'ok')
  assert.equal(store.acknowledge('pve1', 'serial:NOPE', 'alice', day(3)), undefined)
})

test('transient temperature clears by itself; SMART failure marks the device failed', (t) => {
  const { store, raised } = setup(t)
  const sound = { reallocatedSectors: 0, pendingSectors: 0 }
  store.applyReport('pve1', body(0, disk({ temperatureC: 57, counters: sound })), day(0))
  assert.deepEqual(
    raised.map((c) => `${c.severity} ${c.key} ${c.firing}`),
    ['warning unhealthy-device/pve1/temperature/serial:WD-1 true'],
  )
  store.applyReport('pve1', body(1, disk({ temperatureC: 41, counters: sound })), day(1))
  assert.equal(raised.at(-1)!.firing, false)
  store.applyReport('pve1', body(2, disk({ smart: 'failed', counters: sound })), day(2))
  assert.equal(raised.at(-1)!.key, 'unhealthy-device/pve1/smart-failed/serial:WD-1')
  assert.equal(store.deviceHealth('pve1')('serial:WD-1'), 'failed')
  assert.equal(store.deviceHealth('other-node')('serial:WD-1'), 'unknown')
})

test('usage samples accumulate; 7 days of fast growth forecast full within 14 days', (t) => {
  const { store, raised } = setup(t)
  for (let i = 0; i < 7; i++) {
    store.applyReport('pve1', body(i, disk(), 400 + 40 * i), day(i))
  }
  const forecast = raised.filter((c) => c.key.includes('forecast-full'))
  assert.equal(forecast.length, 1, JSON.stringify(raised))
  assert.equal(forecast[0]!.key, 'unhealthy-device/pve1/forecast-full/srv/backup')
  assert.equal(forecast[0]!.firing, true)
})

test("a change of device health asks for the node's verdicts to be recomputed; an unchanged report does not", (t) => {
  const { db } = openDb({ file: ':memory:' })
  t.after(() => db.close())
  const requeued: string[] = []
  const store = createDiskHealthStore(db, { onDeviceHealthChanged: (n) => requeued.push(n) })
  store.applyReport('pve1', body(0, disk()), day(0))
  assert.deepEqual(requeued, ['pve1'])
  store.applyReport('pve1', body(1, disk()), day(1))
  assert.deepEqual(requeued, ['pve1'])
  store.applyReport('pve1', body(2, disk({ smart: 'failed' })), day(2))
  assert.deepEqual(requeued, ['pve1', 'pve1'])
})
