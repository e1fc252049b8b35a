/** One month of the simulated year: sizes at its end, and the wall time spent since the start. */
export interface MonthRow {
  readonly month: string
  readonly wallS: number
  readonly db: number
  readonly wal: number
  readonly usedBytes: number
  readonly freeBytes: number
  /** Age of the oldest raw event still in `events`: proof retention ran (or did not). */
  readonly oldestEventDays: number | null
}

export interface GrowthRun {
  readonly date: string
  readonly machine: string
  readonly load: string
  readonly nodes: number
  readonly months: number
  readonly rows: readonly MonthRow[]
  readonly final: Omit<MonthRow, 'month' | 'wallS' | 'oldestEventDays'>
  readonly counts: Record<string, number>
  /** Largest tables and indexes at the end (dbstat), bytes. */
  readonly largest: readonly [string, number][]
  readonly simulatedDays: number
  readonly stoppedEarly: boolean
  readonly wallS: number
  readonly messages: number
  readonly bytes: number
  readonly retentionNote: string
  readonly timersFired: number
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1)
const gib = (b: number): string => (b / 2 ** 30).toFixed(2)

/** The docs/benchmarks.md section (between the bench:growth markers). */
export function growthMarkdown(r: GrowthRun): string {
  const nodeYears = (r.nodes * r.simulatedDays) / 365
  const total = r.final.db + r.final.wal
  const table = r.rows.map(
    (m) =>
      `| ${m.month} | ${mib(m.db)} | ${mib(m.wal)} | ${mib(m.db + m.wal)} | ${mib(m.freeBytes)} | ` +
      `${m.oldestEventDays ?? '–'} | ${m.wallS.toFixed(0)} |`,
  )
  const rate = (r.nodes * r.simulatedDays) / r.wallS
  return `## Collector growth: a simulated year of a ${r.nodes}-node fleet through the real ingest (issue 14)

- Date: ${r.date}
- Machine: ${r.machine}
- Command: \`node --import tsx bench/collector-growth.ts\` (BENCH_NODES=${r.nodes}, BENCH_MONTHS=${r.months})
- Load average when it finished: ${r.load}
- Fleet per node: an hourly ZFS job over 10 datasets replicated to a backup pool (agent retention: local hourly 24
  + daily 7, replica hourly 24 + the defaults daily 30, weekly 12, monthly 12, yearly 7), a daily vzdump of 10
  guests (daily 7, weekly 4, monthly 6), a daily archive of /etc (the defaults), \`disk.health\` with 4 disks every
  30 min, a daily inventory. Every run's \`job.finished\` lists every live copy with its storage, as the agent
  sends it (fitted to the 1 MiB limit by the agent's own \`fitStorageToWire\`). Heartbeats: one per node every 5
  simulated minutes, not every 30 s as the agent sends them — a heartbeat only updates the node's row (it is not
  kept in \`events\`), and 5 min is within the collector's 10-min node timeout, so no node is ever seen silent and
  the alerts are those of the real rate; only the time this takes changes.
- Path: envelopes signed by the agent's signer and packed by its transport's \`packRecords\`, handed to
  \`ingest.submit\` of a collector built by \`startCollector\` (main.ts) with the collector's default config on an
  injected clock; the clock fires every timer the collector arms (${r.timersFired} fired: ledger passes and
  deadlines, scheduled upkeep) at its simulated instant. Two choices only change the wall time: signatures are
  checked inline (\`ingest.verifyWorkers: 0\`, the same check the worker pool runs) and the data directory is on
  tmpfs (\`/dev/shm\`, BENCH_DIR to change it), where fsync costs nothing — SQLite writes the same pages either way.
  Each simulated 5-minute step's messages are submitted together and committed in one batch.
- Retention: ${r.retentionNote}.
- What is stored is deterministic for this workload (the only randomness is ids and keys of fixed length), so one
  run is the figure; the split between DB file and WAL at an instant depends on when SQLite last checkpointed
  (DB + WAL is the figure to read). The wall times are one run on a shared VM and only say how long this took.

| month ending | DB file MiB | WAL MiB | DB + WAL MiB | free pages MiB | oldest raw event, days | wall s |
|---|---:|---:|---:|---:|---:|---:|
${table.join('\n')}

${
  r.stoppedEarly
    ? `**Stopped by the time budget after ${r.simulatedDays.toFixed(1)} simulated days of the ${r.months} months** ` +
      `(${(r.wallS / 60).toFixed(1)} min): the full year does not fit in the budget here. Measured rate: ` +
      `${rate.toFixed(2)} simulated node-days per wall second (${r.messages} messages, ` +
      `${gib(r.bytes)} GiB of envelopes). Nothing above is extrapolated.`
    : `Simulated ${r.simulatedDays.toFixed(0)} days of ${r.nodes} nodes in ${(r.wallS / 60).toFixed(1)} min ` +
      `(${r.messages} messages, ${gib(r.bytes)} GiB of envelopes; ${rate.toFixed(2)} node-days per wall second).`
}

${
  r.simulatedDays >= 365
    ? `**Per node-year: ${mib(total / nodeYears)} MiB** (DB + WAL ${gib(total)} GiB over ${nodeYears.toFixed(2)} ` +
      'node-years; target for the 20-node fleet: ≤ 1 GiB after a year, flat once retention applies).'
    : `**Per node-year: not measured** — the run covered ${r.simulatedDays.toFixed(1)} days, not a year. What it ` +
      `measured: DB + WAL ${mib(total)} MiB for ${r.nodes} nodes after ${r.simulatedDays.toFixed(1)} days, ` +
      `${mib(total / r.nodes)} MiB per node.`
}

Rows at the end: ${Object.entries(r.counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}. Largest at the end (MiB): ${r.largest.map(([k, v]) => `${k} ${mib(v)}`).join(', ') || 'dbstat n/a'}.`
}
