// Snapshot job benchmark: Backstop vs sanoid (zfs-fuse) and vs btrbk (btrfs on a loop file), one
// snapshot+prune cycle each over the same history, same policy. Needs root, zfs-fuse, sanoid, btrfs-progs, btrbk.
//   node --import tsx bench/snapshots/run.ts [--datasets 100] [--snapshots 400] [--subvolumes 50]
//        [--subvolume-snapshots 48] [--only zfs|btrfs] [--no-write]
// Writes its section of docs/benchmarks.md (unless --no-write).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { machineLine, writeBenchSection } from '../support/report.ts'
import { runBtrfsBench, type BtrfsBenchResult } from './btrfs-bench.ts'
import { HOW } from './method.ts'
import { runZfsBench, type ZfsBenchResult } from './zfs-bench.ts'

const { values } = parseArgs({
  options: {
    datasets: { type: 'string', default: '100' },
    snapshots: { type: 'string', default: '400' },
    subvolumes: { type: 'string', default: '50' },
    'subvolume-snapshots': { type: 'string', default: '48' },
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
})

/** zfs-fuse up (started once, stale pidfile/socket cleared): the same script the platform tests use. */
function ensureZfsFuse(): void {
  const up = spawnSync('bash', [fileURLToPath(new URL('../../scripts/zfs-fuse-up.sh', import.meta.url))], {
    encoding: 'utf8',
  })
  if (up.status !== 0) {
    throw new Error(up.stderr.trim() || 'scripts/zfs-fuse-up.sh failed')
  }
}

const log = (s: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`)
const s = (ms: number): string => (ms / 1000).toFixed(2)

let zfs: ZfsBenchResult | null = null
let btrfs: BtrfsBenchResult | null = null
if (values.only !== 'btrfs') {
  ensureZfsFuse()
  zfs = await runZfsBench(Number(values.datasets), Number(values.snapshots), log)
  log(
    `zfs: sanoid ${s(zfs.sanoidMs)} s, Backstop ${s(zfs.backstopMs)} s, ` +
      `ratio ${(zfs.backstopMs / zfs.sanoidMs).toFixed(2)}`,
  )
}
if (values.only !== 'zfs') {
  btrfs = await runBtrfsBench(Number(values.subvolumes), Number(values['subvolume-snapshots']), log)
  log(
    `btrfs: btrbk ${s(btrfs.btrbkMs)} s, Backstop ${s(btrfs.backstopMs)} s, ` +
      `ratio ${(btrfs.backstopMs / btrfs.btrbkMs).toFixed(2)}`,
  )
}

const lines = [
  '## Snapshot jobs: Backstop vs sanoid (ZFS) and btrbk (btrfs)',
  '',
  `Run ${new Date().toISOString().slice(0, 16)}Z on ${machineLine()}.`,
  `Command: \`node --import tsx bench/snapshots/run.ts` +
    `${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\` (as root).`,
  '',
  '| filesystem | workload | peer | peer wall time | Backstop wall time | Backstop / peer |',
  '|---|---|---|---|---|---|',
]
if (zfs !== null) {
  lines.push(
    `| zfs-fuse 0.7 | ${zfs.datasets + 1} datasets × ${zfs.history} snapshots ` +
      `(${((zfs.datasets + 1) * zfs.history).toLocaleString('en')}), one snapshot+prune cycle | ` +
      `sanoid 2.1.0 \`--cron\` | ${s(zfs.sanoidMs)} s | ${s(zfs.backstopMs)} s | ` +
      `**${(zfs.backstopMs / zfs.sanoidMs).toFixed(2)}×** |`,
  )
}
if (btrfs !== null) {
  lines.push(
    `| btrfs 6.2 (loop file) | ${btrfs.subvolumes} subvolumes × ${btrfs.history} snapshots ` +
      `(${(btrfs.subvolumes * btrfs.history).toLocaleString('en')}), one snapshot+prune cycle | ` +
      `btrbk 0.32.5 \`run\` (snapshot only) | ${s(btrfs.btrbkMs)} s | ${s(btrfs.backstopMs)} s | ` +
      `**${(btrfs.backstopMs / btrfs.btrbkMs).toFixed(2)}×** |`,
  )
}
lines.push('')
if (zfs !== null) {
  lines.push(
    `Outcome check (ZFS): sanoid started from its own steady state (${zfs.history + 1} per dataset: it prunes ` +
      `from the listing taken before its new snapshot) and ended with ${zfs.sanoidAfter.toLocaleString('en')} = ` +
      `${zfs.datasets + 1} × ${zfs.history + 1}, i.e. one taken and one destroyed per dataset; Backstop started ` +
      `from ${zfs.history} per dataset and ended with ${zfs.backstopAfter.toLocaleString('en')}, having destroyed ` +
      `${zfs.backstopDeleted} (one per dataset). Building both histories took ${s(zfs.setupMs)} s (not timed).`,
    '',
    `Where the time goes (ZFS): Backstop ran ${zfs.backstopCommands} commands; the slowest was ` +
      `\`${zfs.backstopSlowest}\`. A bare \`zfs list -H -t snapshot -o name -r\` of each tree, run just before ` +
      `each tool, took ${s(zfs.sanoidListingMs)} s (sanoid's tree) and ${s(zfs.backstopListingMs)} s (Backstop's): ` +
      'listing 40k snapshots is the floor on zfs-fuse, and this shared machine makes it vary by 2–3× between runs. ' +
      'sanoid lists twice per cycle (before and after taking snapshots) and runs `ps` plus one `zfs destroy` per ' +
      'expired snapshot and one `zfs snapshot` per dataset.',
    '',
  )
}
if (btrfs !== null) {
  lines.push(
    `Outcome check (btrfs): after the cycle btrbk keeps ${btrfs.btrbkAfter} snapshots and ` +
      `Backstop ${btrfs.backstopAfter} (Backstop deleted ${btrfs.backstopDeleted}).`,
    '',
  )
}
lines.push(...HOW)
if (!values['no-write']) {
  writeBenchSection('snapshots', lines.join('\n'))
}
console.log(lines.join('\n'))

export {}
