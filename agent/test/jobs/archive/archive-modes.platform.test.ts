import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { setDataFileGroup } from '@backstop/node-io'
import { readAsNobody, throwawayGroup } from '../../../../test/support/throwaway-group.ts'
import { NodeExec } from '../../../src/exec/node-exec.ts'
import { createArchiveJob } from '../../../src/jobs/archive/archive-job.ts'
import { resolveArchiveJob } from '../../../src/jobs/archive/config.ts'
import type { JobContext } from '../../../src/jobs/job.ts'
import { memoryLog } from '../../exec/memory-log.ts'
import { FakeClock } from '../../scheduler/fake-clock.ts'

const modeOf = (path: string): string => `0${(statSync(path).mode & 0o777).toString(8)}`

/** A manual run of the job on this machine, its state under `root`. */
function jobContext(root: string): JobContext {
  return {
    node: 'pve1',
    runId: 'r1',
    trigger: 'manual',
    exec: new NodeExec({ log: memoryLog().log }),
    clock: new FakeClock('2026-02-01T10:00:00Z'),
    log: memoryLog().log,
    signal: new AbortController().signal,
    stateDir: join(root, 'state'),
    progress: () => {},
  }
}

function asNobody(argv: readonly string[]): ReturnType<typeof spawnSync> {
  return spawnSync('runuser', ['-u', 'nobody', '--', ...argv], { encoding: 'utf8' })
}

/**
 * The attack of the review: the destination directory already exists as 0755 (under a path everyone may
 * traverse), the umask is the usual 022, and the archived tree holds a 0600 secret. An ordinary user must not be
 * able to read the archive, its manifest, or extract the secret from it.
 */
test('archive: copy and manifest 0600 in a pre-existing 0755 dir; nobody cannot extract a secret', async (t) => {
  if (process.getuid?.() !== 0) {
    assert.notEqual(process.env.CI, 'true', 'CI runs platform tests as root')
    t.skip('needs root: runuser -u nobody checks what an ordinary user can read')
    return
  }
  const previous = process.umask(0o022)
  t.after(() => process.umask(previous))
  const root = mkdtempSync(join(tmpdir(), 'bk-archive-modes-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  chmodSync(root, 0o755)
  const src = join(root, 'etc-secret')
  mkdirSync(src)
  writeFileSync(join(src, 'authkey.key'), 'the-secret\n', { mode: 0o600 })
  const dest = join(root, 'backups')
  mkdirSync(dest, { mode: 0o755 })
  chmodSync(dest, 0o755)
  const control = join(dest, 'readable-control.txt')
  writeFileSync(control, 'public\n', { mode: 0o644 })

  const job = createArchiveJob(
    resolveArchiveJob({ kind: 'archive', name: 'secrets', paths: [src], destination: dest, media: 'usb' }, 'UTC'),
  )
  const result = await job.run(jobContext(root))
  assert.equal(result.status, 'success', JSON.stringify(result.error))

  // The control proves the test can see a failure: nobody can reach into the destination and read a 0644 file.
  assert.equal(asNobody(['cat', control]).status, 0, 'nobody must be able to traverse to the destination')
  const archive = readdirSync(dest).find((n) => n.endsWith('.tar.gz'))
  assert.ok(archive, `no archive in ${dest}: ${readdirSync(dest).join(', ')}`)
  for (const f of [archive, `${archive}.sha256`]) {
    assert.equal(modeOf(join(dest, f)), '0600', f)
    const read = asNobody(['cat', join(dest, f)])
    assert.notEqual(read.status, 0, `nobody read ${f}`)
    assert.match(String(read.stderr), /Permission denied/)
  }
  const extract = asNobody(['tar', '--extract', '--gzip', '--to-stdout', '--file', join(dest, archive)])
  assert.notEqual(extract.status, 0)
  assert.doesNotMatch(String(extract.stdout), /the-secret/)
  assert.equal(modeOf(dest), '0755', 'the operator-made directory is left as it was')
})

test('archive: a destination the job creates is 0700', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bk-archive-modes-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const previous = process.umask(0)
  t.after(() => process.umask(previous))
  const src = join(root, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'a.txt'), 'a\n')
  const dest = join(root, 'new-dest')
  const job = createArchiveJob(
    resolveArchiveJob({ kind: 'archive', name: 'small', paths: [src], destination: dest, media: 'usb' }, 'UTC'),
  )
  assert.equal((await job.run(jobContext(root))).status, 'success')
  assert.equal(modeOf(dest), '0700')
  const files = readdirSync(dest)
  assert.deepEqual(
    files.map((f) => [f, modeOf(join(dest, f))]),
    files.map((f) => [f, '0600']),
    'umask 0 must not widen copies or manifests',
  )
})

/**
 * Issue 12 (file modes, "0640 with a group from config"): with the agent's `group:` set, an archive copy and its
 * manifest are 0640 owned by that group and a destination the job creates is 0750 (under umask 0): a member of
 * the group (a backup reader) can read the copy, any other user still cannot.
 */
test('archive with group: copy and manifest 0640 owned by the group in a created 0750 destination', async (t) => {
  const group = throwawayGroup(t)
  if (!group) {
    return
  }
  const previous = process.umask(0)
  setDataFileGroup(group)
  t.after(() => {
    process.umask(previous)
    setDataFileGroup(undefined)
  })
  const root = mkdtempSync(join(tmpdir(), 'bk-archive-group-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  chmodSync(root, 0o755)
  const src = join(root, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'authkey.key'), 'the-secret\n', { mode: 0o600 })
  const dest = join(root, 'new-dest')
  const job = createArchiveJob(
    resolveArchiveJob({ kind: 'archive', name: 'small', paths: [src], destination: dest, media: 'usb' }, 'UTC'),
  )
  const result = await job.run(jobContext(root))
  assert.equal(result.status, 'success', JSON.stringify(result.error))
  assert.equal(statSync(dest).mode & 0o777, 0o750, 'the destination the job created')
  assert.equal(statSync(dest).gid, group.gid)
  const files = readdirSync(dest)
  const archive = files.find((n) => n.endsWith('.tar.gz'))
  assert.ok(archive && files.includes(`${archive}.sha256`), `archive and manifest in ${dest}: ${files.join(', ')}`)
  for (const f of [archive, `${archive}.sha256`]) {
    assert.equal(modeOf(join(dest, f)), '0640', f)
    assert.equal(statSync(join(dest, f)).gid, group.gid, `${f} belongs to the group`)
    assert.ok(readAsNobody(join(dest, f), group.gid).ok, `a member of the group reads ${f}`)
    assert.equal(readAsNobody(join(dest, f)).ok, false, `a user outside the group cannot read ${f}`)
  }
})
