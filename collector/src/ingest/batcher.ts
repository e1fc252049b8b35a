import { randomUUID, type KeyObject } from 'node:crypto'
import { signEnvelope, type AckBody } from '@backstop/shared'
import type { Logger } from 'pino'
import type { LimitedLog } from '../logging/limited-log.ts'
import type { Counters } from '../metrics/counters.ts'
import type { Db } from '../store/db.ts'
import { isoOf, type EpochMs } from '../store/iso-time.ts'
import { createBatchApplier, RetryGuarded, type Item, type Outcome, type Settled } from './batch-apply.ts'
import type { Verdict } from './check.ts'
import type { KeyRing } from './key-ring.ts'
import type { IngestStore } from './types.ts'

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
  /** Rejections by a handler: rate limited per code (pipeline.ts); counted here when their ack commits. */
  readonly limitedLog: LimitedLog
}

export interface Batcher {
  /** `receivedAt`: when the message arrived at the broker (before verification), not when it was queued. */
  /** `from`: the connection it came over (Item.from). */
  add(node: string, verdict: Verdict, done: Settled, receivedAt: EpochMs, from: object): void
  /** Commits everything queued now (graceful shutdown, tests). */
  flush(): void
  pending(): number
  close(): void
}

/**
 * Group commit: messages queue until `batchSize` are waiting or `batchIntervalMs` has passed since the first,
 * then one transaction applies them all (batch-apply.ts), then one signed ack per node. The broker holds each
 * publisher's next socket read until its messages settle, so the queue is bounded by (connections × one TCP read)
 * — that is the backpressure.
 */
export function createBatcher(deps: BatcherDeps): Batcher {
  let queue: Item[] = []
  let timer: NodeJS.Timeout | undefined
  let immediate: NodeJS.Immediate | undefined
  let closed = false
  /** Connections with a rolled-back batch: the agent replays from its outbox on a new one. */
  const failedConnections = new WeakSet<object>()
  const inTransaction = createBatchApplier({ ...deps, collectorPublicKey: deps.collector.publicKey })

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
      const failed = commitBatch(items)
      if (failed) {
        for (const item of items) {
          failedConnections.add(item.from)
        }
        queue = failBehind(queue, failedConnections, failed)
      }
    }
  }

  /** Commits one batch; returns the error when it rolled back. */
  const commitBatch = (items: Item[]): Error | undefined => {
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
      return rolledBack(deps, items, e)
    }
    // Committed: only now may anything be acknowledged.
    for (const [node, publicKey] of out.pins) {
      deps.keys.pin(node, publicKey)
    }
    count(deps.counters, out)
    publishAcks(deps, out)
    for (const item of items) {
      item.done()
    }
    deps.onCommitted()
    return undefined
  }

  return {
    add: (node, verdict, done, receivedAt, from) => {
      if (closed) {
        done(new Error('collector is shutting down'))
        return
      }
      if (failedConnections.has(from)) {
        // Still in verification when its connection's batch rolled back: published after the messages that will
        // be replayed, so it must not commit ahead of them.
        done(new Error('an earlier message of this connection was rolled back; replayed after reconnecting'))
        return
      }
      queue.push({ node, verdict, receivedAt, done, from })
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

/**
 * The whole batch rolled back (disk full, I/O error …). Nothing is acked; the error makes aedes drop the
 * publishers' connections, and the agents replay from their outboxes on reconnect.
 */
function rolledBack(deps: BatcherDeps, items: readonly Item[], e: unknown): Error {
  deps.counters.inc('ingest_batch_failures_total')
  deps.log.error(
    { err: e, messages: items.length },
    'ingest batch commit failed; rolled back, publishers disconnected to replay',
  )
  const err = e instanceof Error ? e : new Error(String(e))
  for (const item of items) {
    item.done(err)
  }
  return err
}

/**
 * After a rollback, the queued messages of the same connections fail too: they were published after the ones that
 * will be replayed, and committing them first would store a node's events out of its seq order (a lock held longer
 * than busy_timeout fails one batch, then releases in time for the next). Their agents replay them in order.
 */
function failBehind(queue: Item[], failedConnections: WeakSet<object>, err: Error): Item[] {
  const keep: Item[] = []
  for (const item of queue) {
    if (failedConnections.has(item.from)) {
      item.done(err)
    } else {
      keep.push(item)
    }
  }
  return keep
}

function count(counters: Counters, out: Outcome): void {
  counters.inc('ingest_batches_total')
  for (const [kind, n] of out.stored) {
    counters.inc('ingest_stored_total', kind, n)
  }
  for (const [kind, n] of out.dups) {
    counters.inc('ingest_duplicate_total', kind, n)
  }
  for (const [code, n] of out.rejected) {
    counters.inc('ingest_rejected_total', code, n)
  }
}

/** One signed ack per node of the batch. */
function publishAcks(deps: BatcherDeps, out: Outcome): void {
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
}
