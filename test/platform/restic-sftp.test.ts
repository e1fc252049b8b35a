import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { describeStorage, storageSpecOf } from '../../agent/src/jobs/job-storage.ts'
import { resolveResticJob, type ResticJobInput } from '../../agent/src/jobs/restic/config.ts'
import { sftpCommand } from '../../agent/src/jobs/restic/restic-cli.ts'
import { createResticJob } from '../../agent/src/jobs/restic/restic-job.ts'
import { StorageProber } from '../../agent/src/storage/probe.ts'
import { requirePlatform } from '../support/platform.ts'
import { tempDir } from '../support/processes.ts'
import { secondHost, type SecondHost } from '../support/netns.ts'
import { resticReady } from '../support/restic-server.ts'
import { sshdReady, startSshd, type TestSshd } from '../support/sshd.ts'
import { jobContext, silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

/**
 * restic over SFTP to a real OpenSSH server (on a second host, a network namespace, or on loopback; own port and
 * host key; the user's key is forced to sftp-server), through the shared ssh layer's pinned options: the backup
 * works, the copy is on that host at the repository's site, an sftp repository is never counted immutable, and a
 * changed host key is BK_ERR_SSH_HOST_KEY.
 */
const exec = new NodeExec({ log: silentLog, killGraceMs: 500 })

function ready(t: TestContext): boolean {
  return requirePlatform(t, {
    root: true,
    commands: ['restic', '/usr/lib/openssh/sftp-server', 'ip', 'nsenter'],
    checks: [resticReady, sshdReady],
  })
}

interface Setup {
  sshd: TestSshd
  repo: string
  src: string
  password: string
  /** Where sshd listens: 127.0.0.1, or the second host's address. */
  host: string
}

function input({ sshd, repo, src, password, host }: Setup, knownHosts: string): ResticJobInput {
  return {
    kind: 'restic',
    name: 'sftp-offsite',
    paths: [src],
    repository: {
      url: `sftp:root@${host}:${repo}`,
      site: 'nas-room',
      ssh: { identity: sshd.identity, knownHosts, port: sshd.port },
    },
    password: { file: password },
    checkGroups: 2,
  }
}

async function setup(t: TestContext, on?: SecondHost): Promise<Setup> {
  const sshd = await startSshd(t, '/usr/lib/openssh/sftp-server', on)
  const host = on?.address ?? '127.0.0.1'
  const dir = tempDir(t, 'bk-restic-sftp-')
  const repo = join(dir, 'repo')
  const src = join(dir, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'dump.vma.zst'), Buffer.alloc(150_000, 9))
  const password = join(dir, 'password')
  writeFileSync(password, 'sftp-pw\n', { mode: 0o600 })
  const cfg = resolveResticJob(input({ sshd, repo, src, password, host }, sshd.knownHosts), 'UTC')
  const init = spawnSync(
    'restic',
    [
      '-r',
      cfg.repository.url,
      '--password-file',
      password,
      '-o',
      `sftp.command=${sftpCommand(cfg.repository.ssh!)}`,
      'init',
    ],
    { encoding: 'utf8', env: { ...process.env, HOME: dir } },
  )
  assert.equal(init.status, 0, init.stderr)
  return { sshd, repo, src, password, host }
}

describe('restic over sftp (OpenSSH, pinned host key)', () => {
  it('backs up through sshd; the copy is on that host at the repository site; sftp is never immutable', async (t) => {
    if (!ready(t)) {
      return
    }
    // A NAS on the LAN: sshd on a second host (a network namespace), not on loopback (which is this machine).
    const nas = secondHost(t)
    const s0 = await setup(t, nas)
    const i = input(s0, s0.sshd.knownHosts)
    const r = await createResticJob(resolveResticJob(i, 'UTC')).run(jobContext(t, new TestClock(new Date()), exec))
    assert.equal(r.status, 'success', JSON.stringify(r.error))
    assert.equal(r.copies.length, 1)
    assert.equal(r.copies[0]!.verification.state, 'verified')
    assert.equal(r.immutability, undefined)
    assert.ok(r.warnings.some((w) => /sftp repository cannot be probed for append-only/.test(w)))
    const d = await describeStorage(r, storageSpecOf(resolveResticJob(i, 'UTC')), new StorageProber(exec, 'n', 'home'))
    const s = d.copies[0]!.storage!
    assert.equal(s.host, nas.address)
    assert.equal(s.site, 'nas-room')
    assert.match(s.repository ?? '', /^restic:[0-9a-f]{64}$/)
    assert.equal(s.immutability, undefined)
  })

  it('a host key that differs from the pinned one is BK_ERR_SSH_HOST_KEY; nothing is sent', async (t) => {
    if (!ready(t)) {
      return
    }
    const s0 = await setup(t)
    const { repo } = s0
    const i = input(s0, s0.sshd.wrongKnownHosts)
    try {
      await createResticJob(resolveResticJob(i, 'UTC')).run(jobContext(t, new TestClock(new Date()), exec))
      assert.fail('expected BK_ERR_SSH_HOST_KEY')
    } catch (e) {
      assert.ok(isBackstopError(e), String(e))
      assert.equal(e.code, 'BK_ERR_SSH_HOST_KEY', e.message)
      assert.match(e.message, /does not match the pinned one/)
    }
    assert.deepEqual(readdirSync(join(repo, 'snapshots')), [], 'no snapshot reached the repository')
  })
})
