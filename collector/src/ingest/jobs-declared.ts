import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

/**
 * Stores the node's job declaration (the raw event is the record) and hands it to the ledger, which creates the
 * expectations from the schedules and retires those of jobs no longer declared (ledger/apply-declared-jobs.ts).
 */
export const applyJobsDeclared: Handler<'jobs.declared'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  ctx.changes.mark({ kind: 'jobs-declared', node: msg.env.node, msgId: msg.env.msgId })
  return STORED
}
