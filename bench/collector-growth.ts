// bench/collector-growth.ts — how big the collector's SQLite file grows over a simulated year of a fleet, through
// the real ingest (the function the broker calls, in-process) on an injected clock. Issue 14 item 1.
//   node --import tsx bench/collector-growth.ts
//   env: BENCH_NODES=20 BENCH_MONTHS=12 BENCH_BUDGET_MIN=14 (stops there and says how far it got)
//        BENCH_WRITE_DOCS=1 (rewrite the growth section of docs/benchmarks.md) BENCH_KEEP=1 (keep the data dir)
//        BENCH_DIR=/path (where the data dir goes; default /dev/shm when it exists, else the temp dir)
// Fleet per node: hourly ZFS job over 10 datasets replicated to a backup pool, daily vzdump of 10 guests, daily
// archive of /etc, disk.health every 30 min, a daily inventory; a heartbeat every 5 simulated minutes (the agent
// sends one every 30 s; the collector's node timeout is 10 min, so the node is never seen silent). Not in CI.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  dbSize,
  largestTables,
  oldestEventDays,
  rowCounts,
  startInProcess,
  submit,
  TOKEN,
} from './growth/collector-in-process.ts'
import { RetainedSet } from './growth/retained.ts'
import { SimNode } from './growth/sim-node.ts'
import { VirtualClock } from './growth/virtual-clock.ts'
import { growthMarkdown, type MonthRow } from './growth/report.ts'
import { machineLine, writeBenchSection } from './support/report.ts'

const NODES = Number(process.env['BENCH_NODES'] ?? 20)
const MONTHS = Number(process.env['BENCH_MONTHS'] ?? 12)
const BUDGET_MS = Number(process.env['BENCH_BUDGET_MIN'] ?? 14) * 60_000
const T0 = Date.parse('2026-01-01T00:00:00Z')
const STEP = 300_000
const HALF_HOUR = 1_800_000
const H = 3_600_000
const WEEK = 7 * 24 * H

// tmpfs when there is one: fsync is then free, and the file SQLite writes (what is measured) is the same bytes.
const base = process.env['BENCH_DIR'] ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir())
const dir = mkdtempSync(join(base, 'bk-bench-growth-'))
const clock = new VirtualClock(T0)
const { collector, config } = await startInProcess(dir, clock)
const retention = (config as unknown as Record<string, unknown>)['retention']
const configured =
  retention === undefined
    ? 'no `retention` in the collector config yet (issue 14 item 2)'
    : `the collector's default \`retention\` config ${JSON.stringify(retention).replace(/"exportDir":"[^"]*",?/, '')}`
console.log(`retention: ${configured}`)

// The agents' own retention (their job configs), one set per kind shared by all nodes (retained.ts).
const zfsLocal = new RetainedSet('zfs local', { hourly: 24, daily: 7, weekly: 0, monthly: 0, yearly: 0 })
// + defaults: daily 30, weekly 12, monthly 12, yearly 7
const zfsReplica = new RetainedSet('zfs replica', { hourly: 24 })
const dumps = new RetainedSet('vzdump', { daily: 7, weekly: 4, monthly: 6, yearly: 0 })
const archives = new RetainedSet('archive', {}) // the defaults
const nodes = Array.from({ length: NODES }, (_, i) => new SimNode(`pve${String(i + 1).padStart(2, '0')}`))

// One step's messages are submitted together and committed as soon as the verifier has answered: the batcher's
// own 5 ms timer (real time, not the clock) would otherwise add a wall-clock wait to every simulated step.
const settle = async (msgs: [SimNode, Buffer][]): Promise<void> => {
  let left = msgs.length
  const done = Promise.all(msgs.map(([n, p]) => submit(collector, n.node, p).finally(() => left--)))
  while (left > 0) {
    await new Promise((resolve) => setImmediate(resolve))
    collector.ingest.flush()
  }
  await done
  clock.advanceTo(clock.now()) // the ledger's pass after the commit runs on the clock
}
await settle(nodes.map((n) => [n, n.enroll(TOKEN, new Date(T0))]))
// After CONNACK the agent publishes its retained `online` status; the broker hands it to the ingest.
nodes.forEach((n) => collector.ingest.status(n.node, n.online(new Date(T0))))

const end = new Date(T0)
end.setUTCMonth(end.getUTCMonth() + MONTHS)
const rows: MonthRow[] = []
const wall0 = performance.now()
let messages = 0
let bytes = 0
let nextMonth = new Date(T0)
nextMonth.setUTCMonth(nextMonth.getUTCMonth() + 1)
let t = T0
let stoppedEarly = false
for (; t < end.getTime(); t += STEP) {
  clock.advanceTo(t)
  const now = new Date(t)
  const hours = (t - T0) / H
  const msgs: [SimNode, Buffer][] = []
  const add = (n: SimNode, ps: Buffer | Buffer[]): void => {
    for (const p of Array.isArray(ps) ? ps : [ps]) {
      msgs.push([n, p])
      bytes += p.length
    }
  }
  const onHour = t % H === 0
  const hourOfDay = now.getUTCHours()
  const zfs = onHour ? [zfsLocal.run(now), zfsReplica.run(now)] : null
  const dump = onHour && hourOfDay === 1 ? dumps.run(now) : null
  const archive = onHour && hourOfDay === 2 ? archives.run(now) : null
  for (const n of nodes) {
    add(n, n.heartbeat(now, hours * 3600))
    if (t % HALF_HOUR === 0) {
      add(n, n.diskHealth(now, Math.floor(hours)))
    }
    if (zfs) {
      add(n, n.zfsRun(now, zfs[0]!, zfs[1]!))
    }
    if (dump) {
      add(n, n.vzdumpRun(now, dump))
    }
    if (archive) {
      add(n, n.archiveRun(now, archive))
    }
    if (onHour && hourOfDay === 0) {
      add(n, n.inventory(now))
    }
  }
  messages += msgs.length
  await settle(msgs)
  if ((t + STEP - T0) % WEEK === 0) {
    // A weekly line on the console (not in the docs): runs of different fleet sizes compare at the same day.
    const day = (t + STEP - T0) / (24 * H)
    console.log(JSON.stringify({ day, ...dbSize(collector, config.dbFile), wallS: (performance.now() - wall0) / 1000 }))
  }
  if (t + STEP >= nextMonth.getTime()) {
    clock.advanceTo(nextMonth.getTime())
    const s = dbSize(collector, config.dbFile)
    rows.push({
      month: nextMonth.toISOString().slice(0, 7),
      wallS: (performance.now() - wall0) / 1000,
      oldestEventDays: oldestEventDays(collector, clock.now()),
      ...s,
    })
    console.log(JSON.stringify({ ...rows.at(-1), rows: rowCounts(collector), messages, timersFired: clock.fired }))
    nextMonth = new Date(nextMonth)
    nextMonth.setUTCMonth(nextMonth.getUTCMonth() + 1)
  }
  if (performance.now() - wall0 > BUDGET_MS) {
    stoppedEarly = true
    break
  }
}
const wallS = (performance.now() - wall0) / 1000
if (stoppedEarly) {
  // The month the budget cut short: its size so far, labelled with the simulated day it stopped at.
  rows.push({
    month: `${new Date(t).toISOString().slice(0, 10)} (stopped)`,
    wallS,
    oldestEventDays: oldestEventDays(collector, clock.now()),
    ...dbSize(collector, config.dbFile),
  })
}
const simulatedDays = (t - T0) / (24 * H)
const final = dbSize(collector, config.dbFile)
const counts = rowCounts(collector)
const largest = largestTables(collector)
const oldest = oldestEventDays(collector, clock.now())
const eventsDays = (retention as { eventsDays?: number } | undefined)?.eventsDays
const applied =
  eventsDays === undefined
    ? 'nothing is pruned'
    : simulatedDays <= eventsDays
      ? `the ${simulatedDays.toFixed(0)} simulated days never passed its ${eventsDays}-day events window`
      : oldest !== null && oldest <= eventsDays
        ? `applied: the oldest raw event is ${oldest} days old (window ${eventsDays} days)`
        : `not applied in this run: the oldest raw event is ${oldest ?? '–'} days old against its ` +
          `${eventsDays}-day window (no retention pass ran on the collector's clock)`
const retentionNote = `${configured}; ${applied}`
await collector.stop()
const md = growthMarkdown({
  date: new Date().toISOString(),
  machine: machineLine(),
  load: loadavg()
    .map((l) => l.toFixed(2))
    .join(', '),
  nodes: NODES,
  months: MONTHS,
  rows,
  final,
  counts,
  largest,
  simulatedDays,
  stoppedEarly,
  wallS,
  messages,
  bytes,
  retentionNote,
  timersFired: clock.fired,
})
console.log(md)
if (process.env['BENCH_WRITE_DOCS'] === '1') {
  writeBenchSection('growth', md)
}
if (process.env['BENCH_KEEP'] === '1') {
  console.log(`data kept in ${dir}`)
} else {
  rmSync(dir, { recursive: true, force: true })
}
