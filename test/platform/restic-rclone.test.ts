import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { describeStorage, storageSpecOf } from '../../agent/src/jobs/job-storage.ts'
import { resolveResticJob, type ResticJobInput } from '../../agent/src/jobs/restic/config.ts'
import { createResticJob } from '../../agent/src/jobs/restic/restic-job.ts'
import { StorageProber } from '../../agent/src/storage/probe.ts'
import { requirePlatform } from '../support/platform.ts'
import { tempDir } from '../support/processes.ts'
import { resticReady } from '../support/restic-server.ts'
import { jobContext, silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

/**
 * restic on its `rclone:` backend (Debian's restic starts Debian's rclone), with the rclone config named in the
 * job's envFile as an operator would: a remote called "offsite" that is an alias of a directory on this machine.
 * Its name promises another place; the copy must be probed as the directory it is, on this host's disks.
 */
const exec = new NodeExec({ log: silentLog, killGraceMs: 500 })

test('an rclone: repository aliasing a local directory is this host’s storage, not another host', async (t) => {
  if (!requirePlatform(t, { root: true, commands: ['restic', 'rclone'], checks: [resticReady] })) {
    return
  }
  const dir = tempDir(t, 'bk-restic-rclone-')
  const store = join(dir, 'store')
  const src = join(dir, 'src')
  mkdirSync(store)
  mkdirSync(src)
  writeFileSync(join(src, 'config.tar'), Buffer.alloc(120_000, 7))
  const rcloneConf = join(dir, 'rclone.conf')
  writeFileSync(rcloneConf, `[offsite]\ntype = alias\nremote = ${store}\n`, { mode: 0o600 })
  const envFile = join(dir, 'restic.env')
  writeFileSync(envFile, `RCLONE_CONFIG=${rcloneConf}\n`, { mode: 0o600 })
  const password = join(dir, 'password')
  writeFileSync(password, 'rclone-pw\n', { mode: 0o600 })
  const url = 'rclone:offsite:restic'
  const init = spawnSync('restic', ['-r', url, '--password-file', password, 'init'], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'], HOME: dir, RCLONE_CONFIG: rcloneConf },
  })
  assert.equal(init.status, 0, init.stderr)
  const input: ResticJobInput = {
    kind: 'restic',
    name: 'rclone-offsite',
    paths: [src],
    repository: { url, site: 'offsite', envFile },
    password: { file: password },
    checkGroups: 2,
  }
  const cfg = resolveResticJob(input, 'UTC')
  const r = await createResticJob(cfg).run(jobContext(t, new TestClock(new Date()), exec))
  assert.equal(r.status, 'success', JSON.stringify([r.error, r.warnings]))
  assert.equal(r.copies.length, 1)
  assert.deepEqual(r.placed, [{ at: url, place: { kind: 'path', path: join(store, 'restic') } }])
  const prober = new StorageProber(exec, 'pve1', 'home')
  const d = await describeStorage(r, storageSpecOf(cfg), prober)
  const storage = d.copies[0]!.storage!
  const here = (await prober.probe({ kind: 'path', path: store })).storage
  assert.equal(storage.host, 'pve1', 'the repository is on this node')
  assert.deepEqual(storage.devices, here.devices, 'on the disks beneath the aliased directory')
  assert.ok(storage.devices.length > 0)
  assert.equal(storage.repository, undefined, 'a directory, not a repository elsewhere')
})
