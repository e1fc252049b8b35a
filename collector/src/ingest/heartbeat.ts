import { STORED, type Handler } from './types.ts'

/** Liveness, not history: updates the node row (last heartbeat body, identity) and is not kept in `events`. */
export const applyHeartbeat: Handler<'heartbeat'> = (msg, ctx) => {
  const { node, body: b } = msg.env
  if (ctx.store.nodes.setHeartbeat(node, b, msg.receivedAt, b.hostname, b.agentVersion)) {
    ctx.changes.mark({ kind: 'node', node })
  }
  return STORED
}
