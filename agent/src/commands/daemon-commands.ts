import { join } from 'node:path'
import { BackstopError, type CommandOutcome, type CommandResultBody } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { ResolvedAgentConfig } from '../config/schema.ts'
import { loadCollectorKey } from '../keys.ts'
import type { Log } from '../log.ts'
import { openNonceStore } from './nonce-store.ts'
import { receiveCommand } from './receive-command.ts'

export interface CommandReceiverDeps {
  readonly config: ResolvedAgentConfig
  readonly clock: Clock
  readonly log: Log
  /** `runtime.emit('command.result', body)`: durable, signed, acked like every event. */
  readonly report: (body: CommandResultBody) => Promise<unknown>
  /** The scheduler's run-now for a configured job (no overlap with its schedule); null = no such job. */
  readonly runJob: (job: string) => Promise<unknown> | null
  /**
   * Re-verify / restore-test one copy of a configured job (jobs/copy-checks.ts runCopyCheck), run by the scheduler
   * in the job's slot so it never overlaps a run of the same job. Throws BK_ERR_JOB_UNKNOWN for no such job and
   * BK_ERR_JOB_BUSY while the job runs; absent = this process cannot run them (refused, coded).
   */
  readonly checkCopy?: (
    job: string,
    what: 'reverify-copy' | 'restore-test',
    copyId: string | undefined,
  ) => Promise<CommandOutcome>
}

/**
 * The daemon's side of signed commands: undefined when `commands.allow` is empty (the default), so the agent
 * does not even subscribe to its commands topic. Commands are handled one at a time, in arrival order.
 */
export function createCommandReceiver(
  d: CommandReceiverDeps,
): { onCommand: (payload: Buffer) => void; close: () => void } | undefined {
  const allow = d.config.commands?.allow ?? []
  if (allow.length === 0) {
    return undefined
  }
  const nonces = openNonceStore(join(d.config.stateDir, 'commands', 'nonces.jsonl'), () => d.clock.now())
  let chain: Promise<unknown> = Promise.resolve()
  const check = async (
    job: string,
    what: 'reverify-copy' | 'restore-test',
    copyId: string | undefined,
  ): Promise<{ outcome: CommandOutcome }> => {
    if (!d.checkCopy) {
      throw new BackstopError(
        'BK_ERR_CMD_UNSUPPORTED',
        `${what} is not wired in this agent process (only the daemon, \`backstop-agent run\`, runs it)`,
      )
    }
    return { outcome: await d.checkCopy(job, what, copyId) }
  }
  const onCommand = (payload: Buffer): void => {
    chain = chain
      .then(async () => {
        const key = await loadCollectorKey(d.config.stateDir, d.log)
        await receiveCommand(payload, {
          node: d.config.node,
          collectorPublicKey: () => key ?? undefined,
          allow,
          nonces,
          now: () => d.clock.now(),
          log: d.log,
          report: async (b) => {
            await d.report(b)
          },
          handlers: {
            'run-job': async (c) => {
              if (!d.config.jobs.some((j) => j.name === c.args.job)) {
                throw new BackstopError('BK_ERR_JOB_UNKNOWN', `no job "${c.args.job}" in ${d.config.file}`)
              }
              const run = d.runJob(c.args.job)
              if (run === null) {
                throw new BackstopError(
                  'BK_ERR_JOB_BUSY',
                  `job "${c.args.job}" is running right now; ask again when it finished`,
                )
              }
              await run
              return {}
            },
            'reverify-copy': (c) => check(c.args.job, 'reverify-copy', c.args.copyId),
            'restore-test': (c) => check(c.args.job, 'restore-test', c.args.copyId),
          },
        })
      })
      .catch((e: unknown) => d.log.error({ err: e }, 'command handling failed'))
  }
  return { onCommand, close: () => nonces.close() }
}
