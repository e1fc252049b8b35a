import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Compile } from 'typebox/compile'
import { DiskHealthBody } from '@backstop/shared'
import { harness } from '../cli/cli-harness.ts'
import { settle } from '../scheduler/fake-clock.ts'
import { waitFor } from '../../../test/support/wait-for.ts'

const check = Compile(DiskHealthBody)

describe('run (daemon) reports disk health', () => {
  it("at start-up and each interval, the archive destination's filesystem as backup target (real tools)", async (t) => {
    const h = harness(t, 'health: { intervalMinutes: 30 }\n')
    const reports = (): Record<string, unknown>[] =>
      h.runtime.emitted.filter((e) => e.kind === 'disk.health').map((e) => e.body)
    const done = h.cli('run', '--config', h.config)
    await waitFor(() => reports().length > 0, { what: 'the start-up disk.health report', timeoutMs: 30_000 })
    assert.equal(reports().length, 1, 'one report at start-up')
    // The harness clock starts at 12:00:00; the 12:30 slot is the next one.
    await h.clock.advanceTo('2026-03-01T12:30:00Z')
    await waitFor(
      async () => {
        await settle()
        return reports().length >= 2
      },
      { what: 'the 12:30 disk.health report', timeoutMs: 30_000 },
    )
    h.signal()
    const r = await done
    assert.equal(r.code, 0, r.err)
    assert.deepEqual(
      reports().map((b) => b['at']),
      ['2026-03-01T12:00:00.000Z', '2026-03-01T12:30:00.000Z'],
    )
    for (const body of reports()) {
      assert.ok(check.Check(body), JSON.stringify([...check.Errors(body)].slice(0, 3)))
    }
    const fs = reports()[0]!['filesystems'] as { mount: string; backupTarget: boolean }[]
    const target = fs.filter((f) => f.backupTarget).map((f) => f.mount)
    assert.equal(target.length, 1, JSON.stringify(fs))
    assert.ok(h.dest.startsWith(target[0] === '/' ? '/' : `${target[0]}/`), `${h.dest} is on ${target[0]}`)
  })
})
