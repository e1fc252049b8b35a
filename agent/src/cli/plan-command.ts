import { randomUUID } from 'node:crypto'
import { mkdirDataSync } from '@backstop/node-io'
import { join } from 'node:path'
import type { Command } from 'commander'
import { buildJobs } from '../jobs/build-jobs.ts'
import type { JobContext } from '../jobs/job.ts'
import { configPath, exitCodes, type SetExit } from './common.ts'
import type { CliDeps } from './deps.ts'
import { findJob } from './job-runner.ts'

/** `plan <job>`: what retention would keep and destroy right now, and the rule behind each line (btrbk -S). */
export function registerPlan(program: Command, deps: CliDeps, setExit: SetExit): void {
  program
    .command('plan')
    .argument('<job>', 'job name from the config')
    .description("dry-run the job's retention: every copy with keep/destroy and why")
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const config = deps.loadConfig(configPath(cmd))
      const log = deps.createLog(config.logLevel)
      const job = findJob(config, buildJobs(config.jobs), name)
      if (!job.plan) {
        deps.io.err(`job "${name}" (${job.kind}) has no retention to plan\n`)
        setExit(exitCodes.failed)
        return
      }
      const stateDir = join(config.stateDir, 'job-data', job.name)
      mkdirDataSync(stateDir)
      const ctx: JobContext = {
        node: config.node,
        runId: `plan-${randomUUID()}`,
        trigger: 'manual',
        exec: deps.createExec(log),
        clock: deps.clock,
        log,
        signal: new AbortController().signal,
        stateDir,
        progress: () => {},
      }
      const lines = await job.plan(ctx)
      if (opts.json) {
        deps.io.out(`${JSON.stringify(lines, null, 2)}\n`)
      } else {
        const out = lines.map(
          (l) => `${l.action.padEnd(7)} ${l.createdAt}  ${l.location}  ${l.name}  ${l.reasons.join('; ')}`,
        )
        const keep = lines.filter((l) => l.action === 'keep').length
        out.push(`${lines.length} cop${lines.length === 1 ? 'y' : 'ies'}: ${keep} keep, ${lines.length - keep} destroy`)
        deps.io.out(`${out.join('\n')}\n`)
      }
      setExit(exitCodes.ok)
    })
}
