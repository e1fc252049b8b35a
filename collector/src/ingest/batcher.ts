import { randomUUID, type KeyObject } from 'node:crypto'
import { BackstopError, isBackstopError, signEnvelope, type AckBody, type ErrorCode } from '@backstop/shared'
import type { Logger } from 'pino'
import type { Counters } from '../metrics/counters.ts'
import type { Db } from '../store/db.ts'
import { isoOf, type EpochMs } from '../store/iso-time.ts'
import { createLedgerChangesRepo, type LedgerChangeBuffer } from '../store/ledger-changes-repo.ts'
import type { Verdict } from './check.ts'
import { applyMessage } from './index.ts'
import type { KeyRing } from './key-ring.ts'
import type { HandlerContext, IngestStore } from './types.ts'

export interface BatcherDeps {
  readonly db: Db
  readonly store: IngestStore
  readonly keys: KeyRing
  readonly collector: { readonly publicKey: string; readonly signingKey: KeyObject }
  readonly counters: Counters
  readonly log: Logger
  readonly now: () => EpochMs
  /** Publishes a signed ack envelope to backstop/v1/<node>/ack (QoS 1). Called only after the commit. */
  readonly publishAck: (node: string, payload: Buffer) => void
  readonly batchSize: number
  readonly batchIntervalMs: number
  /** After a batch committed (the compliance ledger drains the changes it marked). Not called on a rollback. */
  readonly onCommitted: () => void
}

/** Called when the message's batch is settled: committed and acked (no error), or rolled back (error). */
export type Settled = (err?: Error) => void

interface Item {
  readonly node: string
  readonly verdict: Verdict
  readonly receivedAt: EpochMs
  readonly done: Settled
}

interface Outcome {
  readonly acks: Map<string, NodeAck>
  readonly pins: [string, string][]
  readonly stored: Map<string, number>
  readonly dups: Map<string, number>
  readonly rejected: Map<ErrorCode, number>
}

/** Thrown out of the fast-path transaction to roll it back and redo the batch with savepoints. */
class RetryGuarded extends Error {}

interface NodeAck {
  acked: string[]
  rejected: AckBody['rejected']
  enrollment?: AckBody['enrollment']
  lastSeen: EpochMs
}

export interface Batcher {
  add(node: string, verdict: Verdict, done: Settled): void
  /** Commits everything queued now (graceful shutdown, tests). */
  flush(): void
  pending(): number
  close(): void
}

/**
 * Group commit: messages queue until `batchSize` are waiting or `batchIntervalMs` has passed since the first,
 * then one transaction applies them all (a savepoint per message, so one bad message cannot undo the others),
 * then one signed ack per node. The broker holds each publisher's next socket read until its messages settle,
 * so the queue is bounded by (connections × one TCP read) — that is the backpressure.
 */
export function createBatcher(deps: BatcherDeps): Batcher {
  let queue: Item[] = []
  let timer: NodeJS.Timeout | undefined
  let immediate: NodeJS.Immediate | undefined
  let closed = false
  // Per-message savepoint (better-sqlite3 nests transactions as SAVEPOINTs): a throwing handler undoes only its own
  // writes.
  const applyOne = deps.db.transaction(applyMessage)
  const ledgerChanges = createLedgerChangesRepo(deps.db)

  const schedule = (): void => {
    if (queue.length >= deps.batchSize) {
      if (!immediate) {
        // Not synchronously: add() runs inside aedes' publish handler, which must return first.
        immediate = setImmediate(flush)
      }
    } else if (!timer) {
      timer = setTimeout(flush, deps.batchIntervalMs)
    }
  }

  const flush = (): void => {
    if (timer) {
      clearTimeout(timer)
      timer = undefined
    }
    if (immediate) {
      clearImmediate(immediate)
      immediate = undefined
    }
    while (queue.length > 0) {
      const items = queue.length <= deps.batchSize ? queue : queue.slice(0, deps.batchSize)
      queue = queue.length <= deps.batchSize ? [] : queue.slice(deps.batchSize)
      commitBatch(items)
    }
  }

  /**
   * Applies a batch inside the open transaction. Fast path (`guarded` false): no savepoints; the first throwing
   * handler aborts the attempt (RetryGuarded) and the batch is redone with a savepoint per message, so a bad
   * message undoes only its own writes. Savepoints cost about a third of the apply time, and throws are rare.
   */
  const applyBatch = (items: Item[], guarded: boolean): Outcome => {
    const out: Outcome = { acks: new Map(), pins: [], stored: new Map(), dups: new Map(), rejected: new Map() }
    const changes: LedgerChangeBuffer = ledgerChanges.buffer()
    const ctx: HandlerContext = {
      store: deps.store,
      changes,
      collectorPublicKey: deps.collector.publicKey,
      pinAfterCommit: (node, publicKey) => {
        out.pins.push([node, publicKey])
      },
    }
    for (const item of items) {
      const ack = ackFor(out.acks, item.node, item.receivedAt)
      const v = item.verdict
      if (!v.ok) {
        ack.rejected.push({ msgId: v.msgId as string, code: v.code, reason: clip(v.reason), permanent: v.permanent })
        bump(out.rejected, v.code)
        continue
      }
      const msg = { env: v.env, raw: v.raw, receivedAt: item.receivedAt }
      const marked = changes.checkpoint()
      try {
        const applied = guarded ? applyOne(msg, ctx) : applyMessage(msg, ctx)
        ack.acked.push(v.env.msgId)
        bump(applied.stored ? out.stored : out.dups, v.env.kind)
        if (applied.enrollment) {
          ack.enrollment = applied.enrollment
        }
      } catch (e) {
        if (!guarded) {
          throw new RetryGuarded()
        }
        // Its savepoint rolled back: so do the changes it marked.
        changes.rollbackTo(marked)
        const err = isBackstopError(e)
          ? e
          : new BackstopError(
              'BK_ERR_INTERNAL_ERROR',
              `applying ${v.env.kind} ${v.env.msgId}: ${(e as Error).message}`,
              { cause: e },
            )
        if (!isBackstopError(e)) {
          deps.log.error(
            { err: e, node: item.node, msgId: v.env.msgId, kind: v.env.kind },
            'ingest handler failed; message rolled back and rejected as transient',
          )
        } else {
          deps.log.warn(
            { node: item.node, msgId: v.env.msgId, code: err.code, reason: err.message },
            'message rejected',
          )
        }
        ack.rejected.push({ msgId: v.env.msgId, code: err.code, reason: clip(err.message), permanent: err.permanent })
        bump(out.rejected, err.code)
      }
    }
    for (const [node, ack] of out.acks) {
      if (ack.acked.length > 0) {
        deps.store.nodes.touch(node, ack.lastSeen)
      }
    }
    changes.write()
    return out
  }
  const inTransaction = deps.db.transaction(applyBatch)

  const commitBatch = (items: Item[]): void => {
    let out: Outcome
    try {
      try {
        out = inTransaction(items, false)
      } catch (e) {
        if (!(e instanceof RetryGuarded)) {
          throw e
        }
        out = inTransaction(items, true)
      }
    } catch (e) {
      // The whole batch rolled back (disk full, I/O error …). Nothing is acked; the error makes aedes drop the
      // publishers' connections, and the agents replay from their outboxes on reconnect.
      deps.counters.inc('ingest_batch_failures_total')
      deps.log.error(
        { err: e, messages: items.length },
        'ingest batch commit failed; rolled back, publishers disconnected to replay',
      )
      const err = e instanceof Error ? e : new Error(String(e))
      for (const item of items) {
        item.done(err)
      }
      return
    }
    // Committed: only now may anything be acknowledged.
    for (const [node, publicKey] of out.pins) {
      deps.keys.pin(node, publicKey)
    }
    deps.counters.inc('ingest_batches_total')
    for (const [kind, n] of out.stored) {
      deps.counters.inc('ingest_stored_total', kind, n)
    }
    for (const [kind, n] of out.dups) {
      deps.counters.inc('ingest_duplicate_total', kind, n)
    }
    for (const [code, n] of out.rejected) {
      deps.counters.inc('ingest_rejected_total', code, n)
    }
    const ts = isoOf(deps.now())
    for (const [node, ack] of out.acks) {
      const body: AckBody = {
        acked: ack.acked,
        rejected: ack.rejected,
        ...(ack.enrollment ? { enrollment: ack.enrollment } : {}),
      }
      const env = signEnvelope(
        { v: 1, kind: 'ack', node, msgId: `ack-${randomUUID()}`, seq: 0, ts, body },
        deps.collector.signingKey,
      )
      deps.publishAck(node, Buffer.from(JSON.stringify(env)))
      deps.counters.inc('ingest_acks_total')
    }
    for (const item of items) {
      item.done()
    }
    deps.onCommitted()
  }

  return {
    add: (node, verdict, done) => {
      if (closed) {
        done(new Error('collector is shutting down'))
        return
      }
      queue.push({ node, verdict, receivedAt: deps.now(), done })
      schedule()
    },
    flush,
    pending: () => queue.length,
    close: () => {
      flush()
      closed = true
    },
  }
}

function ackFor(acks: Map<string, NodeAck>, node: string, at: EpochMs): NodeAck {
  let a = acks.get(node)
  if (!a) {
    a = { acked: [], rejected: [], lastSeen: at }
    acks.set(node, a)
  }
  a.lastSeen = at
  return a
}

function bump<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1)
}

/** The ack schema caps a reason at 8192 characters. */
function clip(reason: string): string {
  return reason.length > 2000 ? `${reason.slice(0, 2000)}…` : reason
}
