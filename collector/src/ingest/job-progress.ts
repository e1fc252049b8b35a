import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

export const applyJobProgress: Handler<'job.progress'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  ctx.store.runs.progress(msg.env.node, msg.env.body, msg.receivedAt)
  return STORED
}
