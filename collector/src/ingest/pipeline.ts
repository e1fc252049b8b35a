import type { KeyObject } from 'node:crypto'
import type { Logger } from 'pino'
import type { Counters } from '../metrics/counters.ts'
import type { Db } from '../store/db.ts'
import { createBatcher, type Batcher, type Settled } from './batcher.ts'
import { checkMessage, type TokenCheck } from './check.ts'
import type { KeyRing } from './key-ring.ts'
import { parseStatus } from './status.ts'
import type { IngestStore } from './types.ts'

export interface IngestDeps {
  readonly db: Db
  readonly store: IngestStore
  readonly keys: KeyRing
  readonly tokens: TokenCheck
  readonly collector: { readonly publicKey: string, readonly signingKey: KeyObject }
  readonly counters: Counters
  readonly log: Logger
  readonly now: () => Date
  readonly publishAck: (node: string, payload: Buffer) => void
  readonly batchSize: number
  readonly batchIntervalMs: number
}

export interface Ingest {
  /**
   * One message from `backstop/v1/<topicNode>/events` (the broker already checked that the connection may publish
   * there). `done` runs once the message is settled: committed and acked, rejected and acked, or dropped.
   */
  submit(topicNode: string, payload: Buffer, done: Settled): void
  /** `backstop/v1/<node>/status` (retained online/offline). */
  status(node: string, payload: Buffer): void
  flush(): void
  pending(): number
  /** Flushes what is queued and refuses new messages (graceful shutdown). */
  close(): void
}

/**
 * decode → topic/node check → pinned key → verify signature → check body (all in checkMessage, before any I/O)
 * → batch → commit → ack (in the batcher). Every rejection is logged with its reason and counted by code.
 */
export function createIngest(deps: IngestDeps): Ingest {
  const batcher: Batcher = createBatcher(deps)
  const log = deps.log
  return {
    submit: (topicNode, payload, done) => {
      const verdict = checkMessage(topicNode, payload, { keys: deps.keys, tokens: deps.tokens })
      if (!verdict.ok) {
        if (verdict.msgId === undefined) {
          deps.counters.inc('ingest_dropped_total', verdict.code)
          log.warn({ node: topicNode, code: verdict.code, reason: verdict.reason, bytes: payload.length }, 'message dropped: cannot be attributed to a msgId, not acked')
          done()
          return
        }
        log.warn({ node: topicNode, msgId: verdict.msgId, code: verdict.code, reason: verdict.reason, permanent: verdict.permanent }, 'message rejected')
      }
      batcher.add(topicNode, verdict, done)
    },
    status: (node, payload) => {
      const s = parseStatus(payload)
      if (!s) {
        if (payload.length > 0) {
          log.warn({ node, bytes: payload.length }, 'status message ignored: expected {"state":"online"|"offline","ts":…}')
        }
        return
      }
      try {
        deps.store.nodes.setStatus(node, s.state, s.at, deps.now().toISOString(), s.agentVersion)
        deps.counters.inc('broker_status_total', s.state)
      } catch (e) {
        log.error({ err: e, node }, 'could not record node status')
      }
    },
    flush: () => batcher.flush(),
    pending: () => batcher.pending(),
    close: () => batcher.close(),
  }
}
