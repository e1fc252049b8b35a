import type { Command } from 'commander'
import { nextRunAfter } from '@backstop/shared'
import { buildJobs } from '../jobs/build-jobs.ts'
import { StorageProber } from '../storage/probe.ts'
import { mediaContradictions, storageConfigHints } from '../config/storage-hints.ts'
import { configPath, exitCodes, type SetExit } from './common.ts'
import type { CliDeps } from './deps.ts'

/**
 * `configcheck`: every issue as `file:line:col: field: message` on stderr and exit 1 (printed by runCli from the
 * ConfigError); a valid file prints what it resolved to — node, state directory, jobs and their next run — after
 * a `warning:` line per outdated setting it accepted (old retention keys, config/legacy-retention.ts).
 */
export function registerConfigcheck(program: Command, deps: CliDeps, setExit: SetExit): void {
  program
    .command('configcheck')
    .description('validate the config file; print every problem with file:line:col and field')
    .option('--json', 'print the resolved config summary as JSON')
    .option('--probe', "also probe each destination's devices and warn where media: contradicts them")
    .action(async (opts: { json?: boolean; probe?: boolean }, cmd: Command) => {
      const config = deps.loadConfig(configPath(cmd))
      const jobs = buildJobs(config.jobs)
      // Accepted but outdated settings: on stderr, so `--json` output stays parseable.
      for (const w of config.warnings ?? []) {
        deps.io.err(`warning: ${w}\n`)
      }
      // Probing runs commands (findmnt, lsblk, zpool): only when asked; every run reports contradictions anyway.
      const probed = opts.probe
        ? await mediaContradictions(
            config,
            new StorageProber(deps.createExec(deps.createLog(config.logLevel)), config.node, config.site ?? 'default'),
          )
        : []
      for (const h of [...storageConfigHints(config), ...probed]) {
        deps.io.err(`${h}\n`)
      }
      const now = deps.clock.now()
      const summary = {
        file: config.file,
        node: config.node,
        stateDir: config.stateDir,
        collector: config.collector.url,
        jobs: config.jobs.map((j, i) => ({
          name: j.name,
          kind: jobs[i]?.kind ?? j.kind,
          schedule: j.schedule,
          nextRunAt: j.schedule ? (nextRunAfter(j.schedule, now)?.toISOString() ?? null) : null,
        })),
      }
      if (opts.json) {
        deps.io.out(`${JSON.stringify(summary, null, 2)}\n`)
      } else {
        const lines = [
          `${config.file}: OK`,
          `  node ${config.node}, state ${config.stateDir}, collector ${config.collector.url}`,
          `  ${config.jobs.length} job(s):`,
        ]
        for (const j of summary.jobs) {
          const when = j.schedule
            ? `"${j.schedule.cron}" ${j.schedule.timezone}, next ${j.nextRunAt}`
            : 'on demand only'
          lines.push(`    ${j.name} (${j.kind}) ${when}`)
        }
        deps.io.out(`${lines.join('\n')}\n`)
      }
      setExit(exitCodes.ok)
    })
}
