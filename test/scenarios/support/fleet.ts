import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import pino from 'pino'
import { loadCollectorConfig } from '../../../collector/src/config/load.ts'
import { startCollector } from '../../../collector/src/main.ts'
import type { Clock } from '../../../collector/src/time/clock.ts'
import {
  agentBin,
  agentConfig,
  collectorSetup,
  getJson,
  startProc,
  tempDir,
  type CollectorSetup,
  type Proc,
} from '../../support/processes.ts'
import { waitFor } from '../../support/wait-for.ts'
import { alertsAre, foreignGap, type Alert } from './alerts.ts'
import {
  btrfsOn,
  systemDisk,
  Teardown,
  tmpfsDisk,
  zfsPoolOn,
  zfsStickOn,
  type Disk,
  type LoopFs,
  type ZfsPool,
  type ZfsStick,
} from './media.ts'

/**
 * A small fleet for scenarios, in the user's words: one real collector process, nodes that run the real agent
 * binary (`backstop-agent run` as a daemon, `backstop-agent once <job>` as a user's first backup), on zfs-fuse
 * pools, btrfs loop filesystems and loop USB sticks on disks the scenario creates. Everything is torn down in
 * t.after, also when the scenario fails. What is asserted is read from the collector's HTTP API only.
 */
export interface AssetRef {
  readonly node: string
  readonly kind: 'zfs-dataset' | 'btrfs-subvolume' | 'file-set'
  readonly id: string
}

export interface Reason {
  code: string
  message: string
  actual: number
  required: number
  /** The places (location keys) the reason is about. */
  copies?: string[]
}
export interface Verdict {
  status: string
  counts: Record<string, number | null>
  reasons: Reason[]
  /** Everything else the API says about the asset (places, copies with role/storage once they land). */
  raw: { asset: Record<string, unknown>; copies: Record<string, unknown>[]; expectations: Record<string, unknown>[] }
}
export type { Alert } from './alerts.ts'
export { alertLine } from './alerts.ts'

export interface Run {
  runId: string
  job: string
  status: string
  trigger: string | null
  startedAt: string
  finishedAt: string | null
  /** The coded error of a failed or partial run. */
  error: { code: string; message: string } | null
}
export interface Expectation {
  id: number
  job: string
  assetKind: string
  assetId: string
  status: string
  schedule: unknown
  graceS: number
  lastFinishAt: string | null
  alertAfter: string | null
}

export interface Coverage {
  readonly assets: { kind: string; id: string; status: string }[]
  readonly incomplete: { part: string; reason: string }[]
}

export interface FleetOptions {
  /** The collector's `ledger:` section (grace, node-down delay, …). */
  readonly ledger?: Record<string, unknown>
  /**
   * The collector's clock. Given, the collector runs in this process (startCollector, what `backstop-collector
   * run` calls, with this clock) so the scenario can move its time; else it is its own process on the wall clock.
   */
  readonly clock?: Clock
}

export async function fleet(t: TestContext, opts: FleetOptions = {}): Promise<Fleet> {
  const teardown = new Teardown()
  t.after(() => teardown.run())
  const dir = tempDir(t, 'bk-scn-')
  const setup = await collectorSetup(dir, { ledger: opts.ledger ?? {}, ingest: { batchIntervalMs: 5 } })
  let proc: Proc | null = null
  if (opts.clock === undefined) {
    const p = await setup.start()
    teardown.add(() => p.kill9())
    proc = p
  } else {
    const log = pino({ level: 'info' }, pino.destination({ dest: join(dir, 'collector.log'), sync: true }))
    const c = await startCollector(loadCollectorConfig(setup.config), { clock: opts.clock, log })
    teardown.add(() => c.stop())
  }
  const token = await setup.apiToken('admin')
  return new Fleet(dir, teardown, new Collector(setup, proc, token))
}

export class Fleet {
  private readonly nodes = new Map<string, FleetNode>()
  /** Per node, the pools (by name) and btrfs filesystems (by mountpoint) the fleet created for it. */
  private readonly media = new Map<string, Set<string>>()
  readonly systemDisk: Disk
  constructor(
    readonly dir: string,
    readonly teardown: Teardown,
    readonly collector: Collector,
  ) {
    this.systemDisk = systemDisk(teardown)
  }

  /** Another physical disk (its own tmpfs): shares nothing with the system disk or any other disk. */
  disk(name: string): Disk {
    return tmpfsDisk(this.teardown, name)
  }

  node(name: string, opts: { site?: string } = {}): FleetNode {
    let n = this.nodes.get(name)
    if (n === undefined) {
      n = new FleetNode(this, name, opts.site ?? 'home')
      this.nodes.set(name, n)
    }
    return n
  }

  /** Runs `job` on `node` once, as a user runs a backup by hand, and waits until the collector has its outcome. */
  async runJob(node: string, job: string): Promise<Run> {
    return this.node(node).once(job)
  }

  /** Records a pool or filesystem as `node`'s (see `alerts`). */
  own<M extends ZfsPool | LoopFs>(node: string, m: M): M {
    const mine = this.media.get(node) ?? new Set<string>()
    this.media.set(node, mine.add('pool' in m ? m.pool : m.mnt))
    return m
  }

  /**
   * Every alert the collector lists (every node's and its own, resolved ones included), but for a node's coverage
   * gaps about storage the fleet did not create for that node: the nodes share one machine, and zfs-fuse and the
   * mount table are machine-wide, so a daemon's inventory also finds the other nodes' pools and filesystems and
   * those of scenarios running beside this one.
   */
  async alerts(): Promise<Alert[]> {
    const none = new Set<string>()
    return (await this.collector.alerts()).filter((a) => !foreignGap(a, this.media.get(a.node ?? '') ?? none))
  }

  /** Waits until `alerts()` reads exactly `expected` (alertLine, any order); see alertsAre. */
  alertsAre(expected: readonly string[], what: string, timeoutMs?: number): Promise<Alert[]> {
    return alertsAre(() => this.alerts(), expected, what, timeoutMs)
  }
}

export class FleetNode {
  private readonly jobs: Record<string, unknown>[] = []
  private daemon: Proc | undefined
  private extra: Record<string, unknown> = { health: { smartctl: false } }
  private env: Record<string, string> = {}
  private runs = 0
  constructor(
    private readonly fleet: Fleet,
    readonly name: string,
    readonly site: string,
  ) {}

  zfsPool(name: string, on: Disk = this.fleet.systemDisk): ZfsPool {
    return this.fleet.own(this.name, zfsPoolOn(this.fleet.teardown, on, name))
  }

  btrfs(name: string, on: Disk = this.fleet.systemDisk): LoopFs {
    return this.fleet.own(this.name, btrfsOn(this.fleet.teardown, on, name))
  }

  /** A USB stick: a btrfs filesystem on a loop device whose image is on its own disk, plugged in at creation. */
  usbStick(name: string): LoopFs {
    return this.fleet.own(this.name, btrfsOn(this.fleet.teardown, this.fleet.disk(`${name}disk`), name, 140))
  }

  /** A USB disk holding a zfs pool (a file on its own disk), imported at creation; `unplug()` exports it. */
  zfsUsbStick(name: string): ZfsStick {
    return this.fleet.own(this.name, zfsStickOn(this.fleet.teardown, this.fleet.disk(`${name}disk`), name))
  }

  /** Adds a job to the node's agent config (takes effect when the agent next starts). */
  job(def: Record<string, unknown>): this {
    this.jobs.push(def)
    return this
  }

  /** Extra agent config keys (health:, role:, …) and environment (PATH for a recorded tool stand-in). */
  configure(extra: Record<string, unknown>, env: Record<string, string> = {}): this {
    this.extra = { ...this.extra, ...extra }
    this.env = { ...this.env, ...env }
    return this
  }

  private config(): string {
    return agentConfig(this.fleet.dir, this.fleet.collector.setup.mqttUrl, {
      node: this.name,
      jobs: this.jobs,
      extra: { site: this.site, ...this.extra },
    })
  }

  /** `backstop-agent run`: the daemon, until it reports online to the collector. */
  async start(): Promise<Proc> {
    const p = startProc([agentBin, 'run', '--config', this.config()], this.log('daemon'), this.env)
    this.daemon = p
    this.fleet.teardown.add(() => p.kill9())
    await waitFor(async () => (await this.fleet.collector.nodeStatus(this.name)).status === 'online', {
      what: `${this.name} online`,
      timeoutMs: 60_000,
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${p.output().slice(-2000)}`)
    })
    return p
  }

  /** systemctl stop: SIGTERM, the agent says goodbye. */
  async stop(): Promise<number | null> {
    return (await this.daemon?.stop()) ?? null
  }

  /** The node dies (power cut, kernel panic): SIGKILL, the broker fires the Will. */
  async kill(): Promise<void> {
    await this.daemon?.kill9()
  }

  /** `backstop-agent once <job>`; resolves with the run as the collector recorded it. */
  async once(job: string): Promise<Run> {
    const before = new Set((await this.fleet.collector.runs(this.name, job)).map((r) => r.runId))
    const p = startProc([agentBin, 'once', job, '--config', this.config()], this.log(`once-${job}`), this.env)
    this.fleet.teardown.add(() => p.kill9())
    const code = await p.exited()
    // 0 ok, 1 failed, 2 partial (agent/src/cli/common.ts): each is a run the collector records; 3 and up are not.
    if (code !== 0 && code !== 1 && code !== 2) {
      throw new Error(`backstop-agent once ${job} exited ${code}:\n${p.output().slice(-3000)}`)
    }
    return waitFor(
      async () =>
        (await this.fleet.collector.runs(this.name, job)).find((r) => !before.has(r.runId) && r.status !== 'running'),
      { what: `the collector recording the run of ${job} on ${this.name}`, timeoutMs: 30_000 },
    )
  }

  private log(what: string): string {
    return join(this.fleet.dir, `${this.name}-${what}-${++this.runs}.log`)
  }
}

/** The collector as its users see it: the HTTP API. */
export class Collector {
  constructor(
    readonly setup: CollectorSetup,
    /** Its process; null when it runs in the test's process (FleetOptions.clock). */
    readonly proc: Proc | null,
    private readonly token: string,
  ) {}

  private get<T>(path: string): Promise<T> {
    return getJson<T>(`${this.setup.apiUrl}${path}`, this.token)
  }

  async send(method: 'POST' | 'PUT', path: string, body: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.setup.apiUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: await res.json().catch(() => null) }
  }

  /** The operator records (audited) that the medium with this filesystem UUID is now at `site`. */
  async recordRotation(fsUuid: string, site: string): Promise<void> {
    const r = await this.send('PUT', '/api/v1/media/site', { fsUuid, site, note: 'weekly rotation' })
    if (r.status !== 200) {
      throw new Error(`PUT /api/v1/media/site: ${r.status} ${JSON.stringify(r.body)}`)
    }
  }

  async copies(a: AssetRef): Promise<Record<string, unknown>[]> {
    const q = new URLSearchParams({ node: a.node, assetKind: a.kind, assetId: a.id, limit: '1000' })
    return (await this.get<{ copies: Record<string, unknown>[] }>(`/api/v1/copies?${q}`)).copies
  }

  async verdict(a: AssetRef): Promise<Verdict> {
    const q = new URLSearchParams({ node: a.node, kind: a.kind, id: a.id })
    const raw = await this.get<Verdict['raw']>(`/api/v1/asset?${q}`)
    const asset = raw.asset as unknown as Pick<Verdict, 'counts' | 'reasons'> & { verdict: string }
    return { status: asset.verdict, counts: asset.counts, reasons: asset.reasons, raw }
  }

  /** Every alert that ever fired (current state per key; a resolved one stays listed), optionally of one node. */
  async alerts(node?: string): Promise<Alert[]> {
    const q = node === undefined ? '' : `&node=${node}`
    return (await this.get<{ alerts: Alert[] }>(`/api/v1/alerts?limit=500${q}`)).alerts
  }

  async runs(node: string, job: string): Promise<Run[]> {
    return (await this.get<{ runs: Run[] }>(`/api/v1/runs?node=${node}&job=${job}&limit=500`)).runs
  }

  async expectations(node: string): Promise<Expectation[]> {
    return (await this.get<{ expectations: Expectation[] }>(`/api/v1/expectations?node=${node}&limit=500`)).expectations
  }

  async nodeStatus(node: string): Promise<{ status: string; statusAt: string | null; statusReason: string | null }> {
    return this.get(`/api/v1/nodes/${node}`)
  }

  /** GET /api/v1/coverage: each inventoried asset's coverage, and what the last inventory could not list. */
  async coverage(node: string): Promise<Coverage> {
    return this.get(`/api/v1/coverage?node=${node}`)
  }

  async disks(node: string): Promise<Record<string, unknown>[]> {
    return (await this.get<{ disks: Record<string, unknown>[] }>(`/api/v1/nodes/${node}/disks`)).disks
  }
}

/** A stand-in for a tool the test machine lacks, printing a recorded real output; returns a PATH putting it first. */
export function recordedTool(dir: string, tool: string, script: string): string {
  const bin = join(dir, 'recorded-tools')
  mkdirSync(bin, { recursive: true })
  const file = join(bin, tool)
  writeFileSync(file, `#!/bin/sh\n${script}\n`)
  chmodSync(file, 0o755)
  return `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`
}

/** The alert kinds that fired (or fired and resolved) for `node`, sorted: what a scenario says happened. */
export function kindsOf(alerts: readonly Alert[]): string[] {
  return alerts.map((a) => `${a.kind}:${a.state}`).sort()
}
