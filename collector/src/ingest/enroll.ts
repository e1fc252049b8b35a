import { BackstopError, keyFingerprint } from '@backstop/shared'
import { STORED, type Handler } from './types.ts'

/**
 * Enrollment (docs/protocol.md): signature (proof of possession) and token were checked before the batch. Unknown
 * node → pin the key; same key → idempotent success; a different pinned key → permanent rejection (re-enrollment
 * after a reinstall is an admin action). Not stored in `events`: the envelope carries the enrollment token.
 */
export const applyEnroll: Handler<'enroll'> = (msg, ctx) => {
  const { node, body } = msg.env
  const existing = ctx.store.nodes.get(node)
  if (existing && existing.publicKey !== body.publicKey) {
    throw new BackstopError(
      'BK_ERR_NODE_KEY_MISMATCH',
      `node "${node}" is pinned to key ${existing.fingerprint} but enrolled with ` +
        `${keyFingerprint(body.publicKey)}; if the node was reinstalled, an admin must reset its enrollment`,
    )
  }
  if (existing) {
    ctx.store.nodes.updateIdentity(node, body.hostname, body.agentVersion, msg.receivedAt)
  } else {
    ctx.store.nodes.insert({
      node,
      publicKey: body.publicKey,
      fingerprint: keyFingerprint(body.publicKey),
      enrolledAt: msg.receivedAt,
      hostname: body.hostname,
      agentVersion: body.agentVersion,
    })
  }
  // The enroll arrived over a live session; its `online` status was published before the node row existed.
  if (ctx.store.nodes.setOnlineFromEvent(node, msg.receivedAt, body.agentVersion)) {
    ctx.changes.mark({ kind: 'node', node })
  }
  ctx.pinAfterCommit(node, body.publicKey)
  return { ...STORED, enrollment: { node, collectorPublicKey: ctx.collectorPublicKey } }
}
