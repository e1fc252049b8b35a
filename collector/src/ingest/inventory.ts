import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

export const applyInventory: Handler<'inventory'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  const node = msg.env.node
  const assets = ctx.store.assets
  for (const k of [
    ...assets.assetsOnMovedMedia(node, msg.env.body),
    ...assets.assetsOnChangedLogins(node, msg.env.body),
  ]) {
    ctx.changes.mark({ kind: 'asset', node: k.node, assetKind: k.kind, assetId: k.id })
  }
  for (const a of ctx.store.assets.replaceInventory(node, msg.env.body)) {
    ctx.changes.mark({ kind: 'inventory', node, assetKind: a.assetKind, assetId: a.assetId })
  }
  return STORED
}
