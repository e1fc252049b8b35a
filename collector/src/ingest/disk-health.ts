import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

/**
 * `disk.health`: the raw envelope is kept like every durable kind (so a report can be re-applied), then the
 * disk-health store judges it. When the store is not wired (older composition roots) only the envelope is
 * kept; the report is still in `events` and nothing is lost.
 */
export const applyDiskHealth: Handler<'disk.health'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  ctx.store.diskHealth.applyReport(msg.env.node, msg.env.body, new Date(msg.receivedAt))
  return STORED
}
