import assert from 'node:assert/strict'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  closeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import type { Exec } from '../../../src/exec/exec.ts'
import { NodeExec } from '../../../src/exec/node-exec.ts'
import { createArchiveJob } from '../../../src/jobs/archive/archive-job.ts'
import { resolveArchiveJob } from '../../../src/jobs/archive/config.ts'
import type { JobContext } from '../../../src/jobs/job.ts'
import { memoryLog } from '../../exec/memory-log.ts'
import { FakeClock } from '../../scheduler/fake-clock.ts'

/** reverify-copy and restore-test of the archive kind, on real tar archives in temp dirs. */
function setup(t: TestContext) {
  const root = mkdtempSync(join(tmpdir(), 'bk-archive-check-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const src = join(root, 'etc-pve')
  mkdirSync(join(src, 'nodes', 'pve1'), { recursive: true })
  writeFileSync(join(src, 'storage.cfg'), 'dir: local\n\tpath /var/lib/vz\n')
  writeFileSync(join(src, 'nodes', 'pve1', 'qemu-101.conf'), 'memory: 2048\n'.repeat(500))
  const clock = new FakeClock('2026-02-01T10:00:00Z')
  const stateDir = join(root, 'state')
  mkdirSync(stateDir)
  const exec = new NodeExec({ log: memoryLog().log })
  const ctx = (e: Exec = exec): JobContext => ({
    node: 'pve1',
    runId: 'r1',
    trigger: 'command',
    exec: e,
    clock,
    log: memoryLog().log,
    signal: new AbortController().signal,
    stateDir,
    progress: () => {},
  })
  const dest = join(root, 'backups')
  const job = createArchiveJob(
    resolveArchiveJob(
      {
        kind: 'archive',
        name: 'pve-config',
        paths: [src],
        destination: dest,
        media: 'usb',
        retention: { keep: { last: 5 } },
      },
      'UTC',
    ),
  )
  return { root, src, dest, clock, stateDir, ctx, job }
}

async function twoArchives(s: ReturnType<typeof setup>): Promise<{ older: string; newer: string }> {
  const r1 = await s.job.run(s.ctx())
  await s.clock.advance(3600_000)
  const r2 = await s.job.run(s.ctx())
  assert.equal(r1.status, 'success')
  assert.equal(r2.status, 'success')
  return { older: r1.copies[0]!.copyId, newer: r2.copies[0]!.copyId }
}

function corruptOneByte(path: string): void {
  const size = statSync(path).size
  const fd = openSync(path, 'r+')
  try {
    writeSync(fd, Buffer.from([0x5a]), 0, 1, Math.floor(size / 2))
  } finally {
    closeSync(fd)
  }
}

describe('archive reverify-copy / restore-test (real tar)', () => {
  it('re-verifies a good archive: sha256 against the manifest and tar --list', async (t) => {
    const s = setup(t)
    const { newer } = await twoArchives(s)
    const r = await s.job.verifyCopy!(s.ctx(), newer)
    assert.equal(r.result, 'ok', JSON.stringify(r))
    assert.equal(r.copyId, newer)
    assert.equal(r.method, 'sha256-manifest+tar-list')
    assert.equal(r.bytes, statSync(newer.slice('archive:'.length)).size)
    assert.match(r.checks[0]!, /matches .*\.sha256/)
    assert.equal(r.error, undefined)
  })

  it('one corrupted byte → failed with BK_ERR_VERIFY_FAILED naming the mismatch', async (t) => {
    const s = setup(t)
    const { older } = await twoArchives(s)
    corruptOneByte(older.slice('archive:'.length))
    const r = await s.job.verifyCopy!(s.ctx(), older)
    assert.equal(r.result, 'failed')
    assert.equal(r.error?.code, 'BK_ERR_VERIFY_FAILED')
    assert.match(r.error!.message, /does not match the manifest/)
  })

  it('archive deleted from disk → failed with BK_ERR_COPY_NOT_FOUND; a copy id of another job → throws', async (t) => {
    const s = setup(t)
    const { older } = await twoArchives(s)
    rmSync(older.slice('archive:'.length))
    const gone = await s.job.verifyCopy!(s.ctx(), older)
    assert.equal(gone.result, 'failed')
    assert.equal(gone.error?.code, 'BK_ERR_COPY_NOT_FOUND')
    for (const bad of [
      'zfs:tank/data@x',
      `archive:${s.dest}/other-job-20260201T100000Z.tar.gz`,
      'archive:/etc/passwd',
    ]) {
      await assert.rejects(
        s.job.verifyCopy!(s.ctx(), bad),
        (e) =>
          isBackstopError(e) &&
          e.code === 'BK_ERR_COPY_NOT_FOUND' &&
          /is not an archive of job "pve-config"/.test(e.message),
        bad,
      )
    }
  })

  it('restore-test without copyId extracts the newest archive, tar --diff matches, scratch removed', async (t) => {
    const s = setup(t)
    const { newer } = await twoArchives(s)
    const r = await s.job.restoreTest!(s.ctx(), undefined)
    assert.equal(r.result, 'ok', JSON.stringify(r))
    assert.equal(r.copyId, newer)
    assert.ok(
      r.checks.some((c) => /extracted 2 files, \d+ directories, \d+ bytes/.test(c)),
      r.checks.join('\n'),
    )
    assert.ok(r.checks.some((c) => c.startsWith('tar --diff: every restored file matches')))
    assert.deepEqual(readdirSync(s.stateDir), [], 'scratch directory removed')
  })

  it('restore-test picks the newest archive that still verifies when the newest is corrupt', async (t) => {
    const s = setup(t)
    const { older, newer } = await twoArchives(s)
    corruptOneByte(newer.slice('archive:'.length))
    const r = await s.job.restoreTest!(s.ctx(), undefined)
    assert.equal(r.result, 'ok')
    assert.equal(r.copyId, older)
    const named = await s.job.restoreTest!(s.ctx(), newer)
    assert.equal(named.result, 'failed')
    assert.equal(named.error?.code, 'BK_ERR_VERIFY_FAILED')
  })

  it('restore-test: restored files differ from archive → BK_ERR_RESTORE_TEST_FAILED; scratch removed', async (t) => {
    const s = setup(t)
    const { newer } = await twoArchives(s)
    const real = s.ctx().exec
    // tar extracts for real; then one restored file is changed before tar --diff compares (a lying disk).
    const tampering: Exec = {
      run: async (argv, opts) => {
        if (argv.includes('--diff')) {
          const dir = argv[argv.indexOf('--directory') + 1]!
          const file = join(dir, s.src.replace(/^\//, ''), 'storage.cfg')
          assert.ok(existsSync(file), `restored ${file}`)
          writeFileSync(file, 'dir: changed\n')
        }
        return real.run(argv, opts)
      },
      pipeline: (st, o) => real.pipeline(st, o),
    }
    const r = await s.job.restoreTest!(s.ctx(tampering), newer)
    assert.equal(r.result, 'failed', JSON.stringify(r))
    assert.equal(r.error?.code, 'BK_ERR_RESTORE_TEST_FAILED')
    assert.match(r.error!.message, /storage\.cfg/)
    assert.deepEqual(readdirSync(s.stateDir), [])
  })

  it("restore-test cleans scratch on abort and removes a crashed test's leftovers", async (t) => {
    const s = setup(t)
    const { newer } = await twoArchives(s)
    mkdirSync(join(s.stateDir, 'restore-test-crashed', 'x'), { recursive: true })
    const ac = new AbortController()
    const real = s.ctx().exec
    const aborting: Exec = {
      run: async (argv, opts) => {
        if (argv.includes('--extract')) {
          ac.abort(new Error('shutdown'))
          throw new Error('aborted')
        }
        return real.run(argv, opts)
      },
      pipeline: (st, o) => real.pipeline(st, o),
    }
    await assert.rejects(s.job.restoreTest!({ ...s.ctx(aborting), signal: ac.signal }, newer), /aborted/)
    assert.deepEqual(readdirSync(s.stateDir), [])
  })

  it('restore-test with no archive at all → BK_ERR_COPY_NOT_FOUND', async (t) => {
    const s = setup(t)
    await assert.rejects(
      s.job.restoreTest!(s.ctx(), undefined),
      (e) =>
        isBackstopError(e) &&
        e.code === 'BK_ERR_COPY_NOT_FOUND' &&
        /no archive in .* that verifies \(0 found\)/.test(e.message),
    )
  })
})
