import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { it } from 'node:test'
import type { CliDeps } from '../src/cli/deps.ts'
import { harness } from './cli/cli-harness.ts'
import { settle } from './scheduler/fake-clock.ts'

/** The daemon's composition root (src/daemon.ts) builds its parts once: one Exec serves jobs and health reports. */
it('`run` creates exactly one Exec, used by the catch-up job run and the start-up disk.health report', async (t) => {
  const h = harness(t)
  let made = 0
  const real = h.deps.createExec
  ;(h.deps as { createExec: CliDeps['createExec'] }).createExec = (log) => {
    made++
    return real(log)
  }
  const state = join(h.dir, 'state', 'jobs')
  mkdirSync(state, { recursive: true })
  writeFileSync(join(state, 'etc.json'), JSON.stringify({ lastSlotAt: '2026-02-28T03:00:00.000Z' }))
  const done = h.cli('run', '--config', h.config)
  const seen = (kind: string): boolean => h.runtime.emitted.some((e) => e.kind === kind)
  for (let i = 0; i < 200 && !(seen('job.finished') && seen('disk.health')); i++) {
    await new Promise((r) => setTimeout(r, 50))
    await settle()
  }
  assert.ok(seen('job.finished'), 'the missed slot was caught up')
  assert.ok(seen('disk.health'), 'the start-up health report was sent')
  assert.equal(made, 1)
  h.signal()
  const r = await done
  assert.equal(r.code, 0, r.err)
})
