import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { Compile } from 'typebox/compile'
import { DiskHealth } from '@backstop/shared'
import {
  needsExplicitType,
  parseSmartctlDevice,
  parseSmartctlScan,
  smartctlUnreadable,
} from '../../src/tools/smartctl.ts'

const dir = join(import.meta.dirname, '../fixtures/smartctl')
const read = (f: string): string => readFileSync(join(dir, f), 'utf8')
const check = Compile(DiskHealth)

// One row per recorded device file (see fixtures/smartctl/SOURCE.md); every JSON file is covered below.
const deviceCases: { file: string; expect: Partial<DiskHealth> & { counters?: DiskHealth['counters'] } }[] = [
  {
    file: 'smart-ata-full.json',
    expect: {
      name: '/dev/sda',
      type: 'sat',
      protocol: 'ATA',
      smart: 'passed',
      model: 'Samsung SSD 860 EVO 500GB',
      serial: 'S3YZNB0KB00864E',
      temperatureC: 36,
      temperatureLimitC: 70,
      powerOnHours: 14551,
      rotationRpm: 0,
      exitStatus: 0,
      counters: { reallocatedSectors: 0, reportedUncorrect: 0, crcErrors: 0 },
    },
  },
  {
    file: 'smart-ata.json',
    expect: {
      name: '/dev/sdb',
      protocol: 'ATA',
      smart: 'passed',
      model: 'WDC WD140EDFZ-11A0VA0',
      serial: '9RK1XXXX',
      temperatureC: 32,
      powerOnHours: 1730,
      counters: {
        reallocatedSectors: 0,
        reallocationEvents: 0,
        pendingSectors: 0,
        offlineUncorrectable: 0,
        crcErrors: 0,
      },
    },
  },
  // Packed raw values: POH "2725 (151 234 0)", 196 "2111 (12437 0)" — the decoded leading number counts.
  {
    file: 'smart-sat.json',
    expect: {
      name: '/dev/sdc',
      type: 'sat',
      protocol: 'ATA',
      smart: 'unknown',
      temperatureC: 29,
      powerOnHours: 2725,
      counters: {
        reallocatedSectors: 0,
        reportedUncorrect: 0,
        reallocationEvents: 2111,
        pendingSectors: 0,
        offlineUncorrectable: 0,
        crcErrors: 0,
      },
    },
  },
  {
    file: 'smart-nvme.json',
    expect: {
      name: '/dev/testfoobarpass',
      type: 'nvme',
      protocol: 'NVMe',
      smart: 'passed',
      model: 'INTEL SSDPEKNW010T8',
      serial: 'BTNH93710FS91P0B',
      temperatureC: 36,
      powerOnHours: 2401,
      nvme: { criticalWarning: 0, percentageUsed: 0, availableSpare: 100, availableSpareThreshold: 10 },
      counters: { mediaErrors: 0, errorLogEntries: 0 },
    },
  },
  {
    file: 'smart-scsi.json',
    expect: {
      name: '/dev/sdg',
      type: 'scsi',
      protocol: 'SCSI',
      smart: 'passed',
      model: 'SEAGATE ST4000NM0043',
      temperatureC: 34,
      temperatureLimitC: 68,
      powerOnHours: 43549,
      counters: { grownDefects: 56, uncorrectedErrors: 0 },
    },
  },
  // Edited copy of smart-nvme.json (README.md beside it): media_errors 0 → 12, nothing else.
  {
    file: 'smart-nvme-media-errors.edited.json',
    expect: { serial: 'BTNH93710FS91P0B', smart: 'passed', counters: { mediaErrors: 12, errorLogEntries: 0 } },
  },
  // RAID volume: exit 4 (a SMART command failed), a 0 °C "temperature" that is really "none".
  {
    file: 'smart-raid.json',
    expect: {
      name: '/dev/sdb',
      protocol: 'SCSI',
      smart: 'unknown',
      model: 'Intel Raid 1 Volume',
      exitStatus: 4,
      temperatureC: undefined,
      counters: {},
    },
  },
  { file: 'smart-pass.json', expect: { name: '/dev/sdc', smart: 'passed', counters: {} } },
  {
    file: 'smart-fail.json',
    expect: { name: '/dev/sda', type: 'auto', protocol: 'unknown', smart: 'unknown', exitStatus: 2, counters: {} },
  },
  {
    file: 'smartctl_info_nvme.json',
    expect: {
      name: '/dev/nvme4',
      protocol: 'NVMe',
      smart: 'unknown',
      model: 'KCD61LUL3T84',
      serial: '61Q0A05UT7B8',
      counters: {},
    },
  },
  {
    file: 'smartctl_info_sata_smart_support_object.json',
    expect: {
      name: '/dev/sata1',
      type: 'sat',
      protocol: 'ATA',
      smart: 'unknown',
      serial: '2433274A1T13',
      capacityBytes: 4000787030016,
      counters: {},
    },
  },
]
const scanCases = [
  { file: 'smartctl_scan_nvme.json', names: ['/dev/nvme0'], types: ['nvme'] },
  {
    file: 'smartctl_scan_simple.json',
    names: ['/dev/sda', '/dev/sdb', '/dev/sdc', '/dev/sdd', '/dev/sde', '/dev/sdf', '/dev/sdg'],
    types: Array(7).fill('scsi'),
  },
]

test('every fixture file is covered by a case', () => {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
  const covered = [...deviceCases.map((c) => c.file), ...scanCases.map((c) => c.file)].sort()
  assert.deepEqual(covered, files)
})

for (const c of deviceCases) {
  test(`parseSmartctlDevice ${c.file}`, () => {
    const d = parseSmartctlDevice(read(c.file), { name: '/dev/sda', type: 'auto' })
    assert.ok(check.Check(d), `schema: ${JSON.stringify([...check.Errors(d)].slice(0, 3))}`)
    for (const [k, v] of Object.entries(c.expect)) {
      assert.deepEqual(d[k as keyof DiskHealth], v, `${c.file}: ${k}`)
    }
    assert.deepEqual(d.failingAttributes, [])
  })
}

test("smart-fail.json: open failure is unreadable and keeps smartctl's message", () => {
  const d = parseSmartctlDevice(read('smart-fail.json'), { name: '/dev/sda', type: 'auto' })
  assert.equal(smartctlUnreadable(d), true)
  assert.match(d.messages[0]!, /Open failed/)
  assert.equal(smartctlUnreadable(parseSmartctlDevice(read('smart-ata.json'))), false)
})

for (const c of scanCases) {
  test(`parseSmartctlScan ${c.file}`, () => {
    const devs = parseSmartctlScan(read(c.file))
    assert.deepEqual(
      devs.map((d) => d.name),
      c.names,
    )
    assert.deepEqual(
      devs.map((d) => d.type),
      c.types,
    )
  })
}

test('a failing disk: smart_status false, attribute failing now, exit bit 3', () => {
  type Attr = { id: number; when_failed: string; raw: { value: number; string: string } }
  const doc = JSON.parse(read('smart-ata.json')) as {
    smart_status?: { passed: boolean }
    smartctl: { exit_status: number }
    ata_smart_attributes: { table: Attr[] }
  }
  doc.smart_status = { passed: false }
  doc.smartctl.exit_status = 8 | 16
  const realloc = doc.ata_smart_attributes.table.find((a) => a.id === 5)!
  realloc.when_failed = 'now'
  realloc.raw = { value: 1234, string: '1234' }
  const d = parseSmartctlDevice(JSON.stringify(doc))
  assert.equal(d.smart, 'failed')
  assert.deepEqual(d.failingAttributes, ['5 Reallocated_Sector_Ct'])
  assert.equal(d.counters.reallocatedSectors, 1234)
  // Without smart_status, exit bit 3 ("DISK FAILING") still says failed.
  delete doc.smart_status
  assert.equal(parseSmartctlDevice(JSON.stringify(doc)).smart, 'failed')
})

test('unknown USB bridge message asks for -d', () => {
  const json = JSON.stringify({
    smartctl: {
      exit_status: 1,
      messages: [
        { string: '/dev/sdb: Unknown USB bridge [0x152d:0x0578 (0x214)]', severity: 'error' },
        { string: 'Please specify device type with the -d option.', severity: 'error' },
      ],
    },
  })
  const d = parseSmartctlDevice(json, { name: '/dev/sdb', type: 'scsi' })
  assert.equal(needsExplicitType(d), true)
  assert.equal(smartctlUnreadable(d), true)
  assert.equal(d.name, '/dev/sdb')
})

test('garbage is not a crash', () => {
  const d = parseSmartctlDevice('not json', { name: '/dev/sdz', type: 'auto' })
  assert.equal(d.smart, 'unknown')
  assert.deepEqual(parseSmartctlScan(''), [])
})
