import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

/** Closes the run and folds its copies and deletions into the copy ledger (upsert by (node, copyId)). */
export const applyJobFinished: Handler<'job.finished'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  const { node, body } = msg.env
  ctx.store.runs.finished(node, body, msg.receivedAt)
  for (const c of body.copies) {
    ctx.store.copies.upsert(node, c, body.runId, msg.receivedAt)
  }
  for (const d of body.deleted) {
    ctx.store.copies.markDeleted(node, d, body.runId, msg.receivedAt)
  }
  return STORED
}
