import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { JobFinishedBody, JobStartedBody } from '@backstop/shared'
import { drainHookSpool, hookReportOptionsOf } from '../../src/cli/vzdump-hook-spool.ts'
import { resolveVzdumpJob } from '../../src/jobs/vzdump/config.ts'
import { readSpool, runVzdumpHook } from '../../src/cli/vzdump-hook.ts'

const fakes = join(import.meta.dirname, '../../../test/fakes')
const guestsFixture = join(import.meta.dirname, '../fixtures/pvesh/cluster-resources-vm.json')

interface Call {
  argv: string[]
  env: Record<string, string>
}

/**
 * Runs the fake vzdump with a recording hook (a shell script appending argv + the documented env to a file),
 * so the calling convention is asserted on real process invocations; the calls are then replayed through the
 * agent's hook handler in-process (tsx start-up per phase would make this test slow on a shared machine).
 */
function recordHookCalls(
  dir: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): { calls: Call[]; status: number | null; stderr: string } {
  const rec = join(dir, 'calls.jsonl')
  const hook = join(dir, 'hook.sh')
  writeFileSync(
    hook,
    `#!/bin/sh\nprintf '{"argv":"%s","STOREID":"%s","DUMPDIR":"%s","VMTYPE":"%s",` +
      `"HOSTNAME":"%s","TARGET":"%s","LOGFILE":"%s","set":"%s"}\\n' ` +
      `"$*" "$STOREID" "$DUMPDIR" "$VMTYPE" "$HOSTNAME" "$TARGET" "$LOGFILE" ` +
      `"\${STOREID+S}\${DUMPDIR+D}\${TARGET+T}\${LOGFILE+L}" >> ${rec}\n`,
    { mode: 0o755 },
  )
  const r = spawnSync(join(fakes, 'vzdump'), [...args, '--script', hook], {
    encoding: 'utf8',
    env: {
      PATH: process.env['PATH'],
      TZ: 'UTC',
      FAKE_PVE_GUESTS: join(dir, 'guests.json'),
      FAKE_PVE_NODE: 'pve1',
      FAKE_VZDUMP_NOW: String(Date.UTC(2026, 3, 1, 2) / 1000),
      FAKE_PVE_STORAGE: JSON.stringify({ local: { type: 'dir', path: join(dir, 'dump') }, pbs1: { type: 'pbs' } }),
      ...extraEnv,
    },
  })
  const calls = readFileSync(rec, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const o = JSON.parse(l) as Record<string, string>
      const env: Record<string, string> = {}
      for (const [k, flag] of [
        ['STOREID', 'S'],
        ['DUMPDIR', 'D'],
        ['TARGET', 'T'],
        ['LOGFILE', 'L'],
      ] as const) {
        if (o['set']!.includes(flag)) {
          env[k] = o[k]!
        }
      }
      for (const k of ['VMTYPE', 'HOSTNAME']) {
        if (o[k]) {
          env[k] = o[k]
        }
      }
      return { argv: o['argv']!.split(' '), env }
    })
  return { calls, status: r.status, stderr: r.stderr }
}

function setup(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bk-hook-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'dump'))
  copyFileSync(guestsFixture, join(dir, 'guests.json'))
  return dir
}

const opts = {
  job: 'pve-scheduled',
  media: 'hdd' as const,
  offsite: false,
  offline: false,
  immutable: false,
  nodeTimezone: 'UTC',
}

test('vzdump hook (fake vzdump, dir storage): phases, argv, env; spool → a run per guest, hashed copies', async (t) => {
  const dir = setup(t)
  const { calls, status } = recordHookCalls(
    dir,
    ['100', '200', '--storage', 'local', '--mode', 'snapshot', '--compress', 'zstd'],
    { FAKE_VZDUMP_FAIL: '200=unable to open file' },
  )
  assert.equal(status, 255)
  assert.deepEqual(
    calls.map((c) => c.argv.join(' ')),
    [
      'job-init',
      'job-start',
      'backup-start snapshot 100',
      'backup-end snapshot 100',
      'log-end snapshot 100',
      'backup-start snapshot 200',
      'backup-abort snapshot 200',
      'log-end snapshot 200',
      'job-abort',
    ],
  )
  const end = calls[3]!
  const archive = join(dir, 'dump', 'vzdump-qemu-100-2026_04_01-02_00_00.vma.zst')
  assert.deepEqual(end.env, {
    STOREID: 'local',
    DUMPDIR: join(dir, 'dump'),
    TARGET: archive,
    VMTYPE: 'qemu',
    HOSTNAME: 'home-assistant',
  })
  assert.equal(calls[4]!.env['LOGFILE'], join(dir, 'dump', 'vzdump-qemu-100-2026_04_01-02_00_00.log'))
  assert.equal(calls[2]!.env['TARGET'], undefined)
  // DUMPDIR is not set at job-init unless --dumpdir was given.
  assert.equal(calls[0]!.env['DUMPDIR'], undefined)
  assert.equal(calls[6]!.env['HOSTNAME'], 'pihole')

  const state = join(dir, 'state')
  let clock = Date.UTC(2026, 3, 1, 2)
  for (const c of calls) {
    assert.equal(
      runVzdumpHook(c.argv, {
        stateDir: state,
        env: c.env,
        now: () => new Date((clock += 1000)),
        warn: (m) => assert.fail(m),
      }),
      0,
    )
  }
  assert.deepEqual(
    readSpool(state).map((s) => s.record.type),
    ['job', 'guest', 'guest', 'job'],
  )
  const started: JobStartedBody[] = []
  const finished: JobFinishedBody[] = []
  const n = await drainHookSpool(state, opts, {
    started: async (b) => {
      started.push(b)
    },
    finished: async (b) => {
      finished.push(b)
    },
  })
  assert.equal(n, 4)
  assert.deepEqual(readSpool(state), [])
  assert.deepEqual(
    started.map((s) => s.trigger),
    ['hook', 'hook'],
  )
  assert.deepEqual(
    finished.map((f) => f.status),
    ['success', 'failed'],
  )
  const ok = finished[0]!
  assert.equal(ok.copies.length, 1)
  assert.equal(ok.copies[0]!.name, 'vzdump-qemu-100-2026_04_01-02_00_00.vma.zst')
  assert.equal(ok.copies[0]!.createdAt, '2026-04-01T02:00:00.000Z')
  assert.equal(ok.copies[0]!.verification.state, 'verified')
  assert.equal(ok.copies[0]!.checksum?.value.length, 64)
  assert.equal(finished[1]!.error?.code, 'BK_ERR_GUEST_BACKUP_FAILED')
  assert.match(finished[1]!.error!.message, /lxc 200 \(pihole\): unable to open file/)
})

test('hook convention, PBS target: no DUMPDIR, TARGET is the snapshot, no LOGFILE', async (t) => {
  const dir = setup(t)
  const { calls, status } = recordHookCalls(dir, ['200', '--storage', 'pbs1'])
  assert.equal(status, 0)
  const end = calls.find((c) => c.argv[0] === 'backup-end')!
  assert.deepEqual(end.env, {
    STOREID: 'pbs1',
    TARGET: 'ct/200/2026-04-01T02:00:00Z',
    VMTYPE: 'lxc',
    HOSTNAME: 'pihole',
  })
  assert.equal(calls.find((c) => c.argv[0] === 'log-end')!.env['LOGFILE'], undefined)
  const state = join(dir, 'state')
  for (const c of calls) {
    runVzdumpHook(c.argv, { stateDir: state, env: c.env, now: () => new Date(), warn: () => {} })
  }
  const finished: JobFinishedBody[] = []
  await drainHookSpool(state, opts, {
    started: async () => {},
    finished: async (b) => {
      finished.push(b)
    },
  })
  assert.equal(finished[0]!.copies[0]!.copyId, 'pbs:pbs1:ct/200/2026-04-01T02:00:00Z')
  assert.deepEqual(finished[0]!.copies[0]!.location, { kind: 'pbs', target: 'pbs1' })
})

test('stop mode calls pre-stop/pre-restart/post-restart for a running guest', (t) => {
  const dir = setup(t)
  const { calls } = recordHookCalls(dir, ['100', '--dumpdir', join(dir, 'dump'), '--mode', 'stop'])
  assert.deepEqual(calls.map((c) => c.argv.join(' ')).slice(2, 6), [
    'backup-start stop 100',
    'pre-stop stop 100',
    'pre-restart stop 100',
    'post-restart stop 100',
  ])
  // --dumpdir: DUMPDIR everywhere (also job-init), no STOREID.
  assert.equal(calls[0]!.env['DUMPDIR'], join(dir, 'dump'))
  assert.equal(
    calls.some((c) => c.env['STOREID'] !== undefined),
    false,
  )
})

test('the hook never fails the backup: unwritable state dir, unknown phase, missing vmid all exit 0', (t) => {
  const dir = setup(t)
  const warnings: string[] = []
  writeFileSync(join(dir, 'not-a-dir'), 'x')
  assert.equal(
    runVzdumpHook(['job-start'], {
      stateDir: join(dir, 'not-a-dir'),
      env: {},
      now: () => new Date(),
      warn: (m) => warnings.push(m),
    }),
    0,
  )
  assert.equal(
    runVzdumpHook(['weird-phase', 'snapshot', '1'], {
      stateDir: join(dir, 's'),
      env: {},
      now: () => new Date(),
      warn: (m) => warnings.push(m),
    }),
    0,
  )
  assert.equal(
    runVzdumpHook(['backup-start', 'snapshot'], {
      stateDir: join(dir, 's'),
      env: {},
      now: () => new Date(),
      warn: (m) => warnings.push(m),
    }),
    0,
  )
  assert.equal(warnings.length, 3)
  // The real entry point, as vzdump would run it, with a state dir it cannot create: exit 0, message on stderr.
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, '../../src/cli/vzdump-hook-main.ts'), 'job-start'],
    { encoding: 'utf8', env: { ...process.env, BACKSTOP_STATE_DIR: join(dir, 'not-a-dir') } },
  )
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /backup continues; not reported/)
})

test('hook runs are reported under the one vzdump job with hookReports: true', () => {
  const job = (name: string, hookReports: boolean) =>
    resolveVzdumpJob(
      {
        kind: 'vzdump',
        name,
        all: true,
        storage: 'local',
        media: 'nas',
        offsite: true,
        nodeTimezone: 'Europe/Berlin',
        hookReports,
      },
      'UTC',
    )
  assert.deepEqual(hookReportOptionsOf([job('a', false), job('pve-scheduled', true)]), {
    job: 'pve-scheduled',
    media: 'nas',
    offsite: true,
    offline: false,
    immutable: false,
    nodeTimezone: 'Europe/Berlin',
  })
  assert.equal(hookReportOptionsOf([job('a', false)]), null)
  assert.throws(() => hookReportOptionsOf([job('a', true), job('b', true)]), /one job only/)
})
