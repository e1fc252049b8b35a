import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { pino } from 'pino'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import type { JobContext } from '../../src/jobs/job.ts'
import { resolveRearJob } from '../../src/jobs/rear/config.ts'
import { saveInventory } from '../../src/jobs/rear/inventory.ts'
import { createRearJob } from '../../src/jobs/rear/rear-job.ts'

/** A job context on `exec` whose clock stands at `at`. */
function contextAt(exec: FixtureExec, stateDir: string, at: string): JobContext {
  return {
    node: 'n1',
    runId: 'r1',
    trigger: 'schedule',
    exec,
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    stateDir,
    clock: { now: () => new Date(at), sleepUntil: async () => {} },
    progress: () => {},
  }
}

test('no stick attached: failed with BK_ERR_USB_MEDIUM_MISSING, known runs offline, overdue stick named', async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'bk-rearjob-'))
  t.after(() => rmSync(state, { recursive: true, force: true }))
  await saveInventory(state, {
    'f851d550-f024-4d09-b67b-f18ea9219759': {
      fsUuid: 'f851d550-f024-4d09-b67b-f18ea9219759',
      label: 'REAR-000',
      lastSeen: '2026-11-01T03:00:00.000Z',
      runs: [
        {
          name: 'rear/vm/20261101.0200',
          createdAt: '2026-11-01T02:00:00.000Z',
          sha256: 'a'.repeat(64),
          bytes: 828585,
          verifiedAt: '2026-11-01T02:31:00.000Z',
        },
      ],
    },
  })
  const exec = new FixtureExec([
    { argv: ['blkid', '-c', '/dev/null', '-o', 'export', '-t', 'LABEL=REAR-000'], exitCode: 2 },
  ])
  const job = createRearJob(
    resolveRearJob({ kind: 'rear', name: 'rescue', rearHostname: 'vm', nodeTimezone: 'UTC' }, 'UTC'),
  )
  const ctx = contextAt(exec, state, '2026-11-22T02:00:00Z')
  // by-label directory that does not exist on this host: the blkid probe decides.
  const r = await job.run(ctx)
  exec.assertAllUsed()
  assert.equal(r.status, 'failed')
  assert.equal(r.error?.code, 'BK_ERR_USB_MEDIUM_MISSING')
  assert.equal(r.copies.length, 1)
  const c = r.copies[0]!
  assert.equal(c.offline, true)
  assert.equal(c.media, 'usb')
  assert.deepEqual(c.location, {
    kind: 'usb',
    target: 'REAR-000:rear/vm',
    device: { label: 'REAR-000', fsUuid: 'f851d550-f024-4d09-b67b-f18ea9219759' },
  })
  assert.deepEqual(c.asset, { kind: 'host-image', id: 'host/vm', name: 'vm' })
  assert.equal(c.verification.state, 'verified')
  assert.match(r.warnings.join('\n'), /not seen for 20 days/)
})

test('config: onlyIfLayoutChanged needs checkLayout + mkrescue; extraConfig not with a user configDir', () => {
  assert.throws(
    () => resolveRearJob({ kind: 'rear', name: 'x', onlyIfLayoutChanged: true }, 'UTC'),
    /needs checkLayout/,
  )
  assert.throws(
    () => resolveRearJob({ kind: 'rear', name: 'x', configDir: '/etc/rear', extraConfig: ['A=1'] }, 'UTC'),
    /only applies to the generated config/,
  )
  const r = resolveRearJob({ kind: 'rear', name: 'x' }, 'UTC')
  assert.equal(r.label, 'REAR-000')
  assert.deepEqual(r.retention.keep, { last: 2, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 })
  assert.equal(r.workflow, 'mkbackup')
})

test('plan: GFS keep.last per kind on the attached stick, verified runs only (mount faked)', async (t) => {
  const { mkdirSync, writeFileSync } = await import('node:fs')
  const state = mkdtempSync(join(tmpdir(), 'bk-rearplan-'))
  t.after(() => rmSync(state, { recursive: true, force: true }))
  for (const [n, backup] of [
    ['20261101.0200', true],
    ['20261108.0200', true],
    ['20261115.0200', true],
    ['20261116.0200', false],
  ] as const) {
    mkdirSync(join(state, 'mnt', 'rear', 'vm', n), { recursive: true })
    if (backup) {
      writeFileSync(join(state, 'mnt', 'rear', 'vm', n, 'backup.tar.gz'), 'x')
    }
  }
  const blkid = readFileSync(join(import.meta.dirname, '../fixtures/rear/blkid-export-rear-stick.txt'), 'utf8')
  const job = createRearJob(
    resolveRearJob(
      { kind: 'rear', name: 'rescue', rearHostname: 'vm', nodeTimezone: 'UTC', retention: { keep: { last: 2 } } },
      'UTC',
    ),
  )
  const plan = async (): Promise<string[]> => {
    const exec = new FixtureExec([
      { argv: ['blkid', '-c', '/dev/null', '-o', 'export', '-t', 'LABEL=REAR-000'], stdout: blkid },
      { argv: ['mount', '-o', 'rw,nodev,nosuid,noexec', '/dev/loop0p3', join(state, 'mnt')] },
      { argv: ['umount', join(state, 'mnt')] },
    ])
    const lines = await job.plan(contextAt(exec, state, '2026-11-22T00:00:00Z'))
    exec.assertAllUsed()
    assert.ok(lines.every((l) => l.location === 'REAR-000:rear/vm'))
    return lines.map((l) => `${l.name.split('/')[2]} ${l.action}`)
  }
  // No run was checked by this agent (no inventory): none fills a slot, so none justifies deleting another.
  assert.deepEqual(await plan(), [
    '20261101.0200 keep',
    '20261108.0200 keep',
    '20261115.0200 keep',
    '20261116.0200 keep',
  ])
  const uuid = /^UUID=(.+)$/m.exec(blkid)![1]!
  const runs = ['20261101.0200', '20261108.0200', '20261115.0200', '20261116.0200'].map((n) => ({
    name: `rear/vm/${n}`,
    createdAt: '2026-11-01T00:00:00.000Z',
    verifiedAt: '2026-11-16T03:00:00.000Z',
  }))
  await saveInventory(state, {
    [uuid]: { fsUuid: uuid, label: 'REAR-000', lastSeen: '2026-11-16T03:00:00.000Z', runs },
  })
  // Verified: the two newest backup runs stay; the rescue-only run is planned on its own.
  assert.deepEqual(await plan(), [
    '20261101.0200 destroy',
    '20261108.0200 keep',
    '20261115.0200 keep',
    '20261116.0200 keep',
  ])
})
