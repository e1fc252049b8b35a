import type { Client } from 'aedes'
import type { KeyRing } from '../ingest/key-ring.ts'

/** Who a connection authenticated as. aedes client ids are rewritten into one namespace per kind (see clientIdFor). */
export interface Session {
  /** Node id, or the operator's name for kind `operator`. */
  readonly node: string
  readonly kind: 'node' | 'pending' | 'operator'
  /** Remote address, for the per-address rate limits. */
  readonly ip: string
  /**
   * kind `pending`: the key pinned when it connected (undefined = none). Once the ring holds another key, the
   * enrollment this connection waited for has committed and it may go on as the node (every event it sends is
   * still verified against that key by the ingest).
   */
  readonly keyAtConnect?: string | undefined
}

export type Sessions = WeakMap<Client, Session>

export function isPending(s: Session, keys: KeyRing): boolean {
  return s.kind === 'pending' && keys.get(s.node)?.publicKey === s.keyAtConnect
}

/**
 * Client ids are bound to the identity that logged in: a node's persistent session is `backstop-agent-<node>`
 * and nothing else may use that id. Pending and operator clients get clean sessions under their own prefixes
 * (':' cannot occur in a node or operator name, so no two namespaces overlap), so neither can kick a live agent
 * nor inherit its stored session and queued commands.
 */
export function clientIdFor(s: Pick<Session, 'node' | 'kind'>, requested: string): string {
  switch (s.kind) {
    case 'node':
      return `backstop-agent-${s.node}`
    case 'pending':
      return `backstop-pending:${s.node}`
    case 'operator':
      return `backstop-operator:${s.node}:${requested}`
  }
}
