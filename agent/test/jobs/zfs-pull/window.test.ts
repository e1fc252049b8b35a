import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FixtureExec } from '../../../src/exec/fixture-exec.ts'
import type { JobContext } from '../../../src/jobs/job.ts'
import { resolveZfsPullJob, type ZfsPullJobInput } from '../../../src/jobs/zfs-pull/config.ts'
import { createZfsPullJob } from '../../../src/jobs/zfs-pull/pull-job.ts'
import type { Log } from '../../../src/log.ts'

/** zfs-pull's `window:` (the pulls themselves run on real pools in test/platform/zfs-pull-faults.test.ts). */
const input: ZfsPullJobInput = {
  kind: 'zfs-pull',
  name: 'pull',
  schedule: '15 1 * * *',
  window: '01:00-05:00',
  source: { url: 'ssh://root@pve1:22', identity: '/k', knownHosts: '/kh', node: 'pve1' },
  datasets: ['tank/data'],
  dataset: 'backup/pulled',
  media: 'hdd',
}

const quiet = (): void => undefined
const log = { debug: quiet, info: quiet, warn: quiet, error: quiet } as unknown as Log

function context(exec: FixtureExec, now: string): JobContext {
  return {
    node: 'nas1',
    runId: 'r1',
    trigger: 'catch-up',
    exec,
    clock: { now: () => new Date(now), sleepUntil: () => Promise.reject(new Error('no sleeping in this test')) },
    log,
    signal: new AbortController().signal,
    stateDir: '/nonexistent/state',
    progress: quiet,
  }
}

test('zfs-pull window: every schedule slot must fall inside it; the first slot outside is named', () => {
  assert.equal(resolveZfsPullJob(input, 'UTC').window?.text, '01:00-05:00')
  assert.throws(
    () => resolveZfsPullJob({ ...input, schedule: '0 */6 * * *' }, 'UTC'),
    /jobs\.pull\.schedule: "0 \*\/6 \* \* \*" fires at 06:00, outside window 01:00-05:00 \(UTC\)/,
  )
})

test('zfs-pull outside its window: no command here or over ssh, nothing pruned, says when it opens', async () => {
  // An empty fixture set: any command at all would fail the run.
  const exec = new FixtureExec([])
  const r = await createZfsPullJob(resolveZfsPullJob(input, 'UTC')).run(context(exec, '2026-12-04T09:30:00Z'))
  assert.deepEqual(exec.calls, [])
  assert.equal(r.status, 'success')
  assert.deepEqual([r.copies, r.deleted], [[], []])
  assert.deepEqual(r.warnings, [
    'source pve1: outside its window 01:00-05:00 (UTC), not attempted; ' +
      'the next run from 2026-12-05T01:00:00.000Z pulls',
  ])
})
