import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import type { Exec } from '../../src/exec/exec.ts'
import { NodeExec } from '../../src/exec/node-exec.ts'
import type { JobContext } from '../../src/jobs/job.ts'
import { resolveRearJob } from '../../src/jobs/rear/config.ts'
import { saveInventory } from '../../src/jobs/rear/inventory.ts'
import { createRearJob } from '../../src/jobs/rear/rear-job.ts'
import { resolveVzdumpJob } from '../../src/jobs/vzdump/config.ts'
import { ChecksumStore, sha256File } from '../../src/jobs/vzdump/files.ts'
import { createVzdumpJob } from '../../src/jobs/vzdump/vzdump-job.ts'
import { memoryLog } from '../exec/memory-log.ts'

/**
 * reverify-copy / restore-test of the vzdump and rear kinds: real compressors and hashes on temp files, rear's stick
 * through FixtureExec.
 */
function temp(t: TestContext, prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

function ctxOf(exec: Exec, stateDir: string): JobContext {
  return {
    node: 'pve1',
    runId: 'c1',
    trigger: 'command',
    exec,
    log: memoryLog().log,
    signal: new AbortController().signal,
    stateDir,
    clock: { now: () => new Date('2026-11-22T02:00:00Z'), sleepUntil: async () => {} },
    progress: () => {},
  }
}

function flipByte(path: string): void {
  const fd = openSync(path, 'r+')
  try {
    writeSync(fd, Buffer.from([0xff]), 0, 1, Math.floor(statSync(path).size / 2))
  } finally {
    closeSync(fd)
  }
}

describe('vzdump reverify-copy (real zstd/gzip, recorded sha256)', () => {
  const setup = async (t: TestContext, ext: 'zst' | 'gz', record: boolean) => {
    const root = temp(t, 'bk-vzchk-')
    const dump = join(root, 'dump')
    const state = join(root, 'state')
    mkdirSync(dump)
    mkdirSync(state)
    const raw = join(dump, 'vzdump-qemu-100-2026_11_22-01_00_00.vma')
    writeFileSync(raw, randomBytes(200 * 1024))
    const tool = ext === 'zst' ? ['zstd', '-q', '--rm', raw] : ['gzip', raw]
    assert.equal(spawnSync(tool[0]!, tool.slice(1)).status, 0)
    const archive = `${raw}.${ext}`
    writeFileSync(join(dump, 'vzdump-qemu-100-2026_11_22-01_00_00.log'), 'INFO: Finished Backup of VM 100\n')
    if (record) {
      const sums = await ChecksumStore.open(state)
      const h = await sha256File(archive)
      sums.set(archive, { sha256: h.sha256, bytes: h.bytes, at: '2026-11-22T01:05:00.000Z' })
      await sums.save()
    }
    const job = createVzdumpJob(
      resolveVzdumpJob(
        { kind: 'vzdump', name: 'guests', guests: [100], dumpdir: dump, media: 'hdd', nodeTimezone: 'UTC' },
        'UTC',
      ),
    )
    return { archive, dump, state, job, ctx: ctxOf(new NodeExec({ log: memoryLog().log }), state) }
  }

  it('a good zstd archive: sha256 matches, zstd --test reads it, .log present', async (t) => {
    const s = await setup(t, 'zst', true)
    const r = await s.job.verifyCopy!(s.ctx, `vzdump:${s.archive}`)
    assert.equal(r.result, 'ok', JSON.stringify(r))
    assert.deepEqual(
      r.checks.map((c) => c.split(' ')[0]),
      ['sha256', 'zstd', 'vzdump-qemu-100-2026_11_22-01_00_00.log'],
    )
    assert.equal(r.bytes, statSync(s.archive).size)
  })

  it('one flipped byte: the recorded sha256 no longer matches → BK_ERR_VERIFY_FAILED', async (t) => {
    const s = await setup(t, 'zst', true)
    flipByte(s.archive)
    const r = await s.job.verifyCopy!(s.ctx, `vzdump:${s.archive}`)
    assert.equal(r.result, 'failed')
    assert.equal(r.error?.code, 'BK_ERR_VERIFY_FAILED')
    assert.match(r.error!.message, /sha256 .* differs from/)
  })

  it('no recorded checksum: the compressor test alone catches a corrupted gzip stream', async (t) => {
    const s = await setup(t, 'gz', false)
    const ok = await s.job.verifyCopy!(s.ctx, `vzdump:${s.archive}`)
    assert.equal(ok.result, 'ok', JSON.stringify(ok))
    assert.match(ok.checks[0]!, /no sha256 recorded/)
    flipByte(s.archive)
    const bad = await s.job.verifyCopy!(s.ctx, `vzdump:${s.archive}`)
    assert.equal(bad.result, 'failed')
    assert.equal(bad.error?.code, 'BK_ERR_VERIFY_FAILED')
    assert.match(bad.error!.message, /gz test of .*`gzip --test/)
  })

  it('missing .log, missing archive, foreign ids, PBS copies and restore-test: each coded', async (t) => {
    const s = await setup(t, 'zst', true)
    rmSync(join(s.dump, 'vzdump-qemu-100-2026_11_22-01_00_00.log'))
    const noLog = await s.job.verifyCopy!(s.ctx, `vzdump:${s.archive}`)
    assert.equal(noLog.error?.code, 'BK_ERR_VERIFY_FAILED')
    assert.match(noLog.error!.message, /\.log is missing/)
    rmSync(s.archive)
    assert.equal((await s.job.verifyCopy!(s.ctx, `vzdump:${s.archive}`)).error?.code, 'BK_ERR_COPY_NOT_FOUND')
    for (const id of [
      `vzdump:${s.dump}/vzdump-qemu-999-2026_11_22-01_00_00.vma.zst`,
      'vzdump:/etc/vzdump-qemu-100-2026_11_22-01_00_00.vma.zst',
      `archive:${s.archive}`,
    ]) {
      await assert.rejects(
        s.job.verifyCopy!(s.ctx, id),
        (e) => isBackstopError(e) && e.code === 'BK_ERR_COPY_NOT_FOUND',
        id,
      )
    }
    await assert.rejects(
      s.job.verifyCopy!(s.ctx, 'pbs:pbs1:vm/100/2026-11-22T01:00:00Z'),
      (e) => isBackstopError(e) && e.code === 'BK_ERR_CMD_UNSUPPORTED' && /PBS verify jobs/.test(e.message),
    )
    await assert.rejects(
      s.job.restoreTest!(s.ctx, undefined),
      (e) => isBackstopError(e) && e.code === 'BK_ERR_CMD_UNSUPPORTED' && /kind vzdump.*qmrestore/.test(e.message),
    )
  })
})

describe('rear reverify-copy (stick through FixtureExec, run dirs and hashes real)', () => {
  const UUID = '2a4c1b6e-7d1f-4f53-9b0e-0f3f9c1d2e3a'
  const setup = async (t: TestContext, opts: { stick?: boolean; recorded?: 'right' | 'wrong' } = {}) => {
    const state = temp(t, 'bk-rearchk-')
    const run = join(state, 'mnt', 'rear', 'vm', '20261115.0200')
    mkdirSync(run, { recursive: true })
    const raw = join(run, 'backup.tar')
    writeFileSync(raw, randomBytes(64 * 1024))
    assert.equal(spawnSync('gzip', [raw]).status, 0)
    const file = `${raw}.gz`
    const h = await sha256File(file)
    await saveInventory(state, {
      [UUID]: {
        fsUuid: UUID,
        label: 'REAR-000',
        lastSeen: '2026-11-15T03:00:00.000Z',
        runs: [
          {
            name: 'rear/vm/20261115.0200',
            createdAt: '2026-11-15T02:00:00.000Z',
            sha256: opts.recorded === 'wrong' ? 'b'.repeat(64) : h.sha256,
            bytes: h.bytes,
            verifiedAt: '2026-11-15T02:31:00.000Z',
          },
        ],
      },
    })
    const blkid = `DEVNAME=/dev/sdb1\nUUID=${UUID}\nLABEL=REAR-000\nTYPE=ext4\n`
    const exec = new FixtureExec(
      opts.stick === false
        ? [{ argv: ['blkid', '-c', '/dev/null', '-o', 'export', '-t', 'LABEL=REAR-000'], exitCode: 2 }]
        : [
            { argv: ['blkid', '-c', '/dev/null', '-o', 'export', '-t', 'LABEL=REAR-000'], stdout: blkid },
            { argv: ['mount', '-o', 'rw,nodev,nosuid,noexec', '/dev/sdb1', join(state, 'mnt')] },
            ...(opts.recorded === 'wrong' ? [] : [{ argv: ['gzip', '--test', file] }]),
            { argv: ['umount', join(state, 'mnt')] },
          ],
    )
    const job = createRearJob(
      resolveRearJob({ kind: 'rear', name: 'rescue', rearHostname: 'vm', nodeTimezone: 'UTC' }, 'UTC'),
    )
    return { exec, job, ctx: ctxOf(exec, state), file }
  }

  it('the run on the attached stick matches the sha256 recorded after writing; stick unmounted again', async (t) => {
    const s = await setup(t)
    const r = await s.job.verifyCopy!(s.ctx, `rear:${UUID}:rear/vm/20261115.0200`)
    s.exec.assertAllUsed()
    assert.equal(r.result, 'ok', JSON.stringify(r))
    assert.ok(
      r.checks.some((c) => /matches the one recorded after writing/.test(c)),
      r.checks.join('\n'),
    )
  })

  it('a different hash on the stick → BK_ERR_VERIFY_FAILED; still unmounted', async (t) => {
    const s = await setup(t, { recorded: 'wrong' })
    const r = await s.job.verifyCopy!(s.ctx, `rear:${UUID}:rear/vm/20261115.0200`)
    s.exec.assertAllUsed()
    assert.equal(r.error?.code, 'BK_ERR_VERIFY_FAILED')
    assert.match(readFileSync(s.file).subarray(0, 2).toString('hex'), /^1f8b/, 'the archive itself was not touched')
  })

  it('stick not attached → BK_ERR_USB_MEDIUM_MISSING (offline is not corrupt); restore-test refused', async (t) => {
    const s = await setup(t, { stick: false })
    await assert.rejects(
      s.job.verifyCopy!(s.ctx, `rear:${UUID}:rear/vm/20261115.0200`),
      (e) => isBackstopError(e) && e.code === 'BK_ERR_USB_MEDIUM_MISSING',
    )
    await assert.rejects(
      s.job.verifyCopy!(s.ctx, `rear:${UUID}:rear/othernode/20261115.0200`),
      (e) => isBackstopError(e) && e.code === 'BK_ERR_COPY_NOT_FOUND',
    )
    await assert.rejects(
      s.job.restoreTest!(s.ctx, undefined),
      (e) => isBackstopError(e) && e.code === 'BK_ERR_CMD_UNSUPPORTED' && /boots a machine/.test(e.message),
    )
  })
})
