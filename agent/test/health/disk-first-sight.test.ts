import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  acknowledgeBaseline,
  classifyDisk,
  diskAlertKey,
  type DiskHealth,
  type DiskHealthBody,
  evaluateDiskHealth,
  initialBaseline,
} from '@backstop/shared'
import { parseSmartctlDevice } from '../../src/tools/smartctl.ts'

// What the collector judges from this agent's first disk.health report of a disk that arrives damaged, on real
// recorded smartctl output (fixtures/smartctl/SOURCE.md; the NVMe one is an edited copy, see README.md there).
const dir = join(import.meta.dirname, '../fixtures/smartctl')
const parse = (file: string): DiskHealth =>
  parseSmartctlDevice(readFileSync(join(dir, file), 'utf8'), { name: '/dev/sda', type: 'auto' })
const now = new Date('2026-03-01T00:00:00Z')
const report = (d: DiskHealth): DiskHealthBody => ({
  at: now.toISOString(),
  disks: [d],
  filesystems: [],
  pools: [],
  notes: [],
})
const judge = (d: DiskHealth, baselines = new Map()) =>
  evaluateDiskHealth({ report: report(d), baselines, usageHistory: new Map(), now }).map((a) => ({
    key: diskAlertKey('pve1', a),
    severity: a.severity,
    message: a.message,
  }))

const cases = [
  {
    file: 'smart-scsi.json',
    key: 'unhealthy-device/pve1/pre-existing-damage/serial:Z1Z5DWJK0000XXXXXXXX',
    message:
      '/dev/sdg (SEAGATE ST4000NM0043 Z1Z5DWJK0000XXXXXXXX): pre-existing damage: 56 grown defects; ' +
      'acknowledge to baseline',
  },
  {
    file: 'smart-nvme-media-errors.edited.json',
    key: 'unhealthy-device/pve1/pre-existing-damage/serial:BTNH93710FS91P0B',
    message:
      '/dev/testfoobarpass (INTEL SSDPEKNW010T8 BTNH93710FS91P0B): pre-existing damage: 12 NVMe media errors; ' +
      'acknowledge to baseline',
  },
]

for (const c of cases) {
  test(`${c.file}: damage on first sight warns and is degraded until acknowledged; then only growth alerts`, () => {
    const d = parse(c.file)
    assert.equal(d.smart, 'passed')
    assert.deepEqual(judge(d), [{ key: c.key, severity: 'warning', message: c.message }])
    assert.equal(classifyDisk(d, undefined), 'degraded')
    // The second report against the first-seen (unacknowledged) baseline: still the same warning.
    const first = initialBaseline(d, now)
    assert.deepEqual(judge(d, new Map([[first.diskKey, first]])), [
      { key: c.key, severity: 'warning', message: c.message },
    ])
    assert.equal(classifyDisk(d, first), 'degraded')
    const acked = acknowledgeBaseline(first, d, now)
    assert.deepEqual(judge(d, new Map([[acked.diskKey, acked]])), [])
    assert.equal(classifyDisk(d, acked), 'ok')
  })
}

test('a sound recorded disk on first sight raises nothing and is ok', () => {
  const d = parse('smart-nvme.json')
  assert.deepEqual(judge(d), [])
  assert.equal(classifyDisk(d, undefined), 'ok')
})
