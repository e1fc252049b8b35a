import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, it, type TestContext } from 'node:test'
import { immutableUntil } from '@backstop/shared'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { describeStorage, storageSpecOf } from '../../agent/src/jobs/job-storage.ts'
import { resolveResticJob, type ResticJobInput } from '../../agent/src/jobs/restic/config.ts'
import { createResticJob } from '../../agent/src/jobs/restic/restic-job.ts'
import { probeObjectLock } from '../../agent/src/jobs/restic/s3-lock-probe.ts'
import { StorageProber } from '../../agent/src/storage/probe.ts'
import { createBucket, motoReady, startLockHidingProxy, startMoto } from '../support/moto.ts'
import { requirePlatform } from '../support/platform.ts'
import { tempDir } from '../support/processes.ts'
import { jobContext, silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

/**
 * The S3 object-lock probe against moto's S3 server — an EMULATOR implementing the object-lock API, not a real S3
 * server (no real one with object lock installs here: env-feasibility-wave2.md §3) — and real restic 0.14 backing up
 * over `s3:` to it. Each test starts its own moto on a loopback port.
 */
const run = promisify(execFile)
const exec = new NodeExec({ log: silentLog, killGraceMs: 500 })
const KEYS = { AWS_ACCESS_KEY_ID: 'backstop-test', AWS_SECRET_ACCESS_KEY: 'backstop-test-secret' }

function ready(t: TestContext, withRestic: boolean): boolean {
  return requirePlatform(t, { commands: withRestic ? ['restic', 'moto_server'] : ['moto_server'], checks: [motoReady] })
}

/** A restic job on `s3:<endpoint>/<bucket>/repo`, its keys in a 0600 envFile (as an operator configures it). */
function jobInput(t: TestContext, endpoint: string, bucket: string): ResticJobInput {
  const dir = tempDir(t, 'bk-s3-job-')
  const envFile = join(dir, 'restic.env')
  writeFileSync(
    envFile,
    `AWS_ACCESS_KEY_ID=${KEYS.AWS_ACCESS_KEY_ID}\nAWS_SECRET_ACCESS_KEY=${KEYS.AWS_SECRET_ACCESS_KEY}\n`,
    {
      mode: 0o600,
    },
  )
  const passwordFile = join(dir, 'password')
  writeFileSync(passwordFile, 'pw-s3-object-lock\n', { mode: 0o600 })
  const src = join(dir, 'data')
  mkdirSync(src)
  writeFileSync(join(src, 'a.bin'), Buffer.alloc(100_000, 3))
  return {
    kind: 'restic',
    name: 'offsite-s3',
    paths: [src],
    repository: { url: `s3:${endpoint}/${bucket}/repo`, site: 'cloud', envFile },
    password: { file: passwordFile },
    retention: { keep: { last: 5 } },
    checkGroups: 2,
  }
}

/** Asynchronously: the lock-hiding proxy runs in this process, and a blocking spawn would starve it. */
async function resticInit(t: TestContext, input: ResticJobInput): Promise<void> {
  const home = tempDir(t, 'bk-s3-home-')
  const password = (input.password as { file: string }).file
  await run('restic', ['-r', input.repository.url, '--password-file', password, 'init'], {
    env: { PATH: process.env['PATH'], HOME: home, RESTIC_CACHE_DIR: join(home, 'cache'), ...KEYS },
    timeout: 120_000,
  })
}

function probe(moto: { endpoint: string }, bucket: string): ReturnType<typeof probeObjectLock> {
  const url = `s3:${moto.endpoint}/${bucket}/repo`
  const cfg = resolveResticJob(
    { kind: 'restic', name: 'p', paths: ['/srv'], repository: { url }, password: { file: '/nonexistent' } },
    'UTC',
  )
  return probeObjectLock(cfg, KEYS, new Date())
}

describe('restic on S3 with object lock (moto, an emulator)', () => {
  it('COMPLIANCE: copies count object-lock until retain-until; headers hidden: BK_ERR_IMMUTABILITY_LOST', async (t) => {
    if (!ready(t, true)) {
      return
    }
    const moto = await startMoto(t)
    await createBucket(moto, 'locked-repo', { lock: true, retention: { mode: 'COMPLIANCE', days: 30 } })
    const proxy = await startLockHidingProxy(t, moto)
    const input = jobInput(t, proxy.endpoint, 'locked-repo')
    await resticInit(t, input)
    const cfg = resolveResticJob(input, 'UTC')
    const job = createResticJob(cfg)
    const clock = new TestClock(new Date())
    const ctx = jobContext(t, clock, exec)

    const first = await job.run(ctx)
    assert.equal(first.status, 'success', JSON.stringify(first.error))
    assert.equal(first.copies.length, 1)
    const imm = first.immutability?.[0]?.immutability
    assert.equal(imm?.kind, 'object-lock')
    assert.match(
      imm?.detail ?? '',
      /was refused \(403 AccessDenied\) with this node's credentials; it is locked COMPLIANCE/,
    )
    const until = Date.parse(imm?.retainUntil ?? '')
    const thirtyDays = clock.now().getTime() + 30 * 86_400_000
    assert.ok(
      Math.abs(until - thirtyDays) < 120_000,
      `retain-until ${imm?.retainUntil} is the default 30 days from now`,
    )
    const described = await describeStorage(first, storageSpecOf(cfg), new StorageProber(exec, 'test-node', 'home'))
    const storage = described.copies[0]!.storage!
    assert.equal(storage.immutability?.kind, 'object-lock')
    assert.equal(storage.immutability?.retainUntil, imm?.retainUntil)
    assert.deepEqual(immutableUntil(storage, clock.now().getTime()), { immutable: true, until })
    assert.equal(first.copies[0]!.verification.state, 'verified')

    // The same bucket, its lock headers hidden: deletes are still refused, but nothing proves a lock any more.
    proxy.hideLockHeaders = true
    clock.advance(60_000)
    const second = await job.run({ ...ctx, runId: 'run-2' })
    assert.equal(second.status, 'partial')
    assert.equal(second.error?.code, 'BK_ERR_IMMUTABILITY_LOST')
    assert.match(second.error?.message ?? '', /carries no x-amz-object-lock-mode/)
    assert.match(second.error?.message ?? '', /last proven object-locked at /)
    assert.equal(second.immutability, undefined)
    assert.equal(second.copies.length, 2, 'restic still backs up; only the immutability claim is withdrawn')
  })

  it('no object lock: the canary version is deleted with the node credentials, nothing immutable', async (t) => {
    if (!ready(t, false)) {
      return
    }
    const moto = await startMoto(t)
    await createBucket(moto, 'plain-versioned', { versioned: true })
    await createBucket(moto, 'plain-unversioned')
    const versioned = await probe(moto, 'plain-versioned')
    assert.equal(versioned.state, 'deletable')
    assert.match(
      versioned.detail,
      /DELETE of version \S+ of the canary repo\/backstop-lock-canary\/[0-9a-f]{32} was accepted \(204\)/,
    )
    const unversioned = await probe(moto, 'plain-unversioned')
    assert.equal(unversioned.state, 'deletable')
    assert.match(unversioned.detail, /the bucket is not versioned \(no x-amz-version-id\), so no object lock/)
  })

  it('lock headers hidden by a gateway: the refused delete proves nothing, the state is unknown', async (t) => {
    if (!ready(t, false)) {
      return
    }
    const moto = await startMoto(t)
    await createBucket(moto, 'locked-hidden', { lock: true, retention: { mode: 'COMPLIANCE', days: 1 } })
    const proxy = await startLockHidingProxy(t, moto)
    proxy.hideLockHeaders = true
    const r = await probe(proxy, 'locked-hidden')
    assert.equal(r.state, 'unknown')
    assert.match(
      r.detail,
      /was refused \(403 AccessDenied\), but it carries no x-amz-object-lock-mode\/-retain-until-date headers/,
    )
    assert.match(r.detail, /not counted immutable$/)
  })

  it('GOVERNANCE retention that the node credentials can bypass is not immutable', async (t) => {
    if (!ready(t, false)) {
      return
    }
    const moto = await startMoto(t)
    await createBucket(moto, 'governed', { lock: true, retention: { mode: 'GOVERNANCE', days: 1 } })
    const r = await probe(moto, 'governed')
    assert.equal(r.state, 'deletable')
    assert.match(
      r.detail,
      /refused \(403 AccessDenied\), but with x-amz-bypass-governance-retention it was deleted: GOVERNANCE until/,
    )
  })
})
