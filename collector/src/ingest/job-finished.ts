import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

/**
 * Closes the run and folds its copies and deletions into the copy ledger (upsert by (node, copyId)). The ledger
 * learns that the run finished, which assets it produced a copy of, and which assets lost one.
 */
export const applyJobFinished: Handler<'job.finished'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  const { node, body } = msg.env
  if (ctx.store.runs.finished(node, body, msg.receivedAt)) {
    ctx.changes.mark({ kind: 'run-finished', node, runId: body.runId })
  }
  for (const c of body.copies) {
    ctx.store.copies.upsert(node, c, body.runId, msg.receivedAt)
    ctx.changes.runProduced(node, body.runId, c.asset.kind, c.asset.id)
  }
  // Where the live data is: the verdict treats copies on these devices as versions and measures offsite from here.
  for (const src of body.sources ?? []) {
    ctx.store.copies.recordSource(node, src.asset, src.storage, msg.receivedAt)
    ctx.changes.mark({ kind: 'asset', node, assetKind: src.asset.kind, assetId: src.asset.id })
  }
  for (const d of body.deleted) {
    const asset = ctx.store.copies.markDeleted(node, d, body.runId, msg.receivedAt)
    ctx.changes.mark({ kind: 'asset', node, assetKind: asset.kind, assetId: asset.id })
  }
  return STORED
}
