import type { Command } from 'commander'
import { nextRunAfter } from '@backstop/shared'
import { inspectOutbox } from '../outbox/inspect.ts'
import { JobStateStore } from '../scheduler/job-state.ts'
import { configPath, exitCodes, type SetExit } from './common.ts'
import type { CliDeps, OutboxNumbers } from './deps.ts'
import { acquirePidLock, lockHolder } from './pid-lock.ts'
import { readStatusSnapshot } from './status-snapshot.ts'

/**
 * `status [--json]`: node, enrollment, outbox backlog, and per job the next run and the last result. While the
 * daemon runs it owns the outbox, so it is counted read-only (outbox/inspect.ts) and the daemon's snapshot in
 * `<stateDir>/status.json` adds what only it knows (skipped overlaps); otherwise the outbox is opened (under the
 * lock) and counted.
 */
export function registerStatus(program: Command, deps: CliDeps, setExit: SetExit): void {
  program
    .command('status')
    .description("show enrollment, outbox backlog and each job's next run and last result")
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = deps.loadConfig(configPath(cmd))
      const pid = lockHolder(config.stateDir)
      const snap = pid !== null ? readStatusSnapshot(config.stateDir) : null
      let outbox: OutboxNumbers | null
      if (pid !== null) {
        // The daemon owns the outbox: count it read-only (no lock, no repair); its snapshot is the fallback.
        try {
          const { pending, bytes } = await inspectOutbox(config.outbox.dir)
          const keep = snap?.runtime.outbox.keep
          outbox = { pending, bytes, ...(keep ? { keep } : {}) }
        } catch {
          outbox = snap?.runtime.outbox ?? null
        }
      } else {
        const lock = acquirePidLock(config.stateDir)
        try {
          outbox = await deps.readOutbox(config)
        } finally {
          lock.release()
        }
      }
      const state = new JobStateStore(config.stateDir)
      const now = deps.clock.now()
      const report = {
        node: config.node,
        config: config.file,
        stateDir: config.stateDir,
        daemon: pid !== null ? { running: true, pid, snapshotAt: snap?.at ?? null } : { running: false },
        enrollment: await deps.enrollment(config),
        outbox,
        jobs: config.jobs.map((j) => ({
          job: j.name,
          kind: j.kind,
          schedule: j.schedule,
          nextRunAt: j.schedule ? (nextRunAfter(j.schedule, now)?.toISOString() ?? null) : null,
          skippedOverlaps: snap?.jobs.find((s) => s.job === j.name)?.skippedOverlaps ?? 0,
          lastRun: state.read(j.name).lastRun ?? null,
        })),
      }
      if (opts.json) {
        deps.io.out(`${JSON.stringify(report, null, 2)}\n`)
      } else {
        const lines = [
          `node ${report.node} (${report.daemon.running ? `agent running, pid ${pid}` : 'agent not running'})`,
          `enrollment ${report.enrollment}`,
          `outbox ${outbox ? `${outbox.pending} pending, ${outbox.bytes} bytes` : 'unknown (no status snapshot yet)'}`,
        ]
        const keep = outbox?.keep
        if (keep) {
          lines.push(
            `  kept until a collector backup covers them: ${keep.kept} acknowledged events, ${keep.keptBytes} bytes ` +
              `(newest checkpoint covers seq ${keep.checkpointSeq})`,
          )
        }
        for (const j of report.jobs) {
          const last = j.lastRun
            ? `last ${j.lastRun.status} at ` +
              `${j.lastRun.finishedAt}${j.lastRun.error ? ` (${j.lastRun.error.code})` : ''}`
            : 'never run'
          lines.push(`  ${j.job} (${j.kind}): next ${j.nextRunAt ?? 'on demand'}; ${last}`)
        }
        deps.io.out(`${lines.join('\n')}\n`)
      }
      setExit(exitCodes.ok)
    })
}
