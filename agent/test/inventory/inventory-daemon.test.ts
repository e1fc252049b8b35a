import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { BackstopError, type InventoryBody } from '@backstop/shared'
import { runCli } from '../../src/cli/program.ts'
import type { Exec, ExecResult } from '../../src/exec/exec.ts'
import { createInventoryReporter, INVENTORY_RESEND_MS } from '../../src/inventory/inventory-reporter.ts'
import { harness } from '../cli/cli-harness.ts'
import { memoryLog } from '../exec/memory-log.ts'
import { FakeClock, settle } from '../scheduler/fake-clock.ts'
import { waitFor } from '../../../test/support/wait-for.ts'

const fixture = (p: string): string => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8')

/** The node's tools as recorded; `zfs list` answers what the test says the pool has now. Others are not installed. */
function nodeTools(datasets: { now: string }): Exec & { zfsLists: number } {
  const answers: Record<string, () => string> = {
    findmnt: () => fixture('inventory/findmnt-J-l.json'),
    lsblk: () => fixture('inventory/lsblk-J-b.json'),
    zfs: () => datasets.now,
  }
  const tools = {
    zfsLists: 0,
    async run(argv: readonly string[]): Promise<ExecResult> {
      const answer = answers[argv[0]!]
      if (answer === undefined) {
        throw new BackstopError('BK_ERR_EXEC_SPAWN', `"${argv[0]}" not found (test node)`)
      }
      if (argv[0] === 'zfs') {
        tools.zfsLists++
      }
      return { argv, exitCode: 0, signal: null, stdout: answer(), stderr: '', durationMs: 1, truncated: false }
    },
    pipeline: () => Promise.reject(new Error('no pipelines on the test node')),
  }
  return tools
}

describe('run (daemon) reports its inventory', () => {
  it('at start-up, then again only when it changed (checked every 15 min on the injected clock)', async (t) => {
    const h = harness(t, 'role: hypervisor\n')
    const datasets = { now: 'tank\ntank/data\n' }
    const tools = nodeTools(datasets)
    const deps = {
      ...h.deps,
      createExec: () => tools,
      createSystemInfo: () => ({ diskLayout: async () => [], fsSize: async () => [] }),
    }
    const sent = (): InventoryBody[] =>
      h.runtime.emitted.filter((e) => e.kind === 'inventory').map((e) => e.body as unknown as InventoryBody)
    const done = runCli(['run', '--config', h.config], deps)
    await waitFor(() => sent().length > 0, { what: 'the start-up inventory', timeoutMs: 30_000 })
    const first = sent()[0]!
    assert.equal(first.at, '2026-03-01T12:00:00.000Z')
    assert.equal(first.role, 'hypervisor')
    assert.deepEqual(
      first.assets.map((a) => [a.asset.kind, a.asset.id, a.coveredBy]),
      [
        ['file-set', 'fileset:etc', ['etc']],
        ['host-image', 'host/test-host', []],
        ['zfs-dataset', 'tank', []],
        ['zfs-dataset', 'tank/data', []],
      ],
    )
    // 12:15: the same inventory — looked at, not sent.
    await h.clock.advanceTo('2026-03-01T12:15:00Z')
    await waitFor(
      async () => {
        await settle()
        return tools.zfsLists >= 2
      },
      { what: 'the 12:15 inventory check', timeoutMs: 30_000 },
    )
    await settle()
    assert.equal(sent().length, 1, 'an unchanged inventory is not sent again')
    // A new dataset appears: the 12:30 check sends it.
    datasets.now = 'tank\ntank/data\ntank/new\n'
    await h.clock.advanceTo('2026-03-01T12:30:00Z')
    await waitFor(
      async () => {
        await settle()
        return sent().length >= 2
      },
      { what: 'the changed inventory at 12:30', timeoutMs: 30_000 },
    )
    h.signal()
    const code = await done
    assert.equal(code, 0)
    assert.equal(sent().length, 2)
    assert.equal(sent()[1]!.at, '2026-03-01T12:30:00.000Z')
    assert.ok(sent()[1]!.assets.some((a) => a.asset.id === 'tank/new' && a.coveredBy.length === 0))
  })
})

describe('inventory reporter', () => {
  it('resends an unchanged inventory a day after the last send; sends nothing when it fails', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z')
    const emitted: InventoryBody[] = []
    let fail = false
    const reporter = createInventoryReporter({
      collect: async () => {
        if (fail) {
          throw new Error('zfs list: I/O error')
        }
        return { at: clock.now().toISOString(), assets: [] }
      },
      emit: async (b) => emitted.push(b),
      clock,
      log: memoryLog('info').log,
    })
    assert.equal(await reporter.check(), 'sent')
    await clock.advanceTo(new Date(Date.parse('2026-03-01T00:00:00Z') + INVENTORY_RESEND_MS - 1))
    assert.equal(await reporter.check(), 'unchanged')
    fail = true
    await clock.advanceTo('2026-03-02T00:00:00Z')
    assert.equal(await reporter.check(), 'failed')
    fail = false
    assert.equal(await reporter.check(), 'sent')
    assert.deepEqual(
      emitted.map((b) => b.at),
      ['2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z'],
    )
  })
})
