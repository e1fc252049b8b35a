import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

export const applyJobStarted: Handler<'job.started'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  ctx.store.runs.started(msg.env.node, msg.env.body, msg.receivedAt)
  return STORED
}
