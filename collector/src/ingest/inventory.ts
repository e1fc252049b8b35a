import { DUPLICATE, recordOnce, STORED, type Handler } from './types.ts'

export const applyInventory: Handler<'inventory'> = (msg, ctx) => {
  if (!recordOnce(msg, ctx)) {
    return DUPLICATE
  }
  ctx.store.assets.replaceInventory(msg.env.node, msg.env.body)
  return STORED
}
