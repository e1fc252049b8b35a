import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { pino } from 'pino'
import type { Exec, ExecOpts } from '../../src/exec/exec.ts'
import { NodeExec } from '../../src/exec/node-exec.ts'
import type { JobContext } from '../../src/jobs/job.ts'
import { resolveVzdumpJob, type VzdumpJobInput } from '../../src/jobs/vzdump/config.ts'
import { coversGuest, createVzdumpJob } from '../../src/jobs/vzdump/vzdump-job.ts'

const fakes = join(import.meta.dirname, '../../../test/fakes')
const guestsFixture = join(import.meta.dirname, '../fixtures/pvesh/cluster-resources-vm.json')
const log = pino({ level: 'silent' })
const DAY = 86_400

/** NodeExec with the fakes first on PATH and the fake's environment (NodeExec hands children a minimal env). */
function fakeExec(env: Record<string, string>): Exec {
  const inner = new NodeExec({ log, path: `${fakes}:${process.env['PATH']}` })
  return {
    run: (argv, opts: ExecOpts = {}) => inner.run(argv, { ...opts, env: { ...env, ...opts.env } }),
    pipeline: (s, o) => inner.pipeline(s, o),
  }
}

function setup(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'bk-vzdump-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const dump = join(dir, 'dump')
  const state = join(dir, 'state')
  mkdirSync(dump)
  mkdirSync(state)
  copyFileSync(guestsFixture, join(dir, 'guests.json'))
  const env = (now: number, extra: Record<string, string> = {}): Record<string, string> => ({
    FAKE_PVE_GUESTS: join(dir, 'guests.json'),
    FAKE_PVE_NODE: 'pve1',
    TZ: 'Europe/Berlin',
    FAKE_VZDUMP_NOW: String(now),
    FAKE_PVE_STORAGE: JSON.stringify({ local: { type: 'dir', path: dump }, pbs1: { type: 'pbs' } }),
    ...extra,
  })
  const ctx = (exec: Exec, at: Date, progress: number[] = []): JobContext => ({
    node: 'pve1',
    runId: `r${at.getTime()}`,
    trigger: 'schedule',
    exec,
    log,
    signal: new AbortController().signal,
    stateDir: state,
    clock: { now: () => at, sleepUntil: async () => {} },
    progress: (p) => progress.push(p),
  })
  return { dump, env, ctx }
}

const base: VzdumpJobInput = {
  kind: 'vzdump',
  name: 'guests',
  guests: [100, 200],
  storage: 'local',
  media: 'hdd',
  nodeTimezone: 'Europe/Berlin',
  notesTemplate: '{{guestname}} on {{node}}',
  retention: { keep: { last: 2, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } },
}

test('vzdump job (fake): copies with sha256, progress, local-time names → UTC, GFS pruning with rules', async (t) => {
  const { dump, env, ctx } = setup(t)
  const job = createVzdumpJob(resolveVzdumpJob(base, 'UTC'))
  const t0 = Date.UTC(2026, 0, 10, 1, 0, 0) / 1000
  const results = []
  const progress: number[] = []
  let firstBytes = Buffer.alloc(0)
  for (let i = 0; i < 3; i++) {
    const now = t0 + i * DAY
    results.push(await job.run(ctx(fakeExec(env(now)), new Date((now + 60) * 1000), progress)))
    if (i === 0) {
      firstBytes = readFileSync(join(dump, 'vzdump-qemu-100-2026_01_10-02_00_00.vma.zst'))
      assert.equal(
        readFileSync(join(dump, 'vzdump-qemu-100-2026_01_10-02_00_00.vma.zst.notes'), 'utf8'),
        'home-assistant on pve1',
      )
    }
  }
  for (const r of results) {
    assert.equal(r.status, 'success', JSON.stringify(r.warnings))
  }
  // Run 1: two new archives, hashed; names are Berlin local time (UTC+1), createdAt is the UTC instant.
  const first = results[0]!
  assert.deepEqual(first.copies.map((c) => c.name).sort(), [
    'vzdump-lxc-200-2026_01_10-02_00_02.tar.zst',
    'vzdump-qemu-100-2026_01_10-02_00_00.vma.zst',
  ])
  const vm = first.copies.find((c) => c.asset.id === 'vm/100')!
  assert.equal(vm.createdAt, '2026-01-10T01:00:00.000Z')
  assert.deepEqual(vm.asset, { kind: 'vm', id: 'vm/100', name: 'home-assistant' })
  assert.equal(vm.verification.state, 'verified')
  assert.equal(vm.checksum?.value, createHash('sha256').update(firstBytes).digest('hex'))
  assert.equal(vm.bytes, firstBytes.length)
  assert.equal(
    first.bytes,
    first.copies.reduce((s, c) => s + (c.bytes ?? 0), 0),
  )
  // Progress: job percent over two guests, ending at 100.
  assert.ok(progress.includes(25 / 2) && progress.includes(100), progress.join(','))
  // Run 3: keep last 2 → the day-1 archives are deleted, with the rule that decided it, companions too.
  const third = results[2]!
  assert.equal(third.deleted.length, 2)
  assert.deepEqual(third.deleted.map((d) => d.name).sort(), [
    'vzdump-lxc-200-2026_01_10-02_00_02.tar.zst',
    'vzdump-qemu-100-2026_01_10-02_00_00.vma.zst',
  ])
  assert.ok(third.deleted.every((d) => d.rule.length > 0))
  assert.equal(third.copies.length, 4)
  const left = readdirSync(dump)
  assert.ok(!left.some((f) => f.includes('2026_01_10')), left.join(' '))
  assert.ok(left.includes('vzdump-qemu-100-2026_01_12-02_00_00.log'))
})

test('a failing guest makes the run partial with a coded error; the other guest still counts', async (t) => {
  const { env, ctx } = setup(t)
  const job = createVzdumpJob(resolveVzdumpJob(base, 'UTC'))
  const now = Date.UTC(2026, 5, 1, 0, 0, 0) / 1000
  const r = await job.run(
    ctx(
      fakeExec(env(now, { FAKE_VZDUMP_FAIL: '200=unable to open file - No space left on device' })),
      new Date((now + 60) * 1000),
    ),
  )
  assert.equal(r.status, 'partial')
  assert.equal(r.error?.code, 'BK_ERR_GUEST_BACKUP_FAILED')
  assert.match(r.error!.message, /200: unable to open file - No space left on device/)
  assert.deepEqual(
    r.copies.map((c) => c.asset.id),
    ['vm/100'],
  )
  // Summer: Berlin is UTC+2.
  assert.equal(r.copies[0]!.name, 'vzdump-qemu-100-2026_06_01-02_00_00.vma.zst')
})

test('PBS target: snapshot names in UTC, reported unverified (PBS verify owns it)', async (t) => {
  const { env, ctx } = setup(t)
  const job = createVzdumpJob(
    resolveVzdumpJob({ ...base, storage: 'pbs1', retention: undefined, guests: [100] }, 'UTC'),
  )
  const now = Date.UTC(2026, 2, 11, 8, 51, 30) / 1000
  const r = await job.run(ctx(fakeExec(env(now)), new Date((now + 60) * 1000)))
  assert.equal(r.status, 'success')
  assert.equal(r.copies.length, 1)
  assert.equal(r.copies[0]!.name, 'vm/100/2026-03-11T08:51:30Z')
  assert.deepEqual(r.copies[0]!.location, { kind: 'pbs', target: 'pbs1' })
  assert.equal(r.copies[0]!.verification.state, 'unverified')
})

test("inventory lists this node's guests (no templates) and coverage follows the selection", async (t) => {
  const { env, ctx } = setup(t)
  const resolved = resolveVzdumpJob({ ...base, pveNode: 'pve1' }, 'UTC')
  const assets = await createVzdumpJob(resolved).inventory!(ctx(fakeExec(env(0)), new Date()))
  assert.deepEqual(
    assets.map((a) => a.id),
    ['vm/100', 'vm/101', 'ct/200'],
  )
  assert.equal(coversGuest(resolved, { vmid: 101 }), false)
  assert.equal(
    coversGuest(resolveVzdumpJob({ ...base, guests: undefined, all: true, exclude: [101] }, 'UTC'), { vmid: 101 }),
    false,
  )
  assert.equal(
    coversGuest(resolveVzdumpJob({ ...base, guests: undefined, pool: 'infra' }, 'UTC'), { vmid: 200, pool: 'infra' }),
    true,
  )
})

test('config: exactly one selection and one target; notes need a storage; a retention that keeps nothing', () => {
  const bad: [Partial<VzdumpJobInput>, RegExp][] = [
    [{ all: true }, /exactly one of/],
    [{ storage: undefined }, /storage\/dumpdir/],
    [{ storage: undefined, dumpdir: '/d', notesTemplate: 'x' }, /notes-template only together with --storage/],
    [{ retention: { keep: { last: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } } }, /every keep count is 0/],
    [{ guests: undefined, pool: 'p', exclude: [1] }, /only applies with `all: true`/],
  ]
  for (const [over, re] of bad) {
    assert.throws(() => resolveVzdumpJob({ ...base, ...over } as VzdumpJobInput, 'UTC'), re)
  }
  assert.equal(existsSync(join(fakes, 'vzdump')), true)
})

test('vzdump refuses its arguments (exit 255, no guest): failed, with the command in the message', async (t) => {
  const { env, ctx } = setup(t)
  // 999 is not a guest on this node: vzdump logs the error and exits 255 with "job errors".
  const job = createVzdumpJob(resolveVzdumpJob({ ...base, guests: [999] }, 'UTC'))
  const r = await job.run(ctx(fakeExec(env(Date.UTC(2026, 0, 1) / 1000)), new Date()))
  assert.equal(r.status, 'failed')
  assert.equal(r.error?.code, 'BK_ERR_GUEST_BACKUP_FAILED')
  assert.deepEqual(r.copies, [])
})
