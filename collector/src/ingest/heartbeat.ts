import { STORED, type Handler } from './types.ts'

/** Liveness, not history: updates the node row (last heartbeat body, identity) and is not kept in `events`. */
export const applyHeartbeat: Handler<'heartbeat'> = (msg, ctx) => {
  const b = msg.env.body
  ctx.store.nodes.setHeartbeat(msg.env.node, b, msg.receivedAt, b.hostname, b.agentVersion)
  return STORED
}
