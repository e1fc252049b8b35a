import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BackstopError, type InventoryBody, type JobsDeclaredBody } from '@backstop/shared'
import { runCli } from '../../src/cli/program.ts'
import { parseAgentConfig } from '../../src/config/load.ts'
import type { Exec, ExecResult } from '../../src/exec/exec.ts'
import { createJobsDeclarer, declareJobs } from '../../src/inventory/declared-jobs.ts'
import { harness } from '../cli/cli-harness.ts'
import { memoryLog } from '../exec/memory-log.ts'
import { FakeClock, settle } from '../scheduler/fake-clock.ts'
import { waitFor } from '../../../test/support/wait-for.ts'

const config = parseAgentConfig(
  `
node: pve1
timezone: Europe/Amsterdam
collector: { url: mqtt://127.0.0.1:1883 }
jobs:
  - { kind: zfs, name: data, schedule: "0 * * * *", timezone: UTC, datasets: [{ name: tank/data, recursive: true }],
      retention: { keep: { last: 2 } }, media: ssd }
  - { kind: archive, name: etc, paths: [/etc], destination: /backups, media: hdd, schedule: "0 3 * * *" }
  - { kind: vzdump, name: prod, schedule: "0 1 * * *", pool: prod, dumpdir: /var/lib/vz/dump, media: hdd }
  - { kind: archive, name: by-hand, paths: [/srv], destination: /backups, media: hdd }
`,
  'inline.yaml',
  { hostname: 'pve1' },
)
const at = new Date('2026-03-01T12:00:00Z')
const inventory: InventoryBody = {
  at: at.toISOString(),
  assets: [
    { asset: { kind: 'zfs-dataset', id: 'tank/data' }, coveredBy: ['data'] },
    { asset: { kind: 'zfs-dataset', id: 'tank/data/sub' }, coveredBy: ['data'] },
    { asset: { kind: 'vm', id: 'vm/102', name: 'web' }, coveredBy: ['prod'] },
    { asset: { kind: 'vm', id: 'vm/103' }, coveredBy: [] },
  ],
}

describe('declareJobs: the node job list the collector expects backups from', () => {
  it('names, kinds, schedules in their zone, configured assets and targets; sorted by name', () => {
    const body = declareJobs(config.jobs, 'pve1', null, at)
    assert.equal(body.at, at.toISOString())
    assert.match(body.hash, /^[0-9a-f]{64}$/)
    assert.deepEqual(body.jobs, [
      {
        name: 'by-hand',
        kind: 'archive',
        assets: [{ kind: 'file-set', id: 'fileset:by-hand' }],
        targets: ['/backups'],
      },
      {
        name: 'data',
        kind: 'zfs',
        schedule: '0 * * * *',
        timezone: 'UTC',
        assets: [{ kind: 'zfs-dataset', id: 'tank/data' }],
        targets: ['zfs:tank'],
      },
      {
        name: 'etc',
        kind: 'archive',
        schedule: '0 3 * * *',
        timezone: 'Europe/Amsterdam',
        assets: [{ kind: 'file-set', id: 'fileset:etc' }],
        targets: ['/backups'],
      },
      {
        name: 'prod',
        kind: 'vzdump',
        schedule: '0 1 * * *',
        timezone: 'Europe/Amsterdam',
        assets: [],
        targets: ['/var/lib/vz/dump'],
      },
    ])
  })

  it('the inventory adds what jobs select by probing (recursive children, pool guests); the hash follows', () => {
    const bare = declareJobs(config.jobs, 'pve1', null, at)
    const full = declareJobs(config.jobs, 'pve1', inventory, new Date(at.getTime() + 60_000))
    const assetsOf = (b: JobsDeclaredBody, job: string) => b.jobs.find((j) => j.name === job)?.assets.map((a) => a.id)
    assert.deepEqual(assetsOf(full, 'data'), ['tank/data', 'tank/data/sub'])
    assert.deepEqual(assetsOf(full, 'prod'), ['vm/102'])
    assert.notEqual(full.hash, bare.hash)
    assert.equal(declareJobs(config.jobs, 'pve1', null, new Date(0)).hash, bare.hash, 'the time is not hashed')
  })
})

/** A declarer of the config's jobs whose declarations are collected in `sent`. */
function recordingDeclarer() {
  const sent: JobsDeclaredBody[] = []
  const declarer = createJobsDeclarer({
    configs: config.jobs,
    host: 'pve1',
    emit: async (b) => sent.push(b),
    clock: new FakeClock(at),
    log: memoryLog().log,
  })
  return { sent, declarer }
}

describe('jobs declarer', () => {
  it('sends on start, again only when the inventory changes what is declared, never the bare list after', async () => {
    const { sent, declarer } = recordingDeclarer()
    await declarer.declare(null)
    await declarer.declare(null)
    assert.equal(sent.length, 1)
    await declarer.declare(inventory)
    await declarer.declare(inventory)
    assert.equal(sent.length, 2)
    await declarer.declare(null)
    assert.equal(sent.length, 2, 'a later bare declaration would drop the probed assets')
  })

  it('an inventory that could not list a kind keeps the assets of that kind it declared before', async () => {
    const { sent, declarer } = recordingDeclarer()
    const assetsOf = (job: string) =>
      sent
        .at(-1)!
        .jobs.find((j) => j.name === job)
        ?.assets.map((a) => a.id)
    await declarer.declare(inventory)
    assert.deepEqual(assetsOf('data'), ['tank/data', 'tank/data/sub'])
    // zfs-fuse stopped: no datasets this time, said unknown; the guests were listed and one left the pool.
    const zfsFailed: InventoryBody = {
      at: at.toISOString(),
      incomplete: [{ part: 'zfs-dataset', reason: 'BK_ERR_EXEC_FAILED: failed to initialize ZFS library' }],
      assets: [{ asset: { kind: 'vm', id: 'vm/102', name: 'web' }, coveredBy: [] }],
    }
    await declarer.declare(zfsFailed)
    assert.equal(sent.length, 2)
    assert.deepEqual(assetsOf('data'), ['tank/data', 'tank/data/sub'], 'the children are not undeclared')
    assert.deepEqual(assetsOf('prod'), [], 'a kind that was listed is current')
    // zfs back, a child destroyed meanwhile: now it goes.
    await declarer.declare({ at: at.toISOString(), assets: [inventory.assets[0]!] })
    assert.deepEqual(assetsOf('data'), ['tank/data'])
  })
})

describe('run (daemon) declares its jobs', () => {
  it('on start, before any run', async (t) => {
    const h = harness(t)
    const tools: Exec = {
      async run(argv: readonly string[]): Promise<ExecResult> {
        throw new BackstopError('BK_ERR_EXEC_SPAWN', `"${argv[0]}" not found (test node)`)
      },
      pipeline: () => Promise.reject(new Error('no pipelines on the test node')),
    }
    const deps = {
      ...h.deps,
      createExec: () => tools,
      createSystemInfo: () => ({ diskLayout: async () => [], fsSize: async () => [] }),
    }
    const sent = (): JobsDeclaredBody[] =>
      h.runtime.emitted.filter((e) => e.kind === 'jobs.declared').map((e) => e.body as unknown as JobsDeclaredBody)
    const done = runCli(['run', '--config', h.config], deps)
    await waitFor(() => sent().length > 0, { what: 'the start-up declaration', timeoutMs: 30_000 })
    await settle()
    h.signal()
    assert.equal(await done, 0)
    assert.equal(sent().length, 1)
    assert.deepEqual(
      sent()[0]!.jobs.map((j) => [j.name, j.kind, j.schedule, j.assets.map((a) => a.id)]),
      [['etc', 'archive', '0 3 * * *', ['fileset:etc']]],
    )
    assert.equal(h.runtime.emitted.filter((e) => e.kind === 'job.started').length, 0, 'declared before anything ran')
  })
})
