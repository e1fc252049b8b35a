import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  classifyDisk,
  deviceHealthMap,
  deviceKeyOfLocation,
  diskAlertKey,
  type DiskBaseline,
  type DiskHealth,
  type DiskHealthBody,
  evaluateDiskHealth,
  type FsUsage,
  initialBaseline,
  nvmeWarningBits,
  acknowledgeBaseline,
  type UsagePoint,
} from '../../src/index.ts'

const now = new Date('2026-03-01T00:00:00Z')
const GB = 1e9
const disk = (over: Partial<DiskHealth> = {}): DiskHealth => ({
  name: '/dev/sda',
  type: 'sat',
  protocol: 'ATA',
  source: 'smartctl',
  smart: 'passed',
  serial: 'S1',
  rotationRpm: 7200,
  counters: { reallocatedSectors: 0, pendingSectors: 0 },
  failingAttributes: [],
  messages: [],
  ...over,
})
const fs = (over: Partial<FsUsage> = {}): FsUsage => ({
  mount: '/backup',
  fs: '/dev/sdb1',
  type: 'ext4',
  sizeBytes: 1000 * GB,
  usedBytes: 100 * GB,
  backupTarget: true,
  ...over,
})
const report = (over: Partial<DiskHealthBody> = {}): DiskHealthBody => ({
  at: now.toISOString(),
  disks: [],
  filesystems: [],
  pools: [],
  notes: [],
  ...over,
})
/** The operator acknowledged `d`'s counters as its baseline. */
const baselineOf = (d: DiskHealth): Map<string, DiskBaseline> =>
  new Map([[`serial:${d.serial}`, acknowledgeBaseline(initialBaseline(d, now), d, now)]])
/** `d` was seen first and nobody acknowledged it yet. */
const firstSeen = (d: DiskHealth): Map<string, DiskBaseline> =>
  new Map([[`serial:${d.serial}`, initialBaseline(d, now)]])
const growth = (n: number, perDay: number, start: number): UsagePoint[] =>
  Array.from({ length: n }, (_, i) => ({
    at: new Date(now.getTime() - (n - 1 - i) * 86_400_000).toISOString(),
    usedBytes: (start + perDay * i) * GB,
    sizeBytes: 1000 * GB,
  }))

const cases: {
  name: string
  report: DiskHealthBody
  baselines?: Map<string, DiskBaseline>
  history?: Map<string, UsagePoint[]>
  expect: string[]
}[] = [
  { name: 'healthy disk, roomy target: nothing', report: report({ disks: [disk()], filesystems: [fs()] }), expect: [] },
  {
    name: 'SMART failed',
    report: report({ disks: [disk({ smart: 'failed' })] }),
    expect: ['critical disk.smart-failed:serial:S1'],
  },
  {
    name: 'attribute failing now',
    report: report({ disks: [disk({ failingAttributes: ['5 Reallocated_Sector_Ct'] })] }),
    expect: ['critical disk.attribute-failing:serial:S1'],
  },
  {
    name: 'reallocated sectors grew since the acknowledged baseline: critical',
    report: report({ disks: [disk({ counters: { reallocatedSectors: 24, pendingSectors: 0 } })] }),
    baselines: baselineOf(disk({ counters: { reallocatedSectors: 8, pendingSectors: 0 } })),
    expect: ['critical disk.counter-grew:serial:S1'],
  },
  {
    name: 'old reallocated sectors at the acknowledged baseline: not news',
    report: report({ disks: [disk({ counters: { reallocatedSectors: 8 } })] }),
    baselines: baselineOf(disk({ counters: { reallocatedSectors: 8 } })),
    expect: [],
  },
  {
    name: 'disk seen for the first time with 8 reallocated sectors: pre-existing damage warning',
    report: report({ disks: [disk({ counters: { reallocatedSectors: 8, pendingSectors: 0 } })] }),
    expect: ['warning disk.pre-existing-damage:serial:S1'],
  },
  {
    name: 'first seen with 8, not acknowledged yet: still a warning',
    report: report({ disks: [disk({ counters: { reallocatedSectors: 8 } })] }),
    baselines: firstSeen(disk({ counters: { reallocatedSectors: 8 } })),
    expect: ['warning disk.pre-existing-damage:serial:S1'],
  },
  {
    name: 'first seen with 8, grew to 24 before acknowledgement: growth critical, the old 8 still a warning',
    report: report({ disks: [disk({ counters: { reallocatedSectors: 24 } })] }),
    baselines: firstSeen(disk({ counters: { reallocatedSectors: 8 } })),
    expect: ['critical disk.counter-grew:serial:S1', 'warning disk.pre-existing-damage:serial:S1'],
  },
  {
    name: 'first seen with CRC errors only (cable/bridge): not damage, nothing',
    report: report({ disks: [disk({ counters: { crcErrors: 7 } })] }),
    expect: [],
  },
  {
    name: 'only CRC errors grew (cable/bridge): warning',
    report: report({ disks: [disk({ counters: { crcErrors: 5 } })] }),
    baselines: baselineOf(disk({ counters: { crcErrors: 1 } })),
    expect: ['warning disk.counter-grew:serial:S1'],
  },
  {
    name: 'HDD at 52 °C: warning',
    report: report({ disks: [disk({ temperatureC: 52 })] }),
    expect: ['warning disk.temperature:serial:S1'],
  },
  {
    name: 'HDD at 61 °C: critical',
    report: report({ disks: [disk({ temperatureC: 61 })] }),
    expect: ['critical disk.temperature:serial:S1'],
  },
  { name: 'SSD at 52 °C: fine', report: report({ disks: [disk({ rotationRpm: 0, temperatureC: 52 })] }), expect: [] },
  {
    name: 'device trip point lower than the default: critical at the trip',
    report: report({ disks: [disk({ temperatureC: 56, temperatureLimitC: 55 })] }),
    expect: ['critical disk.temperature:serial:S1'],
  },
  {
    name: 'NVMe critical warning, low spare, worn',
    report: report({
      disks: [
        disk({
          protocol: 'NVMe',
          rotationRpm: undefined,
          nvme: { criticalWarning: 0x04, percentageUsed: 95, availableSpare: 5, availableSpareThreshold: 10 },
        }),
      ],
    }),
    expect: [
      'critical disk.nvme-critical-warning:serial:S1',
      'critical disk.nvme-spare-low:serial:S1',
      'warning disk.nvme-worn:serial:S1',
    ],
  },
  {
    name: '80 % full: warning',
    report: report({ filesystems: [fs({ usedBytes: 800 * GB })] }),
    expect: ['warning disk.capacity:/backup'],
  },
  {
    name: '95 % full: critical',
    report: report({ filesystems: [fs({ usedBytes: 960 * GB })] }),
    expect: ['critical disk.capacity:/backup'],
  },
  {
    name: 'backup target growing 40 GB/day from 500 GB: full within 14 days',
    report: report({ filesystems: [fs({ usedBytes: 740 * GB })] }),
    history: new Map([['/backup', growth(7, 40, 500)]]),
    expect: ['warning disk.forecast-full:/backup'],
  },
  {
    name: 'same growth on a mount that is not a backup target: no forecast alert',
    report: report({ filesystems: [fs({ usedBytes: 740 * GB, backupTarget: false })] }),
    history: new Map([['/backup', growth(7, 40, 500)]]),
    expect: [],
  },
  {
    name: 'slow growth: full in months, no alert',
    report: report({ filesystems: [fs({ usedBytes: 506 * GB })] }),
    history: new Map([['/backup', growth(7, 1, 500)]]),
    expect: [],
  },
  {
    name: 'pool DEGRADED warns, FAULTED is critical, errors warn',
    report: report({
      pools: [
        { kind: 'zfs', name: 'tank', state: 'DEGRADED', errors: 0 },
        { kind: 'zfs', name: 'usb', state: 'FAULTED', errors: 3 },
        { kind: 'btrfs', name: '/mnt/b', state: 'ONLINE', errors: 0 },
      ],
    }),
    expect: [
      'warning disk.pool-degraded:zfs:tank',
      'critical disk.pool-degraded:zfs:usb',
      'warning disk.pool-errors:zfs:usb',
    ],
  },
]

for (const c of cases) {
  test(`evaluateDiskHealth: ${c.name}`, () => {
    const alerts = evaluateDiskHealth({
      report: c.report,
      baselines: c.baselines ?? new Map(),
      usageHistory: c.history ?? new Map(),
      now,
    })
    assert.deepEqual(
      alerts.map((a) => `${a.severity} disk.${a.rule}:${a.subject}`),
      c.expect,
    )
    for (const a of alerts) {
      assert.ok(a.message.length > 10)
    }
  })
}

test('nvmeWarningBits names the spec bits', () => {
  assert.deepEqual(nvmeWarningBits(0x09), ['spare below threshold', 'read-only'])
})

test('classifyDisk: failed, degraded until acknowledged, ok, unknown', () => {
  const base = initialBaseline(disk({ counters: { pendingSectors: 0 } }), now)
  assert.equal(classifyDisk(disk({ smart: 'failed' }), base), 'failed')
  assert.equal(
    classifyDisk(
      disk({
        protocol: 'NVMe',
        nvme: { criticalWarning: 0x08, percentageUsed: 1, availableSpare: 100, availableSpareThreshold: 10 },
      }),
      base,
    ),
    'failed',
  )
  assert.equal(classifyDisk(disk({ counters: { pendingSectors: 3 } }), base), 'degraded')
  assert.equal(classifyDisk(disk({ counters: { crcErrors: 3 } }), base), 'ok')
  assert.equal(classifyDisk(disk(), base), 'ok')
  assert.equal(classifyDisk(disk({ smart: 'unknown' }), undefined), 'unknown')
})

test('classifyDisk: damage on first sight degraded until acknowledged, then ok; growth after it degraded', () => {
  const damaged = disk({ counters: { reallocatedSectors: 8, pendingSectors: 2 } })
  assert.equal(classifyDisk(damaged, undefined), 'degraded')
  const first = initialBaseline(damaged, now)
  assert.equal(classifyDisk(damaged, first), 'degraded')
  const acked = acknowledgeBaseline(first, damaged, now)
  assert.equal(classifyDisk(damaged, acked), 'ok')
  assert.equal(classifyDisk(disk({ counters: { reallocatedSectors: 9, pendingSectors: 2 } }), acked), 'degraded')
  const [alert] = evaluateDiskHealth({
    report: report({ disks: [damaged] }),
    baselines: new Map(),
    usageHistory: new Map(),
    now,
  })
  assert.deepEqual(alert, {
    rule: 'pre-existing-damage',
    severity: 'warning',
    subject: 'serial:S1',
    message: '/dev/sda: pre-existing damage: 8 reallocated sectors, 2 pending sectors; acknowledge to baseline',
  })
})

test('a copy on a failing disk or on a filesystem over it maps to failed; other copies do not', () => {
  const r = report({
    disks: [disk({ serial: 'BAD', smart: 'failed' }), disk({ name: '/dev/sdb', serial: 'GOOD' })],
    filesystems: [
      fs({ fsUuid: 'AAAA-1111', diskSerials: ['BAD'] }),
      fs({ mount: '/b2', fsUuid: 'bbbb', diskSerials: ['GOOD'] }),
      fs({ mount: '/tank', fs: 'tank/backups', type: 'zfs', fsUuid: 'cccc' }),
    ],
    pools: [{ kind: 'zfs', name: 'tank', state: 'DEGRADED', errors: 0 }],
  })
  const map = deviceHealthMap(r, new Map())
  const health = (loc: Parameters<typeof deviceKeyOfLocation>[0]): string => {
    const key = deviceKeyOfLocation(loc)
    return key === undefined ? 'no key' : (map.get(key) ?? 'unknown')
  }
  assert.equal(health({ kind: 'usb', target: '/media/usb', device: { serial: 'BAD' } }), 'failed')
  assert.equal(
    health({ kind: 'usb', target: '/media/usb', device: { fsUuid: 'aaaa-1111', label: 'REAR-000' } }),
    'failed',
  )
  assert.equal(health({ kind: 'dir', target: '/b2', device: { fsUuid: 'BBBB' } }), 'ok')
  assert.equal(health({ kind: 'zfs-pool', target: 'tank', device: { fsUuid: 'cccc' } }), 'degraded')
  assert.equal(health({ kind: 'dir', target: '/x' }), 'no key')
})

test('disk alerts are keyed like every alert: unhealthy-device/<node>/<rule>/<subject>, safe as a topic level', () => {
  const cases: Array<[Parameters<typeof diskAlertKey>[1], string]> = [
    [{ rule: 'smart-failed', subject: 'serial:S1' }, 'unhealthy-device/pve1/smart-failed/serial:S1'],
    [{ rule: 'capacity', subject: '/mnt/backup' }, 'unhealthy-device/pve1/capacity/mnt/backup'],
    [{ rule: 'capacity', subject: '/' }, 'unhealthy-device/pve1/capacity'],
    [{ rule: 'pool-errors', subject: 'zfs:tank #1+x' }, 'unhealthy-device/pve1/pool-errors/zfs:tank__1_x'],
  ]
  for (const [alert, key] of cases) {
    assert.equal(diskAlertKey('pve1', alert), key)
  }
})
