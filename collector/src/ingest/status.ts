import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { offlineCauses, type OfflineCause } from '@backstop/shared'
import type { Db } from '../store/db.ts'
import type { EpochMs } from '../store/iso-time.ts'
import { createLedgerChangesRepo } from '../store/ledger-changes-repo.ts'
import type { NodesRepo } from '../store/nodes-repo.ts'

/**
 * The retained status topic (docs/protocol.md "Connection"): `{"state":"online","ts":…,"agentVersion":…}` after
 * CONNACK, `{"state":"offline","ts":…,"reason":"lost"}` as the Last Will, and `{"state":"offline","ts":…,
 * "reason":"shutdown"|"restart"}` when the agent stops on purpose. Not a signed envelope (the broker publishes the
 * will on the agent's behalf), so it only ever updates presence, never the ledger. `ts` may be ISO 8601 or epoch
 * millis. An offline status without a reason (an older agent's Will) is `lost`.
 */
const StatusPayload = Type.Object({
  state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  ts: Type.Union([Type.String({ maxLength: 40 }), Type.Number({ minimum: 0 })]),
  agentVersion: Type.Optional(Type.String({ maxLength: 256 })),
  reason: Type.Optional(Type.Union(offlineCauses.map((c) => Type.Literal(c)))),
})
const statusCheck = Compile(StatusPayload)

export interface NodeStatusUpdate {
  readonly state: 'online' | 'offline'
  readonly at: string
  readonly agentVersion: string | undefined
  /** Offline only: why (`lost` when the payload names no reason). */
  readonly reason: OfflineCause | undefined
}

/** undefined when the payload is not a status message (an empty retained payload clears the topic). */
export function parseStatus(payload: Buffer): NodeStatusUpdate | undefined {
  if (payload.length === 0 || payload.length > 4096) {
    return undefined
  }
  let v: unknown
  try {
    v = JSON.parse(payload.toString('utf8'))
  } catch {
    return undefined
  }
  if (!statusCheck.Check(v)) {
    return undefined
  }
  const t = new Date(v.ts)
  if (Number.isNaN(t.getTime())) {
    return undefined
  }
  const reason = v.state === 'offline' ? (v.reason ?? 'lost') : undefined
  return { state: v.state, at: t.toISOString(), agentVersion: v.agentVersion, reason }
}

/** Records a node's status in one transaction: the node row and, when it changed, the ledger's `node` change. */
export function createStatusRecorder(
  db: Db,
  nodes: NodesRepo,
): (node: string, state: NodeStatusUpdate['state'], at: EpochMs, agentVersion?: string, reason?: OfflineCause) => void {
  const changes = createLedgerChangesRepo(db)
  return db.transaction(
    (node: string, state: NodeStatusUpdate['state'], at: EpochMs, agentVersion?: string, reason?: OfflineCause) => {
      if (nodes.setStatus(node, state, at, at, agentVersion, reason)) {
        changes.mark({ kind: 'node', node })
      }
    },
  )
}
