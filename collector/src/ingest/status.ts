import Type from 'typebox'
import { Compile } from 'typebox/compile'
import type { Db } from '../store/db.ts'
import type { EpochMs } from '../store/iso-time.ts'
import { createLedgerChangesRepo } from '../store/ledger-changes-repo.ts'
import type { NodesRepo } from '../store/nodes-repo.ts'

/**
 * The retained status topic (docs/protocol.md "Connection"): `{"state":"online","ts":…,"agentVersion":…}` after
 * CONNACK, `{"state":"offline","ts":…}` as the Last Will. Not a signed envelope (the broker publishes the will on
 * the agent's behalf), so it only ever updates presence, never the ledger. `ts` may be ISO 8601 or epoch millis.
 */
const StatusPayload = Type.Object({
  state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  ts: Type.Union([Type.String({ maxLength: 40 }), Type.Number({ minimum: 0 })]),
  agentVersion: Type.Optional(Type.String({ maxLength: 256 })),
})
const statusCheck = Compile(StatusPayload)

export interface NodeStatusUpdate {
  readonly state: 'online' | 'offline'
  readonly at: string
  readonly agentVersion: string | undefined
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
  return { state: v.state, at: t.toISOString(), agentVersion: v.agentVersion }
}

/** Records a node's status in one transaction: the node row and, when it changed, the ledger's `node` change. */
export function createStatusRecorder(
  db: Db,
  nodes: NodesRepo,
): (node: string, state: NodeStatusUpdate['state'], at: EpochMs, agentVersion?: string) => void {
  const changes = createLedgerChangesRepo(db)
  return db.transaction((node: string, state: NodeStatusUpdate['state'], at: EpochMs, agentVersion?: string) => {
    if (nodes.setStatus(node, state, at, at, agentVersion)) {
      changes.mark({ kind: 'node', node })
    }
  })
}
