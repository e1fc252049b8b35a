import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { Exec, ExecResult } from '../../agent/src/exec/exec.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { resolveResticJob, type ResticJobInput } from '../../agent/src/jobs/restic/config.ts'
import { createResticJob } from '../../agent/src/jobs/restic/restic-job.ts'
import { requirePlatform } from '../support/platform.ts'
import { tempDir } from '../support/processes.ts'
import { resticCli, resticReady, startResticServer, type TestResticServer } from '../support/restic-server.ts'
import { jobContext, silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

/**
 * Operating an offsite restic repository over a real REST server (`rclone serve restic`, loopback): the job's time
 * window keeps runs outside it off the link entirely, and `bandwidth:` reaches restic as its upload/download limit.
 */
const node = new NodeExec({ log: silentLog, killGraceMs: 500 })

/** The real exec, recording every argv it is asked to run and every result (with the Exec seam's own timing). */
function recording(): { exec: Exec; argvs: string[][]; results: ExecResult[] } {
  const argvs: string[][] = []
  const results: ExecResult[] = []
  const exec: Exec = {
    run: async (argv, opts) => {
      argvs.push([...argv])
      const r = await node.run(argv, opts)
      results.push(r)
      return r
    },
    pipeline: (stages, opts) => {
      argvs.push(...stages.map((s) => [...s]))
      return node.pipeline(stages, opts)
    },
  }
  return { exec, argvs, results }
}

async function setup(t: TestContext, bytes: number): Promise<{ server: TestResticServer; src: string; home: string }> {
  const server = await startResticServer(t, { appendOnly: false })
  const home = tempDir(t, 'bk-restic-home-')
  resticCli(server, ['init'], home)
  const src = join(tempDir(t, 'bk-restic-src-'), 'data')
  mkdirSync(src)
  // Random bytes: restic cannot deduplicate them away, so every byte crosses the link.
  writeFileSync(join(src, 'file.bin'), randomBytes(bytes))
  return { server, src, home }
}

function input(server: TestResticServer, src: string, over: Partial<ResticJobInput>): ResticJobInput {
  return {
    kind: 'restic',
    name: 'offsite',
    paths: [src],
    repository: { url: server.url },
    password: { file: server.passwordFile },
    checkGroups: 0,
    ...over,
  }
}

const snapshotCount = (server: TestResticServer, home: string): number =>
  (JSON.parse(resticCli(server, ['snapshots', '--json'], home)) as unknown[]).length

function ready(t: TestContext): boolean {
  return requirePlatform(t, { commands: ['restic', 'rclone'], checks: [resticReady] })
}

describe('restic operations', () => {
  it('window 01:00-05:00: a day-time run never touches the repository; 02:00 backs up', async (t) => {
    if (!ready(t)) {
      return
    }
    const { server, src, home } = await setup(t, 100_000)
    const job = createResticJob(
      resolveResticJob(input(server, src, { schedule: '0 2 * * *', window: '01:00-05:00' }), 'UTC'),
    )
    const day = recording()
    const skipped = await job.run(jobContext(t, new TestClock(new Date('2026-12-04T09:30:00Z')), day.exec))
    assert.deepEqual(day.argvs, [], 'no restic (and no probe) outside the window')
    assert.equal(skipped.status, 'success')
    assert.deepEqual(skipped.copies, [])
    assert.deepEqual(skipped.warnings, [
      `${server.url}: outside its window 01:00-05:00 (UTC), not attempted; the next run from ` +
        '2026-12-05T01:00:00.000Z backs up',
    ])
    assert.equal(snapshotCount(server, home), 0)

    const night = await job.run(jobContext(t, new TestClock(new Date('2026-12-05T02:00:00Z')), node))
    assert.equal(night.status, 'success', JSON.stringify(night.error))
    assert.equal(night.copies.length, 1)
    assert.equal(snapshotCount(server, home), 1)
  })

  it('bandwidth 1M: restic gets --limit-upload/--limit-download 1024; 3 MiB take over 2 s', async (t) => {
    if (!ready(t)) {
      return
    }
    const { server, src, home } = await setup(t, 3 * 2 ** 20)
    const job = createResticJob(resolveResticJob(input(server, src, { bandwidth: '1M' }), 'UTC'))
    const rec = recording()
    const r = await job.run(jobContext(t, new TestClock(new Date()), rec.exec))
    assert.equal(r.status, 'success', JSON.stringify(r.error))
    const backup = rec.results.find((x) => x.argv.includes('backup'))
    assert.ok(backup, `argvs: ${JSON.stringify(rec.argvs)}`)
    const limits = (flag: string): string | undefined => backup.argv[backup.argv.indexOf(flag) + 1]
    assert.deepEqual([limits('--limit-upload'), limits('--limit-download')], ['1024', '1024'])
    // restic's limiter lets one second of the rate through at once: 3 MiB at 1 MiB/s need two more seconds at least
    // (unlimited, this backup takes under a second here).
    const seconds = backup.durationMs / 1000
    assert.ok(seconds > 2, `the limited backup took ${seconds.toFixed(2)} s`)
    assert.equal(snapshotCount(server, home), 1)
  })
})
