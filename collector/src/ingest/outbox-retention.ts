import { outboxRetentionConditions } from '@backstop/shared'
import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

/**
 * `outbox.retention`: the agent says how much its outbox keeps because no verified collector backup covers it
 * (docs/reliability.md "Outbox retention"). Kept like every durable kind, then both of the node's outbox alerts
 * are re-judged from the report, inside the batch transaction. Without an alert service (older composition roots,
 * unit harnesses) only the envelope is kept.
 */
export const applyOutboxRetention: Handler<'outbox.retention'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  const raise = ctx.store.raiseAlert
  if (raise !== undefined) {
    for (const cond of outboxRetentionConditions(msg.env.node, msg.env.body)) {
      raise(cond, msg.receivedAt)
    }
  }
  return STORED
}
