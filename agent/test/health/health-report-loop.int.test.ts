import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { Compile } from 'typebox/compile'
import { DiskHealthBody } from '@backstop/shared'
import { parseAgentConfig } from '../../src/config/load.ts'
import { FixtureExec, type ExecFixture } from '../../src/exec/fixture-exec.ts'
import { NodeExec } from '../../src/exec/node-exec.ts'
import type { SystemInfo } from '../../src/health/collect.ts'
import { createHealthReporter, DISK_HEALTH_TASK, diskHealthTask } from '../../src/health/report-loop.ts'
import { librarySystemInfo } from '../../src/health/system-info.ts'
import { JobStateStore } from '../../src/scheduler/job-state.ts'
import { Scheduler } from '../../src/scheduler/scheduler.ts'
import { LSBLK_COLUMNS } from '../../src/tools/lsblk.ts'
import { memoryLog } from '../exec/memory-log.ts'
import { FakeClock } from '../scheduler/fake-clock.ts'

const check = Compile(DiskHealthBody)
const fx = (f: string): string => readFileSync(join(import.meta.dirname, '../fixtures/smartctl', f), 'utf8')
const lsblk: ExecFixture = {
  argv: ['lsblk', '-J', '-b', '-o', LSBLK_COLUMNS.join(',')],
  stdout: '{"blockdevices":[]}',
  repeat: true,
}
const valid = (body: unknown): void => assert.ok(check.Check(body), JSON.stringify([...check.Errors(body)].slice(0, 3)))

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'bk-health-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A config as the loader resolves it: one archive job writing to /srv/backup/etc, plus the given health section. */
function config(healthYaml = ''): ReturnType<typeof parseAgentConfig> {
  return parseAgentConfig(
    'collector: { url: "mqtt://127.0.0.1:1883", enrollmentToken: health-loop-enrollment-token-0123456789 }\n' +
      `${healthYaml}\n` +
      'jobs:\n' +
      '  - { kind: archive, name: etc, schedule: "0 3 * * *", paths: [/etc], destination: /srv/backup/etc,' +
      ' keepLast: 2, media: hdd }\n',
    'agent.yaml',
    { hostname: 'pve1' },
  )
}

const si: SystemInfo = {
  diskLayout: async () => [],
  fsSize: async () => [
    { fs: '/dev/vda', type: 'ext4', size: 270553174016, used: 26039996416, mount: '/' },
    { fs: '/dev/sda1', type: 'ext4', size: 14000519643136, used: 11900000000000, mount: '/srv/backup' },
  ],
}

describe('disk health report loop', () => {
  it('reports once at start-up, then every intervalMinutes (scheduler, fake clock, recorded smartctl)', async (t) => {
    const clock = new FakeClock('2026-11-22T03:10:00Z')
    const exec = new FixtureExec([
      {
        argv: ['smartctl', '--scan', '-j'],
        stdout: JSON.stringify({
          devices: [
            { name: '/dev/sda', type: 'sat', protocol: 'ATA' },
            { name: '/dev/nvme0', type: 'nvme', protocol: 'NVMe' },
          ],
        }),
        repeat: true,
      },
      { argv: ['smartctl', '-j', '-x', '-d', 'sat', '/dev/sda'], stdout: fx('smart-ata.json'), repeat: true },
      { argv: ['smartctl', '-j', '-x', '-d', 'nvme', '/dev/nvme0'], stdout: fx('smart-nvme.json'), repeat: true },
      lsblk,
    ])
    const cfg = config('health: { intervalMinutes: 30 }')
    const emitted: { at: string; body: DiskHealthBody }[] = []
    const { log } = memoryLog()
    const reporter = createHealthReporter({
      config: cfg,
      exec,
      si,
      clock,
      log,
      emit: async (body) => {
        emitted.push({ at: clock.now().toISOString(), body })
      },
    })
    const scheduler = new Scheduler([diskHealthTask(cfg)], {
      clock,
      log,
      state: new JobStateStore(tempDir(t)),
      run: () => reporter.report(),
    })
    t.after(() => scheduler.stop())
    scheduler.start()
    await scheduler.runNow(DISK_HEALTH_TASK, 'schedule')
    await clock.advanceTo('2026-11-22T04:05:00Z')
    await scheduler.stop()
    await scheduler.idle()
    assert.deepEqual(
      emitted.map((e) => e.at),
      ['2026-11-22T03:10:00.000Z', '2026-11-22T03:30:00.000Z', '2026-11-22T04:00:00.000Z'],
    )
    for (const { body } of emitted) {
      valid(body)
    }
    const body = emitted[0]!.body
    assert.equal(body.at, '2026-11-22T03:10:00.000Z')
    assert.deepEqual(
      body.disks.map((d) => `${d.name}:${d.source}:${d.smart}`),
      ['/dev/sdb:smartctl:passed', '/dev/testfoobarpass:smartctl:passed'],
    )
    // No health.backupTargets: the archive job's destination is the forecast target.
    assert.deepEqual(
      body.filesystems.map((f) => [f.mount, f.backupTarget]),
      [
        ['/', false],
        ['/srv/backup', true],
      ],
    )
    assert.equal(scheduler.status().length, 0, 'the report is housekeeping, not a job in heartbeats')
  })

  it("passes deviceTypes, skip, extra to smartctl; health.backupTargets replaces the jobs' destinations", async () => {
    const clock = new FakeClock('2026-11-22T03:00:00Z')
    const exec = new FixtureExec([
      {
        argv: ['smartctl', '--scan', '-j'],
        stdout: JSON.stringify({
          devices: [
            { name: '/dev/sdb', type: 'scsi', protocol: 'SCSI' },
            { name: '/dev/sdc', type: 'scsi', protocol: 'SCSI' },
          ],
        }),
      },
      { argv: ['smartctl', '-j', '-x', '-d', 'sat,12', '/dev/sdb'], stdout: fx('smart-sat.json') },
      { argv: ['smartctl', '-j', '-x', '-d', 'megaraid,0', '/dev/sda'], stdout: fx('smart-ata.json') },
      lsblk,
    ])
    const cfg = config(`health:
  deviceTypes: { /dev/sdb: "sat,12" }
  skip: [/dev/sdc]
  extra: [{ name: /dev/sda, type: "megaraid,0" }]
  backupTargets: [/elsewhere]`)
    let got: DiskHealthBody | null = null
    const reporter = createHealthReporter({
      config: cfg,
      exec,
      si,
      clock,
      log: memoryLog().log,
      emit: async (b) => {
        got = b
      },
    })
    const body = await reporter.report()
    exec.assertAllUsed()
    assert.ok(body)
    assert.equal(got, body)
    valid(body)
    assert.equal(body.disks.length, 2)
    assert.deepEqual(
      body.filesystems.map((f) => [f.mount, f.backupTarget]),
      [
        ['/', true],
        ['/srv/backup', false],
      ],
      '/elsewhere lives on /',
    )
  })

  it('health.smartctl: false never starts smartctl; the note says why there is no SMART data', async () => {
    const exec = new FixtureExec([lsblk])
    const cfg = config('health: { smartctl: false }')
    const reporter = createHealthReporter({
      config: cfg,
      exec,
      si,
      clock: new FakeClock('2026-11-22T03:00:00Z'),
      log: memoryLog().log,
      emit: async () => undefined,
    })
    const body = await reporter.report()
    assert.ok(body)
    valid(body)
    assert.ok(!exec.calls.some((a) => a[0] === 'smartctl'), JSON.stringify(exec.calls))
    assert.match(body.notes.join('\n'), /smartctl disabled \(health\.smartctl: false\)/)
    assert.doesNotMatch(body.notes.join('\n'), /not installed/)
  })

  it('a failing collection is reported in the event; a refused emit is logged, never thrown', async () => {
    const exec = new FixtureExec([{ argv: ['smartctl', '--scan', '-j'], error: 'BK_ERR_EXEC_TIMEOUT' }, lsblk])
    const broken: SystemInfo = {
      diskLayout: async () => {
        throw new Error('lsblk: cannot open /sys')
      },
      fsSize: async () => {
        throw new Error('df: unreadable')
      },
    }
    const { log, records } = memoryLog()
    const clock = new FakeClock('2026-11-22T03:00:00Z')
    const emitted: DiskHealthBody[] = []
    const body = await createHealthReporter({
      config: config(),
      exec,
      si: broken,
      clock,
      log,
      emit: async (b) => {
        emitted.push(b)
      },
    }).report()
    assert.ok(body)
    valid(body)
    assert.deepEqual(emitted, [body])
    const notes = body.notes.join('\n')
    assert.match(notes, /smartctl failed: .*killed/)
    assert.match(notes, /diskLayout failed: lsblk: cannot open/)
    assert.match(notes, /fsSize failed: df: unreadable/)

    const refused = await createHealthReporter({
      config: config(),
      exec: new FixtureExec([{ argv: ['smartctl', '--scan', '-j'], error: 'BK_ERR_EXEC_SPAWN' }, lsblk]),
      si,
      clock,
      log,
      emit: async () => {
        throw new Error('BK_ERR_OUTBOX_FULL: outbox full')
      },
    }).report()
    assert.equal(refused, null)
    assert.ok(
      records.some((r) => r['level'] === 50 && /could not append the disk\.health event/.test(String(r['msg']))),
      JSON.stringify(records.slice(-3)),
    )
  })

  it("real smartctl, lsblk, systeminformation: valid event, the temp dir's filesystem as backup target", async (t) => {
    const dir = tempDir(t)
    const { log } = memoryLog()
    const cfg = config(`health: { backupTargets: [${dir}] }`)
    const body = await createHealthReporter({
      config: cfg,
      exec: new NodeExec({ log }),
      si: librarySystemInfo(),
      clock: new FakeClock(new Date()),
      log,
      emit: async () => undefined,
    }).report()
    assert.ok(body)
    valid(body)
    const target = body.filesystems.filter((f) => f.backupTarget)
    assert.equal(target.length, 1, JSON.stringify(body.filesystems))
    assert.ok(target[0]!.sizeBytes > 0 && target[0]!.usedBytes > 0, JSON.stringify(target[0]))
    assert.ok(
      dir.startsWith(target[0]!.mount === '/' ? '/' : `${target[0]!.mount}/`),
      `${dir} is on ${target[0]!.mount}`,
    )
    // No SMART-capable disk here (virtio): whatever the source, the report says what it could not read.
    if (body.disks.every((d) => d.source !== 'smartctl')) {
      assert.ok(body.notes.length > 0, 'a report without SMART data says why')
    }
  })
})
