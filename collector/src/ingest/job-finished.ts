import { BackstopError } from '@backstop/shared'
import { copyKeyOf } from './copy-owner.ts'
import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

/**
 * Closes the run and folds its copies and deletions into the copy ledger (upsert by (node, copyId)). The ledger
 * learns that the run finished, which assets it produced a copy of, and which assets lost one. A copy of another
 * node's asset (a pulled replica, `asset.node`) is filed under that node's asset as held by this one
 * (copy-owner.ts); it re-judges that asset but does not count as this node's run producing a copy of its own.
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
    const key = copyKeyOf(node, c.asset, c.copyId, ctx.store.nodes)
    if (key.heldBy === null) {
      ctx.store.copies.upsert(node, c, body.runId, msg.receivedAt)
      ctx.changes.runProduced(node, body.runId, c.asset.kind, c.asset.id)
    } else {
      // The run is the holder's: its id pairs nothing on the owner's side.
      const { runId: _holdersRun, ...held } = c
      ctx.store.copies.upsert(key.node, { ...held, copyId: key.copyId }, body.runId, msg.receivedAt, key.heldBy)
      ctx.changes.mark({ kind: 'asset', node: key.node, assetKind: c.asset.kind, assetId: c.asset.id })
    }
  }
  // Where the live data is: the verdict treats copies on these devices as versions and measures offsite from here.
  for (const src of body.sources ?? []) {
    if (src.asset.node !== undefined && src.asset.node !== node) {
      throw new BackstopError(
        'BK_ERR_WIRE_SCHEMA',
        `sources: ${src.asset.kind} ${src.asset.id} names node ${src.asset.node}; a node reports only where its own ` +
          'live data is (asset.node belongs on copies it holds of another node)',
      )
    }
    ctx.store.copies.recordSource(node, src.asset, src.storage, msg.receivedAt)
    ctx.changes.mark({ kind: 'asset', node, assetKind: src.asset.kind, assetId: src.asset.id })
  }
  for (const d of body.deleted) {
    const key = copyKeyOf(node, d.asset, d.copyId, ctx.store.nodes)
    const deleted = { ...d, copyId: key.copyId }
    const asset = ctx.store.copies.markDeleted(key.node, deleted, body.runId, msg.receivedAt, key.heldBy)
    ctx.changes.mark({ kind: 'asset', node: key.node, assetKind: asset.kind, assetId: asset.id })
  }
  return STORED
}
