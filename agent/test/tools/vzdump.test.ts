import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseVzdumpLog, VzdumpLogParser } from '../../src/tools/vzdump-log.ts'
import { formatArchiveName, parseArchiveName, parsePbsSnapshot, vzdumpArgv } from '../../src/tools/vzdump.ts'

const fixture = (f: string): string => readFileSync(join(import.meta.dirname, '../fixtures/vzdump', f), 'utf8')

const logCases = [
  {
    file: 'lxc-dumpdir-gzip-success.log',
    jobOk: true,
    guests: [
      {
        vmid: 100,
        vmtype: 'lxc',
        name: 'CT100',
        status: 'ok',
        target: 'file',
        archive: '/var/lib/vz/dump/vzdump-lxc-100-2022_05_26-00_16_48.tar.gz',
        durationS: 22,
        approxBytes: 189e6,
      },
    ],
  },
  {
    file: 'qemu-pbs-success.log',
    jobOk: true,
    guests: [
      {
        vmid: 103,
        vmtype: 'qemu',
        name: 'nfs-vm',
        status: 'ok',
        target: 'pbs',
        archive: 'vm/103/2026-03-11T08:51:30Z',
        durationS: 47,
      },
    ],
  },
  {
    file: 'lxc-nfs-failure.log',
    jobOk: false,
    guests: [
      {
        vmid: 200,
        vmtype: 'lxc',
        name: 'babydeb',
        status: 'failed',
        target: 'file',
        archive: '/mnt/pve/NAS-DS2/dump/vzdump-lxc-200-2023_04_07-17_11_08.tar.zst',
      },
    ],
  },
  {
    file: 'qemu-stdout-success.log',
    jobOk: true,
    guests: [{ vmid: 112, vmtype: 'qemu', name: 'winrecover', status: 'ok', durationS: 12 }],
  },
  {
    file: 'qemu-timestamped-2017.log',
    jobOk: true,
    guests: [
      {
        vmid: 100,
        vmtype: 'qemu',
        name: 'pfsense01',
        status: 'ok',
        target: 'file',
        archive: '/vmfs/bkp-vol-001/dump/vzdump-qemu-100-2017_09_05-11_45_02.vma.gz',
        durationS: 94,
        approxBytes: 686e6,
      },
    ],
  },
]

for (const c of logCases) {
  test(`parseVzdumpLog ${c.file}`, () => {
    const run = parseVzdumpLog(fixture(c.file), c.jobOk ? 0 : 255)
    assert.equal(run.jobOk, c.jobOk)
    assert.equal(run.guests.length, c.guests.length)
    for (const [i, want] of c.guests.entries()) {
      const got = run.guests[i]!
      for (const [k, v] of Object.entries(want)) {
        assert.deepEqual(got[k as keyof typeof got], v, `${c.file} guest ${i} ${k}`)
      }
    }
  })
}

test('failure keeps the reason, and TASK ERROR is the job error', () => {
  const run = parseVzdumpLog(fixture('lxc-nfs-failure.log'), 255)
  assert.match(run.guests[0]!.error!, /^command 'set -o pipefail .*failed: exit code 2$/)
  assert.equal(run.jobError, 'job errors')
})

test('progress streams from the new-style lines, as job percent over the expected guests', () => {
  const p = new VzdumpLogParser(2)
  const updates = fixture('qemu-pbs-success.log')
    .split('\n')
    .map((l) => p.feed(l))
    .filter((u) => u !== undefined)
  assert.deepEqual(
    updates.map((u) => u.guestPercent),
    [0, 21, 27, 32, 37, 43, 50, 54, 60, 64, 68, 76, 81, 86, 92, 98, 100, 100],
  )
  // One of two guests done = 50 % of the job.
  assert.equal(updates.at(-1)!.percent, 50)
})

test('old-style "status: NN%" progress (qemu-server ≤ PVE 5) and a killed run', () => {
  const p = new VzdumpLogParser()
  p.feed('INFO: Starting Backup of VM 101 (qemu)')
  const u = p.feed('INFO: status: 12% (3865470976/30601641984), sparse 0% (0), duration 33, read/write 117/117 MB/s')
  assert.equal(u?.percent, 12)
  p.feed('INFO: Failed at 2026-07-13 18:09:38')
  p.feed('ERROR: Backup job failed - interrupted by signal')
  const run = p.finish(255)
  assert.equal(run.jobOk, false)
  assert.equal(run.jobError, 'interrupted by signal')
  assert.equal(run.guests[0]!.status, 'failed')
})

test('a log cut short (process died) marks running guests failed', () => {
  const run = parseVzdumpLog(
    'INFO: Starting Backup of VM 7 (lxc)\n' +
      "INFO: creating vzdump archive '/d/vzdump-lxc-7-2026_01_01-00_00_00.tar.zst'\n",
    137,
  )
  assert.equal(run.guests[0]!.status, 'failed')
  assert.match(run.guests[0]!.error!, /exit 137/)
  assert.equal(run.jobOk, false)
})

const nameCases = [
  // Local time → UTC: Berlin is UTC+1 in winter, UTC+2 in summer.
  {
    name: 'vzdump-qemu-101-2026_01_15-02_00_05.vma.zst',
    tz: 'Europe/Berlin',
    utc: '2026-01-15T01:00:05.000Z',
    vmtype: 'qemu',
    ext: 'vma.zst',
  },
  {
    name: 'vzdump-lxc-200-2026_07_15-02_00_05.tar.gz',
    tz: 'Europe/Berlin',
    utc: '2026-07-15T00:00:05.000Z',
    vmtype: 'lxc',
    ext: 'tar.gz',
  },
  {
    name: 'vzdump-qemu-9-2026_07_15-02_00_05.vma',
    tz: 'UTC',
    utc: '2026-07-15T02:00:05.000Z',
    vmtype: 'qemu',
    ext: 'vma',
  },
  // 02:30 on the spring-forward night does not exist in Berlin: not a name vzdump wrote.
  { name: 'vzdump-qemu-1-2026_03_29-02_30_00.vma.zst', tz: 'Europe/Berlin', utc: null },
  { name: 'vzdump-qemu-101-2026_01_15-02_00_05.vma.dat', tz: 'UTC', utc: null },
  { name: 'vzdump-qemu-101-2026_01_15-02_00_05.log', tz: 'UTC', utc: null },
  { name: 'vzdump-qemu-101-2026_02_30-02_00_05.vma', tz: 'UTC', utc: null },
]
for (const c of nameCases) {
  test(`parseArchiveName ${c.name} @ ${c.tz}`, () => {
    const a = parseArchiveName(c.name, c.tz)
    if (c.utc === null) {
      assert.equal(a, null)
      return
    }
    assert.equal(a?.createdAt.toISOString(), c.utc)
    assert.equal(a?.vmtype, c.vmtype)
    assert.equal(a?.ext, c.ext)
    assert.equal(
      formatArchiveName(
        a!.vmtype,
        a!.vmid,
        a!.createdAt,
        c.tz,
        a!.compression === 'zst' ? 'zstd' : a!.compression === 'gz' ? 'gzip' : a!.compression === 'lzo' ? 'lzo' : null,
      ),
      c.name,
    )
  })
}

test('parsePbsSnapshot: vm/ct groups in UTC', () => {
  assert.deepEqual(parsePbsSnapshot('vm/103/2026-03-11T08:51:30Z'), {
    group: 'vm',
    vmid: 103,
    createdAt: new Date('2026-03-11T08:51:30Z'),
  })
  assert.equal(parsePbsSnapshot('ct/200/2026-03-11T08:51:30Z')?.group, 'ct')
  assert.equal(parsePbsSnapshot('host/x/2026-03-11T08:51:30Z'), null)
})

test('vzdumpArgv builds the documented options', () => {
  assert.deepEqual(
    vzdumpArgv({
      selection: { vmids: [101, 102] },
      mode: 'snapshot',
      compress: 'zstd',
      target: { storage: 'local' },
      notesTemplate: '{{guestname}}',
      bwlimitKiB: 51200,
    }),
    [
      'vzdump',
      '101',
      '102',
      '--mode',
      'snapshot',
      '--compress',
      'zstd',
      '--storage',
      'local',
      '--notes-template',
      '{{guestname}}',
      '--bwlimit',
      '51200',
      '--remove',
      '0',
    ],
  )
  assert.deepEqual(
    vzdumpArgv({
      selection: { all: true, exclude: [100, 105] },
      mode: 'stop',
      compress: 'gzip',
      target: { dumpdir: '/srv/dump' },
    }),
    [
      'vzdump',
      '--all',
      '1',
      '--exclude',
      '100,105',
      '--mode',
      'stop',
      '--compress',
      'gzip',
      '--dumpdir',
      '/srv/dump',
      '--remove',
      '0',
    ],
  )
  assert.deepEqual(
    vzdumpArgv({
      selection: { pool: 'prod' },
      mode: 'suspend',
      compress: 'zstd',
      zstdThreads: 0,
      target: { storage: 'pbs' },
    }),
    [
      'vzdump',
      '--pool',
      'prod',
      '--mode',
      'suspend',
      '--compress',
      'zstd',
      '--zstd',
      '0',
      '--storage',
      'pbs',
      // Always: PVE's storage retention never deletes behind the agent's GFS policy.
      '--remove',
      '0',
    ],
  )
})

test('pvesh /cluster/resources: guests of this node, templates out, tags split', async () => {
  const { parseClusterResources, guestAsset } = await import('../../src/tools/pvesh.ts')
  const all = parseClusterResources(
    readFileSync(join(import.meta.dirname, '../fixtures/pvesh/cluster-resources-vm.json'), 'utf8'),
  )
  assert.deepEqual(
    all.map((g) => `${g.type}/${g.vmid}@${g.node}`),
    ['qemu/100@pve1', 'qemu/101@pve1', 'lxc/200@pve1', 'lxc/201@pve2', 'qemu/9000@pve1'],
  )
  assert.deepEqual(all[1]!.tags, ['desktop', 'nobackup'])
  assert.equal(all[2]!.pool, 'infra')
  assert.equal(all[4]!.template, true)
  assert.deepEqual(guestAsset('lxc', 200, 'pihole'), { kind: 'ct', id: 'ct/200', name: 'pihole' })
})
