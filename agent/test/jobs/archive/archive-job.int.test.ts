import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { Compile } from 'typebox/compile'
import { Copy, DeletedCopy, isBackstopError } from '@backstop/shared'
import type { Exec, ExecOpts, ExecResult } from '../../../src/exec/exec.ts'
import { NodeExec } from '../../../src/exec/node-exec.ts'
import { createArchiveJob } from '../../../src/jobs/archive/archive-job.ts'
import { resolveArchiveJob, type ArchiveJobInput } from '../../../src/jobs/archive/config.ts'
import type { JobContext } from '../../../src/jobs/job.ts'
import { memoryLog } from '../../exec/memory-log.ts'
import { FakeClock } from '../../scheduler/fake-clock.ts'

const checkCopy = Compile(Copy)
const checkDeleted = Compile(DeletedCopy)

interface Env {
  src: string
  dest: string
  clock: FakeClock
  ctx: (exec?: Exec) => JobContext
}

function env(t: TestContext): Env {
  const root = mkdtempSync(join(tmpdir(), 'bk-archive-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const src = join(root, 'etc-pve')
  mkdirSync(join(src, 'nodes', 'pve1'), { recursive: true })
  mkdirSync(join(src, 'priv'))
  writeFileSync(join(src, 'storage.cfg'), 'dir: local\n\tpath /var/lib/vz\n')
  writeFileSync(join(src, 'nodes', 'pve1', 'qemu-101.conf'), 'memory: 2048\n')
  writeFileSync(join(src, 'priv', 'authkey.key'), 'secret\n')
  writeFileSync(join(src, 'debug.log'), 'noise\n')
  const clock = new FakeClock('2026-02-01T10:00:00Z')
  const realExec = new NodeExec({ log: memoryLog().log })
  const ctx = (exec: Exec = realExec): JobContext => ({
    node: 'pve1',
    runId: 'r1',
    trigger: 'manual',
    exec,
    clock,
    log: memoryLog().log,
    signal: new AbortController().signal,
    stateDir: join(root, 'state'),
    progress: () => {},
  })
  return { src, dest: join(root, 'backups'), clock, ctx }
}

function job(e: Env, over: Partial<ArchiveJobInput> = {}) {
  return createArchiveJob(
    resolveArchiveJob(
      {
        kind: 'archive',
        name: 'pve-config',
        paths: [e.src],
        destination: e.dest,
        media: 'usb',
        offline: true,
        ...over,
      },
      'UTC',
    ),
  )
}

function archivesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.tar.gz'))
    .sort()
}

function tarList(file: string): string[] {
  const r = spawnSync('tar', ['--list', '--gzip', '--file', file], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return r.stdout.trim().split('\n')
}

/** Delegates to the real tar except for the argv it overrides (a broken disk, a failing tar). */
function overriding(inner: Exec, match: (argv: readonly string[]) => boolean, result: Partial<ExecResult>): Exec {
  return {
    run: async (argv: readonly string[], opts?: ExecOpts) =>
      match(argv)
        ? { argv, exitCode: 0, signal: null, stdout: '', stderr: '', durationMs: 0, truncated: false, ...result }
        : inner.run(argv, opts),
    pipeline: (stages, opts) => inner.pipeline(stages, opts),
  }
}

describe('archive job (real GNU tar on temp dirs)', () => {
  it('writes <job>-<UTC>.tar.gz with a sha256sum manifest, verified, honouring excludes', async (t) => {
    const e = env(t)
    const r = await job(e, { exclude: ['*.log', `${e.src}/priv`] }).run(e.ctx())
    assert.equal(r.status, 'success', JSON.stringify(r))
    assert.deepEqual(readdirSync(e.dest).sort(), [
      'pve-config-20260201T100000Z.tar.gz',
      'pve-config-20260201T100000Z.tar.gz.sha256',
    ])
    const file = join(e.dest, 'pve-config-20260201T100000Z.tar.gz')
    const check = spawnSync('sha256sum', ['-c', 'pve-config-20260201T100000Z.tar.gz.sha256'], {
      cwd: e.dest,
      encoding: 'utf8',
    })
    assert.equal(check.status, 0, `sha256sum -c: ${check.stdout}${check.stderr}`)
    const members = tarList(file)
    const rel = e.src.slice(1)
    assert.ok(members.includes(`${rel}/storage.cfg`))
    assert.ok(members.includes(`${rel}/nodes/pve1/qemu-101.conf`))
    assert.ok(!members.some((m) => m.endsWith('.log')), 'excluded by glob')
    assert.ok(!members.some((m) => m.includes('/priv')), 'excluded by absolute path')

    assert.equal(r.copies.length, 1)
    const c = r.copies[0]!
    assert.ok(checkCopy.Check(c), JSON.stringify([...checkCopy.Errors(c)]))
    assert.deepEqual(c.asset, { kind: 'file-set', id: 'fileset:pve-config', name: e.src })
    assert.equal(c.copyId, `archive:${file}`)
    assert.equal(c.location.kind, 'dir')
    assert.equal(c.location.target, e.dest)
    assert.match(c.location.device?.id ?? '', /\d+:\d+/)
    assert.equal(c.media, 'usb')
    assert.equal(c.offline, true)
    assert.equal(c.offsite, false)
    assert.equal(c.createdAt, '2026-02-01T10:00:00.000Z')
    assert.equal(c.checksum?.value, readFileSync(`${file}.sha256`, 'utf8').split(' ')[0])
    assert.equal(c.verification.state, 'verified')
    assert.equal(r.bytes, c.bytes)
  })

  it('keep.last N (GFS engine): older ones deleted only after the new one verified, each with its rule', async (t) => {
    const e = env(t)
    const j = job(e, { retention: { keep: { last: 2 } } })
    for (let i = 0; i < 3; i++) {
      const r = await j.run(e.ctx())
      assert.equal(r.status, 'success')
      await e.clock.advance(3600_000)
    }
    const r = await j.run(e.ctx())
    assert.deepEqual(archivesIn(e.dest), ['pve-config-20260201T120000Z.tar.gz', 'pve-config-20260201T130000Z.tar.gz'])
    assert.ok(
      !existsSync(join(e.dest, 'pve-config-20260201T110000Z.tar.gz.sha256')),
      'the manifest goes with its archive',
    )
    assert.deepEqual(
      r.deleted.map((d) => d.name),
      ['pve-config-20260201T110000Z.tar.gz'],
    )
    assert.match(
      r.deleted[0]!.rule,
      /^kept by no rule; newer successful copy .*pve-config-20260201T130000Z\.tar\.gz kept$/,
    )
    assert.ok(r.deleted.every((d) => checkDeleted.Check(d)))
    assert.deepEqual(
      r.copies.map((c) => [c.name, c.verification.state]),
      [
        ['pve-config-20260201T130000Z.tar.gz', 'verified'],
        ['pve-config-20260201T120000Z.tar.gz', 'verified'],
      ],
    )
    const plan = await j.plan(e.ctx())
    assert.deepEqual(
      plan.map((p) => [p.name, p.action, p.reasons.join('; ')]),
      [
        ['pve-config-20260201T130000Z.tar.gz', 'keep', 'newest successful copy; last(2)'],
        ['pve-config-20260201T120000Z.tar.gz', 'keep', 'last(2)'],
      ],
    )
  })

  it('calendar classes apply to archives like to snapshots: daily keeps the first archive of each day', async (t) => {
    const e = env(t)
    const j = job(e, { retention: { keep: { last: 1, daily: 2 } } })
    for (const step of [0, 6, 18, 6]) {
      await e.clock.advance(step * 3600_000)
      assert.equal((await j.run(e.ctx())).status, 'success')
    }
    // Runs at 02-01 10:00, 16:00, 02-02 10:00, 16:00: the first of each of the last 2 days, plus the newest.
    assert.deepEqual(archivesIn(e.dest), [
      'pve-config-20260201T100000Z.tar.gz',
      'pve-config-20260202T100000Z.tar.gz',
      'pve-config-20260202T160000Z.tar.gz',
    ])
  })

  it('a corrupted newest archive does not count for a slot: the intact older one is kept', async (t) => {
    const e = env(t)
    const j = job(e, { retention: { keep: { last: 2 } } })
    await j.run(e.ctx()) // A 10:00
    await e.clock.advance(3600_000)
    await j.run(e.ctx()) // B 11:00, then corrupted on disk
    writeFileSync(join(e.dest, 'pve-config-20260201T110000Z.tar.gz'), 'bitrot')
    // Before the next run, plan over A + corrupted B: B is newest but failed, so A stays the newest good copy.
    const before = await j.plan(e.ctx())
    assert.deepEqual(
      before.map((p) => [p.name, p.action]),
      [
        ['pve-config-20260201T110000Z.tar.gz', 'keep'],
        ['pve-config-20260201T100000Z.tar.gz', 'keep'],
      ],
    )
    assert.match(before[1]!.reasons.join('; '), /newest successful copy/)
    await e.clock.advance(3600_000)
    const r = await j.run(e.ctx()) // C 12:00
    assert.equal(r.status, 'success')
    // keep.last 2 = the two newest *verified* archives, C and A; the old keep-last-N kept C + corrupted B.
    assert.deepEqual(archivesIn(e.dest), ['pve-config-20260201T100000Z.tar.gz', 'pve-config-20260201T120000Z.tar.gz'])
    assert.deepEqual(
      r.copies.map((c) => [c.name, c.verification.state]),
      [
        ['pve-config-20260201T120000Z.tar.gz', 'verified'],
        ['pve-config-20260201T100000Z.tar.gz', 'verified'],
      ],
    )
    assert.deepEqual(
      r.deleted.map((d) => d.name),
      ['pve-config-20260201T110000Z.tar.gz'],
    )
    assert.match(r.deleted[0]!.rule, /^failed copy; newer successful copy/)
    assert.match(r.warnings.join('\n'), /pve-config-20260201T110000Z\.tar\.gz: sha256 is [0-9a-f]{64}, manifest says/)
  })

  it('a failed verification keeps every older archive and fails with BK_ERR_VERIFY_FAILED', async (t) => {
    const e = env(t)
    await job(e, { retention: { keep: { last: 1 } } }).run(e.ctx())
    await e.clock.advance(60_000)
    const broken = overriding(e.ctx().exec, (a) => a[1] === '--list', {
      exitCode: 2,
      stderr: 'gzip: stdin: unexpected end of file\n',
    })
    const r = await job(e, { retention: { keep: { last: 1 } } }).run(e.ctx(broken))
    assert.equal(r.status, 'failed')
    assert.equal(r.error?.code, 'BK_ERR_VERIFY_FAILED')
    assert.equal(r.copies[0]?.verification.state, 'failed')
    assert.match(r.copies[0]?.verification.detail ?? '', /unexpected end of file/)
    assert.deepEqual(r.deleted, [])
    assert.ok(existsSync(join(e.dest, 'pve-config-20260201T100000Z.tar.gz')), 'the older good archive survives')
  })

  it('an older archive that rotted on disk is found by re-hashing and reported, not kept as a good copy', async (t) => {
    const e = env(t)
    const j = job(e)
    await j.run(e.ctx())
    writeFileSync(join(e.dest, 'pve-config-20260201T100000Z.tar.gz'), 'bitrot')
    await e.clock.advance(60_000)
    const r = await j.run(e.ctx())
    assert.deepEqual(
      r.deleted.map((d) => d.name),
      ['pve-config-20260201T100000Z.tar.gz'],
    )
    assert.match(r.warnings.join('\n'), /pve-config-20260201T100000Z\.tar\.gz: sha256 is .* manifest says/)
    assert.deepEqual(
      r.copies.map((c) => c.name),
      ['pve-config-20260201T100100Z.tar.gz'],
    )
  })

  it('a fatal tar error leaves no partial file and no new archive', async (t) => {
    const e = env(t)
    const failing = overriding(e.ctx().exec, (a) => a[1] === '--create', {
      exitCode: 2,
      stderr: 'tar: Error is not recoverable: exiting now\n',
    })
    await assert.rejects(
      job(e).run(e.ctx(failing)),
      (err) => isBackstopError(err, 'BK_ERR_EXEC_FAILED') && /not recoverable/.test(err.message),
    )
    assert.deepEqual(readdirSync(e.dest), [])
  })

  it('a missing source path gives a partial run naming it; all missing fails', async (t) => {
    const e = env(t)
    const r = await job(e, { paths: [e.src, '/nonexistent/backstop-test'] }).run(e.ctx())
    assert.equal(r.status, 'partial')
    assert.equal(r.error?.code, 'BK_ERR_SOURCE_MISSING')
    assert.match(r.error?.message ?? '', /\/nonexistent\/backstop-test/)
    assert.equal(r.copies[0]?.verification.state, 'verified')
    await assert.rejects(
      job(e, { paths: ['/nonexistent/a'] }).run(e.ctx()),
      (err) => isBackstopError(err, 'BK_ERR_SOURCE_MISSING') && /\/nonexistent\/a/.test(err.message),
    )
  })

  it('two runs in one second get distinct names; stale temp files of this job (only) are cleaned up', async (t) => {
    const e = env(t)
    mkdirSync(e.dest)
    writeFileSync(join(e.dest, '.pve-config-20260101T000000Z.tar.gz.partial'), 'torn')
    writeFileSync(join(e.dest, '.pve-config-extra-20260101T000000Z.tar.gz.partial'), 'another job, running')
    // Manifest temp files as writeFileDurable names them (`.<file>.<12 hex>.tmp`).
    writeFileSync(join(e.dest, '.pve-config-20260101T000000Z.tar.gz.sha256.0123456789ab.tmp'), 'torn')
    writeFileSync(join(e.dest, '.pve-config-extra-20260101T000000Z.tar.gz.sha256.0123456789ab.tmp'), 'running')
    const j = job(e)
    await j.run(e.ctx())
    const r = await j.run(e.ctx())
    assert.equal(r.copies[0]?.name, 'pve-config-20260201T100000Z-2.tar.gz')
    assert.deepEqual(readdirSync(e.dest).sort(), [
      '.pve-config-extra-20260101T000000Z.tar.gz.partial',
      '.pve-config-extra-20260101T000000Z.tar.gz.sha256.0123456789ab.tmp',
      'pve-config-20260201T100000Z-2.tar.gz',
      'pve-config-20260201T100000Z-2.tar.gz.sha256',
      'pve-config-20260201T100000Z.tar.gz',
      'pve-config-20260201T100000Z.tar.gz.sha256',
    ])
  })
})
