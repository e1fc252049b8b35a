import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { resolveResticJob, type ResticJobInput } from '../../agent/src/jobs/restic/config.ts'
import { createResticJob } from '../../agent/src/jobs/restic/restic-job.ts'
import { requirePlatform } from '../support/platform.ts'
import { tempDir } from '../support/processes.ts'
import { resticCli, resticReady, startResticServer, type TestResticServer } from '../support/restic-server.ts'
import { waitFor } from '../support/wait-for.ts'
import { jobContext, silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

/**
 * Fault tests of the restic job against a real repository (`rclone serve restic` on loopback): each failure is its
 * own coded error naming the repository, the sources on the node are untouched, and the next good run succeeds.
 */
const exec = new NodeExec({ log: silentLog, killGraceMs: 500 })

function ready(t: TestContext): boolean {
  return requirePlatform(t, { commands: ['restic', 'rclone'], checks: [resticReady] })
}

async function setup(t: TestContext): Promise<{ server: TestResticServer; src: string; home: string }> {
  const server = await startResticServer(t, { appendOnly: false })
  const home = tempDir(t, 'bk-restic-home-')
  resticCli(server, ['init'], home)
  const src = join(tempDir(t, 'bk-restic-src-'), 'data')
  mkdirSync(src)
  writeFileSync(join(src, 'file.bin'), Buffer.alloc(100_000, 3))
  return { server, src, home }
}

function input(server: TestResticServer, src: string, password: ResticJobInput['password']): ResticJobInput {
  return { kind: 'restic', name: 'faults', paths: [src], repository: { url: server.url }, password, checkGroups: 0 }
}

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p
  } catch (e) {
    assert.ok(isBackstopError(e), `expected a coded error, got ${String(e)}`)
    return { code: e.code, message: e.message }
  }
  assert.fail('expected the run to fail')
}

describe('restic job faults', () => {
  it('a wrong password is BK_ERR_REPO_PASSWORD; the sources stay as they were', async (t) => {
    if (!ready(t)) {
      return
    }
    const { server, src } = await setup(t)
    const wrong = join(tempDir(t, 'bk-restic-pw-'), 'wrong')
    writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 })
    const before = readFileSync(join(src, 'file.bin'))
    const job = createResticJob(resolveResticJob(input(server, src, { file: wrong }), 'UTC'))
    const e = await codeOf(job.run(jobContext(t, new TestClock(new Date()), exec)))
    assert.equal(e.code, 'BK_ERR_REPO_PASSWORD')
    assert.match(e.message, new RegExp(`${server.url.replace(/[/.:]/g, '\\$&')}.*wrong password`))
    assert.deepEqual(readFileSync(join(src, 'file.bin')), before)
  })

  it('a password file readable by others is refused (BK_ERR_SECRET_FILE_MODE) before restic runs', async (t) => {
    if (!ready(t)) {
      return
    }
    const { server, src } = await setup(t)
    const loose = join(tempDir(t, 'bk-restic-pw-'), 'loose')
    copyFileSync(server.passwordFile, loose)
    chmodSync(loose, 0o644)
    const job = createResticJob(resolveResticJob(input(server, src, { file: loose }), 'UTC'))
    const e = await codeOf(job.run(jobContext(t, new TestClock(new Date()), exec)))
    assert.equal(e.code, 'BK_ERR_SECRET_FILE_MODE')
    assert.match(e.message, /mode 0644; run `chmod 600 /)
  })

  it('a systemd credential ($CREDENTIALS_DIRECTORY/<name>) is the password', async (t) => {
    if (!ready(t)) {
      return
    }
    const { server, src } = await setup(t)
    const creds = tempDir(t, 'bk-restic-creds-')
    copyFileSync(server.passwordFile, join(creds, 'restic.pw'))
    chmodSync(join(creds, 'restic.pw'), 0o400)
    const saved = process.env['CREDENTIALS_DIRECTORY']
    process.env['CREDENTIALS_DIRECTORY'] = creds
    t.after(() => {
      if (saved === undefined) {
        delete process.env['CREDENTIALS_DIRECTORY']
      } else {
        process.env['CREDENTIALS_DIRECTORY'] = saved
      }
    })
    const job = createResticJob(resolveResticJob(input(server, src, { credential: 'restic.pw' }), 'UTC'))
    const r = await job.run(jobContext(t, new TestClock(new Date()), exec))
    assert.equal(r.status, 'success', JSON.stringify(r.error))
    assert.equal(r.copies.length, 1)
  })

  it('an unreachable repository is BK_ERR_REPO_UNREACHABLE naming it; nothing local changes', async (t) => {
    if (!ready(t)) {
      return
    }
    const { server, src } = await setup(t)
    const job = createResticJob(resolveResticJob(input(server, src, { file: server.passwordFile }), 'UTC'))
    const ctx = jobContext(t, new TestClock(new Date()), exec)
    server.stop()
    await waitFor(
      () =>
        fetch(server.url.slice(5)).then(
          () => false,
          () => true,
        ),
      { what: 'the server to be gone' },
    )
    const e = await codeOf(job.run(ctx))
    assert.equal(e.code, 'BK_ERR_REPO_UNREACHABLE')
    assert.match(e.message, /connection refused.*nothing was changed locally/)
    assert.deepEqual(readdirSync(src), ['file.bin'])
  })

  it('locked by another restic: BK_ERR_REPO_LOCKED naming the holder; released, the next run succeeds', async (t) => {
    if (!ready(t)) {
      return
    }
    const { server, src, home } = await setup(t)
    resticCli(server, ['backup', src], home)
    // Another client's `restic check` holds the exclusive lock; stopped, it holds it as long as the test wants. On a
    // small repository the check may finish between its lock appearing and the SIGSTOP: then it is started again.
    const holder = await stoppedLockHolder(t, server, home)
    const exited = new Promise((resolve) => holder.on('exit', resolve))
    const job = createResticJob(resolveResticJob(input(server, src, { file: server.passwordFile }), 'UTC'))
    const ctx = jobContext(t, new TestClock(new Date()), exec)
    const e = await codeOf(job.run(ctx))
    assert.equal(e.code, 'BK_ERR_REPO_LOCKED')
    assert.match(e.message, new RegExp(`locked by PID ${holder.pid}`))
    holder.kill('SIGCONT')
    await exited
    const r = await job.run({ ...ctx, runId: 'run-after-lock' })
    assert.equal(r.status, 'success', JSON.stringify(r.error))
    assert.equal(r.copies.filter((c) => c.runId === 'run-after-lock').length, 1)
  })
})

/** A `restic check` stopped (SIGSTOP) while it holds the repository's exclusive lock; killed after the test. */
async function stoppedLockHolder(t: TestContext, server: TestResticServer, home: string) {
  for (let attempt = 1; ; attempt++) {
    const holder = spawn('restic', ['-r', server.url, '--password-file', server.passwordFile, 'check', '--read-data'], {
      stdio: 'ignore',
      env: { ...process.env, HOME: home, RESTIC_CACHE_DIR: join(home, 'cache') },
    })
    t.after(() => {
      holder.kill('SIGCONT')
      holder.kill('SIGKILL')
    })
    await waitFor(() => readdirSync(join(server.dir, 'locks')).length > 0 || holder.exitCode !== null, {
      what: 'the other restic to take its lock',
      intervalMs: 2,
    })
    holder.kill('SIGSTOP')
    if (holder.exitCode === null && readdirSync(join(server.dir, 'locks')).length > 0) {
      return holder
    }
    holder.kill('SIGKILL')
    if (attempt === 5) {
      throw new Error('restic check finished before it could be stopped holding its lock, five times')
    }
    await waitFor(() => readdirSync(join(server.dir, 'locks')).length === 0, { what: 'the finished check to unlock' })
  }
}
