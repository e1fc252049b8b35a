import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { describeStorage, storageSpecOf } from '../../agent/src/jobs/job-storage.ts'
import type { JobResult } from '../../agent/src/jobs/job.ts'
import { resolveResticJob, type ResticJobInput } from '../../agent/src/jobs/restic/config.ts'
import { ResticRepo } from '../../agent/src/jobs/restic/restic-cli.ts'
import { createResticJob } from '../../agent/src/jobs/restic/restic-job.ts'
import { forgetConfirmed, listJobSnapshots } from '../../agent/src/jobs/restic/retention.ts'
import { StorageProber } from '../../agent/src/storage/probe.ts'
import { requirePlatform } from '../support/platform.ts'
import { freePort, tempDir } from '../support/processes.ts'
import { resticCli, resticReady, startResticServer, type TestResticServer } from '../support/restic-server.ts'
import { jobContext, silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

/**
 * Real restic 0.14 against a real REST server (`rclone serve restic`, loopback, its own directory and port): the
 * append-only probe, immutability that follows the probe on every run, retention applied by forget + prune and
 * confirmed by listing.
 */
const exec = new NodeExec({ log: silentLog, killGraceMs: 500 })

function sources(t: TestContext): { dir: string; digest: () => string } {
  const dir = join(tempDir(t, 'bk-restic-src-'), 'data')
  mkdirSync(dir)
  writeFileSync(join(dir, 'a.bin'), Buffer.alloc(200_000, 7))
  writeFileSync(join(dir, 'b.txt'), 'hello\n')
  const digest = (): string =>
    createHash('sha256')
      .update(readFileSync(join(dir, 'a.bin')))
      .update(readFileSync(join(dir, 'b.txt')))
      .digest('hex')
  return { dir, digest }
}

function jobInput(server: TestResticServer, src: string, over: Partial<ResticJobInput> = {}): ResticJobInput {
  return {
    kind: 'restic',
    name: 'offsite',
    paths: [src],
    repository: { url: server.url, site: 'offsite-a' },
    password: { file: server.passwordFile },
    retention: { keep: { last: 1 } },
    checkGroups: 3,
    ...over,
  }
}

async function withStorage(r: JobResult, input: ResticJobInput): ReturnType<typeof describeStorage> {
  const cfg = resolveResticJob(input, 'UTC')
  return describeStorage(r, storageSpecOf(cfg), new StorageProber(exec, 'test-node', 'home'))
}

function ready(t: TestContext): boolean {
  return requirePlatform(t, { commands: ['restic', 'rclone'], checks: [resticReady] })
}

describe('restic repository behind rclone serve restic', () => {
  // The probe passes and the copies count immutable; the agent never forgets there, and its own forget is refused.
  // Served without --append-only, the next run flips them back with BK_ERR_IMMUTABILITY_LOST.
  it('append-only: proven, copies immutable, forget refused; without it, BK_ERR_IMMUTABILITY_LOST', async (t) => {
    if (!ready(t)) {
      return
    }
    const port = await freePort()
    const server = await startResticServer(t, { appendOnly: true, port })
    const home = tempDir(t, 'bk-restic-home-')
    resticCli(server, ['init'], home)
    const src = sources(t)
    const before = src.digest()
    const input = jobInput(server, src.dir)
    const job = createResticJob(resolveResticJob(input, 'UTC'))
    const clock = new TestClock(new Date())
    const ctx = jobContext(t, clock, exec)

    const first = await job.run(ctx)
    assert.equal(first.status, 'success', JSON.stringify(first.error))
    assert.equal(first.copies.length, 1)
    assert.equal(first.immutability?.[0]?.immutability.kind, 'append-only')
    assert.match(first.immutability?.[0]?.immutability.detail ?? '', /refused \(403\)/)
    const described = await withStorage(first, input)
    const storage = described.copies[0]!.storage!
    assert.equal(storage.immutability?.kind, 'append-only')
    // Served from 127.0.0.1: this machine's storage at this node's site, whatever the config's site says.
    assert.equal(storage.host, 'test-node')
    assert.equal(storage.site, 'home')
    assert.match(described.warnings.join('\n'), /served from this host \(127\.0\.0\.1\)/)
    assert.match(storage.repository ?? '', /^restic:[0-9a-f]{64}$/)
    assert.equal(first.copies[0]!.verification.state, 'verified')
    assert.match(first.copies[0]!.verification.method ?? '', /read-data-subset=1\/3/)

    clock.advance(60_000)
    const second = await job.run({ ...ctx, runId: 'run-2' })
    assert.equal(second.status, 'success', JSON.stringify(second.error))
    assert.equal(second.copies.length, 2, 'keep last 1, but nothing is deleted from an append-only repository')
    assert.deepEqual(second.deleted, [])
    assert.ok(second.warnings.some((w) => /append-only: this node cannot delete there/.test(w)))
    assert.match(second.copies.find((c) => c.runId === 'run-2')?.verification.method ?? '', /subset=2\/3/)

    // The agent's own forget, with its own credentials: refused, and the listing afterwards proves it.
    const repo = await ResticRepo.open(exec, resolveResticJob(input, 'UTC'), ctx.stateDir)
    const oldest = (await listJobSnapshots(repo, 'offsite', 60_000)).at(-1)!
    const refused = await forgetConfirmed(repo, 'offsite', [oldest.id], 8_000)
    assert.deepEqual(refused.gone, [])
    assert.deepEqual(refused.kept, [oldest.id])
    assert.notEqual(refused.error, null)

    // The same repository served without --append-only: not immutable any more, and said so.
    server.stop()
    await startResticServer(t, { appendOnly: false, port, dir: server.dir, passwordFile: server.passwordFile })
    clock.advance(60_000)
    const third = await job.run({ ...ctx, runId: 'run-3' })
    assert.equal(third.status, 'partial')
    assert.equal(third.error?.code, 'BK_ERR_IMMUTABILITY_LOST')
    assert.match(third.error?.message ?? '', /accepted \(404\)/)
    assert.equal(third.immutability, undefined)
    const after = await withStorage(third, input)
    assert.ok(after.copies.every((c) => c.storage !== undefined && c.storage.immutability === undefined))
    // Deletable now, so our retention applies: keep last 1, the two older snapshots forgotten and confirmed gone.
    assert.equal(third.copies.length, 1)
    assert.equal(third.deleted.length, 2)
    assert.equal((await listJobSnapshots(repo, 'offsite', 60_000)).length, 1)
    // The lost proof stays an error on every run until the probe passes again (the alert keeps firing).
    clock.advance(60_000)
    const fourth = await job.run({ ...ctx, runId: 'run-4' })
    assert.equal(fourth.error?.code, 'BK_ERR_IMMUTABILITY_LOST')
    assert.match(fourth.error?.message ?? '', /last proven append-only at /)
    assert.equal(src.digest(), before, 'the sources are untouched')
  })

  it('a normal repository: no immutability proven; retention forgets and the listing confirms it', async (t) => {
    if (!ready(t)) {
      return
    }
    const server = await startResticServer(t, { appendOnly: false })
    resticCli(server, ['init'], tempDir(t, 'bk-restic-home-'))
    const src = sources(t)
    const input = jobInput(server, src.dir)
    const job = createResticJob(resolveResticJob(input, 'UTC'))
    const clock = new TestClock(new Date())
    const ctx = jobContext(t, clock, exec)
    const first = await job.run(ctx)
    assert.equal(first.status, 'success', JSON.stringify(first.error))
    assert.equal(first.immutability, undefined)
    clock.advance(60_000)
    const second = await job.run({ ...ctx, runId: 'run-2' })
    assert.equal(second.status, 'success', JSON.stringify(second.error))
    assert.equal(second.copies.length, 1)
    assert.equal(second.copies[0]!.runId, 'run-2')
    assert.equal(second.deleted.length, 1)
    assert.equal(second.deleted[0]!.copyId, first.copies[0]!.copyId)
    const described = await withStorage(second, input)
    assert.equal(described.copies[0]!.storage?.immutability, undefined)
  })
})
