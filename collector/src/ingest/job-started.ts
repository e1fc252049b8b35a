import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

export const applyJobStarted: Handler<'job.started'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  const { node, body } = msg.env
  if (ctx.store.runs.started(node, body, msg.receivedAt)) {
    ctx.changes.mark({ kind: 'run-started', node, runId: body.runId })
  }
  return STORED
}
