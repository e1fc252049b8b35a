import { BackstopError, type Envelope } from '@backstop/shared'
import { applyDiskHealth } from './disk-health.ts'
import { applyCommandResult } from './command-result.ts'
import { applyEnroll } from './enroll.ts'
import { applyHeartbeat } from './heartbeat.ts'
import { applyInventory } from './inventory.ts'
import { applyJobFinished } from './job-finished.ts'
import { applyJobProgress } from './job-progress.ts'
import { applyJobStarted } from './job-started.ts'
import { applyJobsDeclared } from './jobs-declared.ts'
import { applyOutboxRetention } from './outbox-retention.ts'
import type { Applied, HandlerContext, Incoming } from './types.ts'

/**
 * The one dispatcher over MessageKind: one handler file per kind. Adding a kind to shared/src/schemas/kinds.ts
 * fails compilation here (the `never` default) until it has a handler. Runs inside the batch transaction.
 */
export function applyMessage(msg: Incoming, ctx: HandlerContext): Applied {
  const env = msg.env
  switch (env.kind) {
    case 'heartbeat':
      return applyHeartbeat(as(msg, env), ctx)
    case 'enroll':
      return applyEnroll(as(msg, env), ctx)
    case 'job.started':
      return applyJobStarted(as(msg, env), ctx)
    case 'job.progress':
      return applyJobProgress(as(msg, env), ctx)
    case 'job.finished':
      return applyJobFinished(as(msg, env), ctx)
    case 'inventory':
      return applyInventory(as(msg, env), ctx)
    case 'jobs.declared':
      return applyJobsDeclared(as(msg, env), ctx)
    case 'command.result':
      return applyCommandResult(as(msg, env), ctx)
    case 'disk.health':
      return applyDiskHealth(as(msg, env), ctx)
    case 'outbox.retention':
      return applyOutboxRetention(as(msg, env), ctx)
    case 'ack':
    case 'checkpoint':
      throw new BackstopError(
        'BK_ERR_WIRE_SCHEMA',
        `"${env.kind}" flows collector → agent only; node "${env.node}" published one (${env.msgId})`,
      )
    default: {
      const unhandled: never = env
      throw new BackstopError(
        'BK_ERR_INTERNAL_ERROR',
        `no ingest handler for kind ${JSON.stringify((unhandled as Envelope).kind)}`,
      )
    }
  }
}

/** Re-attaches the narrowed envelope type to the message (TypeScript narrows `env`, not `msg.env`). */
function as<E extends Envelope>(msg: Incoming, _env: E): Incoming<E['kind']> {
  return msg as Incoming<E['kind']>
}
