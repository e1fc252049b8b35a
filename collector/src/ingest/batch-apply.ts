import { BackstopError, isBackstopError, type AckBody, type Envelope, type ErrorCode } from '@backstop/shared'
import type { Logger } from 'pino'
import type { LimitedLog } from '../logging/limited-log.ts'
import type { Db } from '../store/db.ts'
import type { EpochMs } from '../store/iso-time.ts'
import { createLedgerChangesRepo, type LedgerChangeBuffer } from '../store/ledger-changes-repo.ts'
import type { Verdict } from './check.ts'
import { applyMessage } from './index.ts'
import type { HandlerContext, IngestStore } from './types.ts'

/** Called when the message's batch is settled: committed and acked (no error), or rolled back (error). */
export type Settled = (err?: Error) => void

export interface Item {
  readonly node: string
  readonly verdict: Verdict
  readonly receivedAt: EpochMs
  readonly done: Settled
  /** The connection it came over: after a rollback, nothing more of that connection may commit (batcher.ts). */
  readonly from: object
}

export interface NodeAck {
  acked: string[]
  rejected: AckBody['rejected']
  enrollment?: AckBody['enrollment']
  lastSeen: EpochMs
}

/** What one committed batch acks, pins and counts. */
export interface Outcome {
  readonly acks: Map<string, NodeAck>
  readonly pins: [string, string][]
  readonly stored: Map<string, number>
  readonly dups: Map<string, number>
  readonly rejected: Map<ErrorCode, number>
}

/** Thrown out of the fast-path transaction to roll it back and redo the batch with savepoints. */
export class RetryGuarded extends Error {}

interface ApplyDeps {
  readonly db: Db
  readonly store: IngestStore
  readonly collectorPublicKey: string
  readonly log: Logger
  /** Rejections log through the ingest's rate limiter: one line per code per interval, not one per message. */
  readonly limitedLog: LimitedLog
}

/**
 * Applies a batch in one transaction. Fast path (`guarded` false): no savepoints; the first throwing handler aborts
 * the attempt (RetryGuarded) and the batch is redone with a savepoint per message, so a bad message undoes only its
 * own writes and its own ledger changes. Savepoints cost about a third of the apply time, and throws are rare.
 */
export function createBatchApplier(deps: ApplyDeps): (items: readonly Item[], guarded: boolean) => Outcome {
  // better-sqlite3 nests transactions as SAVEPOINTs.
  const applyOne = deps.db.transaction(applyMessage)
  const ledgerChanges = createLedgerChangesRepo(deps.db)

  const applyBatch = (items: readonly Item[], guarded: boolean): Outcome => {
    const out: Outcome = { acks: new Map(), pins: [], stored: new Map(), dups: new Map(), rejected: new Map() }
    const changes = ledgerChanges.buffer()
    const ctx: HandlerContext = {
      store: deps.store,
      changes,
      collectorPublicKey: deps.collectorPublicKey,
      pinAfterCommit: (node, publicKey) => {
        out.pins.push([node, publicKey])
      },
      seqNotice: (what, env) => logSeqNotice(deps.log, what, env),
    }
    for (const item of items) {
      applyItem(item, out, ctx, changes, guarded)
    }
    for (const [node, ack] of out.acks) {
      if (ack.acked.length > 0) {
        deps.store.nodes.touch(node, ack.lastSeen)
      }
    }
    changes.write()
    return out
  }

  const applyItem = (
    item: Item,
    out: Outcome,
    ctx: HandlerContext,
    changes: LedgerChangeBuffer,
    guarded: boolean,
  ): void => {
    const ack = ackFor(out.acks, item.node, item.receivedAt)
    const v = item.verdict
    if (!v.ok) {
      ack.rejected.push({ msgId: v.msgId as string, code: v.code, reason: clip(v.reason), permanent: v.permanent })
      bump(out.rejected, v.code)
      return
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
      if (isStorageFailure(e)) {
        // Not this message's fault: the whole batch rolls back and its publishers replay, in order.
        throw e
      }
      if (!guarded) {
        throw new RetryGuarded()
      }
      // Its savepoint rolled back: so do the changes it marked.
      changes.rollbackTo(marked)
      const err = rejectionOf(e, v.env.kind, v.env.msgId)
      logRejection(deps, { node: item.node, kind: v.env.kind, msgId: v.env.msgId }, e, err)
      ack.rejected.push({ msgId: v.env.msgId, code: err.code, reason: clip(err.message), permanent: err.permanent })
      bump(out.rejected, err.code)
    }
  }

  // BEGIN IMMEDIATE: a write lock held elsewhere fails the batch at its start (after busy_timeout), not one message
  // in the middle while the messages behind it commit.
  const inTransaction = deps.db.transaction(applyBatch)
  return (items, guarded) => inTransaction.immediate(items, guarded)
}

/**
 * SQLite result codes that say the database, not the message, failed: locked past busy_timeout, disk full, I/O
 * error, read-only or corrupt file, out of memory. Extended codes (SQLITE_IOERR_WRITE …) share the prefix.
 */
const STORAGE_FAILURES = [
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_READONLY',
  'SQLITE_CORRUPT',
  'SQLITE_NOMEM',
  'SQLITE_CANTOPEN',
  'SQLITE_NOTADB',
]

function isStorageFailure(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && STORAGE_FAILURES.some((c) => code === c || code.startsWith(`${c}_`))
}

/** docs/reliability.md "Duplicates": what a pruned msgId window and a renumbered outbox mean for the operator. */
function logSeqNotice(log: Logger, what: 'forgotten' | 'renumbered', env: Envelope): void {
  const at = { node: env.node, seq: env.seq, msgId: env.msgId, kind: env.kind, ts: env.ts }
  if (what === 'forgotten') {
    log.warn(
      at,
      'event at or below the seqs retention pruned, with a msgId the collector no longer holds: acked as a replay ' +
        "and not applied; if this node's outbox was wiped while its key was kept, remove the key too and allow " +
        'the new one: backstop-collector node reenroll <node>',
    )
  } else {
    log.warn(at, "another msgId was committed with this seq: the node's outbox restarted its numbering; applied")
  }
}

function rejectionOf(e: unknown, kind: string, msgId: string): BackstopError {
  return isBackstopError(e)
    ? e
    : new BackstopError('BK_ERR_INTERNAL_ERROR', `applying ${kind} ${msgId}: ${(e as Error).message}`, { cause: e })
}

type Where = { readonly node: string; readonly kind: string; readonly msgId: string }

function logRejection(deps: ApplyDeps, at: Where, e: unknown, err: BackstopError): void {
  const { node, kind, msgId } = at
  if (isBackstopError(e)) {
    deps.limitedLog(`rejected/${err.code}`, { node, msgId, code: err.code, reason: err.message }, 'message rejected')
  } else {
    // A handler bug, not a refusal: each one is logged, with its stack.
    deps.log.error(
      { err: e, node, msgId, kind },
      'ingest handler failed; message rolled back and rejected as transient',
    )
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
