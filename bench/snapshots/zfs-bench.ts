import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodePromotionTags, promotionTags, resolveRetentionPolicy, snapshotTimestamp } from '@backstop/shared'
import { systemClock } from '../../agent/src/clock.ts'
import type { Exec } from '../../agent/src/exec/exec.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import type { JobContext } from '../../agent/src/jobs/job.ts'
import type { Log } from '../../agent/src/log.ts'
import { resolveZfsJob } from '../../agent/src/jobs/zfs/config.ts'
import { ZfsSnapshotJob } from '../../agent/src/jobs/zfs/zfs-job.ts'
import { attempt, floorHour, hoursBefore, must, noopLog, pad, sanoidStamp, timed, timedAsync } from './sh.ts'

/**
 * Backstop vs sanoid on one zfs-fuse pool: `datasets` datasets below one parent, each with `history` hourly
 * snapshots, then ONE snapshot+prune cycle of each tool with the same policy (keep 400 hourly), so each
 * takes one snapshot per dataset and destroys the one that fell out. Trees are built the same way and the
 * pool is re-created between the tools, so neither sees the other's snapshots.
 */
export interface ZfsBenchResult {
  readonly datasets: number
  readonly history: number
  readonly setupMs: number
  readonly sanoidMs: number
  readonly backstopMs: number
  readonly sanoidAfter: number
  readonly backstopAfter: number
  readonly backstopDeleted: number
  /** A bare `zfs list -t snapshot -o name` of each tree just before its tool ran (the floor both pay). */
  readonly sanoidListingMs: number
  readonly backstopListingMs: number
  readonly backstopCommands: number
  readonly backstopSlowest: string
}

const SHIM =
  `#!/bin/bash
# zfs-fuse has no \`zfs get -t\`, which sanoid uses to list snapshots (env-feasibility.md §9). This shim answers
# that one call from \`zfs list\`; it reports each snapshot's creation as the UTC time in its autosnap name,
# because the benchmark's history was created within a minute (see docs/benchmarks.md). Everything else
# goes to the real zfs.
if [ "$1" = get ] && [ "$2" = "-Hrpt" ] && [ "$3" = snapshot ] && [ "$4" = creation ]; then
  shift 4
  /usr/sbin/zfs list -H -t snapshot -o name "$@" | perl -MTime::Local -ne ` +
  `'chomp; if (/\\@autosnap_(\\d+)-(\\d+)-(\\d+)_(\\d+):(\\d+):(\\d+)_/) ` +
  `{ print "$_\\tcreation\\t", timegm($6,$5,$4,$3,$2-1,$1), "\\t-\\n" }'
  exit 0
fi
exec /usr/sbin/zfs "$@"
`

/** Notes each command's own duration (the Exec reports it), to show where a run spends its time. */
function recording(inner: Exec, calls: { argv: readonly string[]; ms: number }[]): Exec {
  return {
    run: async (argv, opts) => {
      const r = await inner.run(argv, opts)
      calls.push({ argv, ms: r.durationMs })
      return r
    },
    pipeline: async (stages, opts) => {
      const r = await inner.pipeline(stages, opts)
      calls.push({ argv: stages.flat(), ms: r.durationMs })
      return r
    },
  }
}

function createPool(dir: string, pool: string): void {
  const file = join(dir, 'vdev.img')
  rmSync(file, { force: true })
  writeFileSync(file, '')
  truncateSync(file, 2 * 1024 ** 3)
  must(['zpool', 'create', '-f', '-m', join(dir, `mnt-${pool}`), pool, file])
}

function destroyPool(pool: string): void {
  for (let i = 0; i < 5 && attempt(['zpool', 'destroy', '-f', pool]) !== 0; i++) {
    if (attempt(['zpool', 'list', pool]) !== 0) {
      break
    }
  }
}

/** Parent + children, then `history` recursive snapshots (one `zfs snapshot -r` per point in time). */
function buildTree(
  root: string,
  datasets: number,
  history: number,
  name: (at: Date) => string,
  props: (at: Date, prev: Date | null) => string[],
  now: Date,
): void {
  must(['zfs', 'create', root])
  for (let i = 1; i <= datasets; i++) {
    must(['zfs', 'create', `${root}/d${pad(i)}`])
  }
  let prev: Date | null = null
  for (let k = history; k >= 1; k--) {
    const at = hoursBefore(floorHour(now), k)
    must(['zfs', 'snapshot', '-r', ...props(at, prev), `${root}@${name(at)}`])
    prev = at
  }
}

const countSnapshots = (root: string): number =>
  must(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', root])
    .split('\n')
    .filter((l) => l.includes('@')).length

export async function runZfsBench(
  datasets: number,
  history: number,
  log: (s: string) => void,
): Promise<ZfsBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bk-bench-zfs-'))
  const pool = `bkbench${process.pid}`
  let setupMs = 0
  try {
    // --- sanoid -------------------------------------------------------------------------------------------
    createPool(dir, pool)
    const now = new Date()
    log(`zfs: building sanoid tree ${datasets} × ${history}`)
    // sanoid decides what to prune from the listing taken before its new snapshot, so its steady state under
    // `hourly = N` is N + 1 snapshots: give it that, and it takes one and destroys one, like Backstop below.
    let t0 = Date.now()
    buildTree(
      `${pool}/sn`,
      datasets,
      history + 1,
      (at) => `autosnap_${sanoidStamp(at)}_hourly`,
      () => [],
      now,
    )
    setupMs += Date.now() - t0
    const conf = join(dir, 'sanoid-conf')
    mkdirSync(conf)
    copyFileSync('/usr/share/sanoid/sanoid.defaults.conf', join(conf, 'sanoid.defaults.conf'))
    writeFileSync(
      join(conf, 'sanoid.conf'),
      `[${pool}/sn]\n\tuse_template = bench\n\trecursive = yes\n\n[template_bench]\n` +
        `\tfrequently = 0\n\thourly = ${history}\n\tdaily = 0\n\tweekly = 0\n\tmonthly = 0\n\tyearly = 0\n` +
        '\tautosnap = yes\n\tautoprune = yes\n',
    )
    const shimDir = join(dir, 'shim')
    mkdirSync(shimDir)
    writeFileSync(join(shimDir, 'zfs'), SHIM)
    chmodSync(join(shimDir, 'zfs'), 0o755)
    for (const d of ['cache', 'run']) {
      mkdirSync(join(dir, d))
    }
    const env = {
      ...process.env,
      PATH: `${shimDir}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      TZ: 'UTC',
    }
    const sanoidListingMs = timed(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', `${pool}/sn`]).ms
    log(
      'zfs: listing floor (one plain `zfs list -t snapshot -o name` of the tree): ' +
        `${(sanoidListingMs / 1000).toFixed(1)} s`,
    )
    log('zfs: sanoid --cron')
    const sanoid = timed(
      ['sanoid', `--configdir=${conf}`, `--cache-dir=${join(dir, 'cache')}`, `--run-dir=${join(dir, 'run')}`, '--cron'],
      env,
    )
    const sanoidAfter = countSnapshots(`${pool}/sn`)
    destroyPool(pool)

    // --- Backstop -----------------------------------------------------------------------------------------
    createPool(dir, pool)
    const policyInput = { keep: { last: 1, hourly: history, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
    const policy = resolveRetentionPolicy(policyInput, 'UTC')
    log(`zfs: building Backstop tree ${datasets} × ${history}`)
    t0 = Date.now()
    const tagsAt = new Map<number, string>()
    buildTree(
      `${pool}/bk`,
      datasets,
      history,
      (at) => `backstop_${snapshotTimestamp(at)}_${tagsAt.get(at.getTime())}`,
      (at, prev) => {
        tagsAt.set(at.getTime(), encodePromotionTags(promotionTags(at, policy, prev)))
        return []
      },
      now,
    )
    setupMs += Date.now() - t0
    const calls: { argv: readonly string[]; ms: number }[] = []
    const job = new ZfsSnapshotJob(
      resolveZfsJob(
        {
          kind: 'zfs',
          name: 'bench',
          media: 'ssd',
          datasets: [{ name: `${pool}/bk`, recursive: true }],
          retention: policyInput,
        },
        'UTC',
      ),
    )
    const ctx: JobContext = {
      node: 'bench',
      runId: 'bench',
      trigger: 'manual',
      exec: recording(new NodeExec({ log: noopLog as unknown as Log }), calls),
      clock: systemClock,
      log: noopLog as unknown as Log,
      signal: new AbortController().signal,
      stateDir: join(dir, 'state'),
      progress: () => {},
    }
    const backstopListingMs = timed(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', `${pool}/bk`]).ms
    log(
      'zfs: listing floor (one plain `zfs list -t snapshot -o name` of the tree): ' +
        `${(backstopListingMs / 1000).toFixed(1)} s`,
    )
    log('zfs: Backstop run')
    const backstop = await timedAsync(() => job.run(ctx))
    const slow = [...calls]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 5)
      .map((c) => `${(c.ms / 1000).toFixed(1)} s ${c.argv.slice(0, 6).join(' ')}`)
    log(`zfs: Backstop ran ${calls.length} commands; slowest: ${slow.join(' | ')}`)
    if (backstop.value.status !== 'success') {
      throw new Error(`Backstop run did not succeed: ${JSON.stringify(backstop.value.error)}`)
    }
    const backstopAfter = countSnapshots(`${pool}/bk`)
    return {
      datasets,
      history,
      setupMs,
      sanoidMs: sanoid.ms,
      backstopMs: backstop.ms,
      sanoidAfter,
      backstopAfter,
      backstopDeleted: backstop.value.deleted.length,
      sanoidListingMs,
      backstopListingMs,
      backstopCommands: calls.length,
      backstopSlowest: slow[0] ?? '',
    }
  } finally {
    destroyPool(pool)
    rmSync(dir, { recursive: true, force: true })
  }
}
