import assert from 'node:assert/strict'
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
  const ctx: JobContext = {
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
  const result = await job.run(ctx)
  assert.equal(result.status, 'success', JSON.stringify(result.error))
  assert.equal(statSync(dest).mode & 0o777, 0o750, 'the destination the job created')
  assert.equal(statSync(dest).gid, group.gid)
  const files = readdirSync(dest)
  const archive = files.find((n) => n.endsWith('.tar.gz'))
  assert.ok(archive && files.includes(`${archive}.sha256`), `archive and manifest in ${dest}: ${files.join(', ')}`)
  for (const f of [archive, `${archive}.sha256`]) {
    assert.equal(statSync(join(dest, f)).mode & 0o777, 0o640, f)
    assert.equal(statSync(join(dest, f)).gid, group.gid, `${f} belongs to the group`)
    assert.ok(readAsNobody(join(dest, f), group.gid).ok, `a member of the group reads ${f}`)
    assert.equal(readAsNobody(join(dest, f)).ok, false, `a user outside the group cannot read ${f}`)
  }
})
