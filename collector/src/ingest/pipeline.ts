import type { KeyObject } from 'node:crypto'
import type { Logger } from 'pino'
import { createLimitedLog, DEFAULT_LOG_INTERVAL_MS, type LimitedLog } from '../logging/limited-log.ts'
import type { Counters } from '../metrics/counters.ts'
import type { Db } from '../store/db.ts'
import type { EpochMs } from '../store/iso-time.ts'
import type { Settled } from './batch-apply.ts'
import { createBatcher, type Batcher } from './batcher.ts'
import type { BackstopError, Envelope } from '@backstop/shared'
import { type Accepted, type Checked, type TokenCheck, type Verdict } from './check.ts'
import type { KeyRing } from './key-ring.ts'
import { createStatusRecorder, parseStatus } from './status.ts'
import type { IngestStore } from './types.ts'
import type { Verifier } from './verifier.ts'

export interface IngestDeps {
  readonly db: Db
  readonly store: IngestStore
  readonly keys: KeyRing
  readonly tokens: TokenCheck
  readonly collector: { readonly publicKey: string; readonly signingKey: KeyObject }
  readonly counters: Counters
  readonly log: Logger
  /** The collector's clock (epoch milliseconds): receipt times, ack timestamps. */
  readonly now: () => EpochMs
  readonly publishAck: (node: string, payload: Buffer) => void
  readonly batchSize: number
  readonly batchIntervalMs: number
  /** Signature checks: the worker pool (createWorkerVerifier) or inline on the main thread (createInlineVerifier). */
  readonly verifier: Verifier
  /**
   * The enrollment gate (identity/enrollment-gate.ts): one-time tokens, approvals, revocation and admin-allowed key
   * replacement, decided against the database before the enrollment enters a batch. Returns the refusal, if any.
   */
  readonly admitEnroll: (env: Envelope<'enroll'>) => BackstopError | undefined
  /**
   * Rejected and dropped messages log one line per kind and code at most this often, like the broker's refusals
   * (`mqtt.limits.logIntervalMs`, default 10 s); the counters count every one.
   */
  readonly rejectLogIntervalMs?: number | undefined
}

export interface Ingest {
  /**
   * One message from `backstop/v1/<topicNode>/events` (the broker already checked that the connection may publish
   * there). `done` runs once the message is settled: committed and acked, rejected and acked, or dropped.
   */
  /** `from`: the connection (any object unique to it): a rolled-back batch fails the rest of its connection. */
  submit(topicNode: string, payload: Buffer, done: Settled, from: object): void
  /** `backstop/v1/<node>/status` (retained online/offline). */
  status(node: string, payload: Buffer): void
  /**
   * `listener` runs after every commit of ledger changes: each ingest batch, and each node status change. The
   * compliance ledger subscribes here (its `wake`); it runs after the acks went out and must not throw.
   */
  onCommitted(listener: () => void): void
  flush(): void
  pending(): number
  /** Finishes verification in flight, commits what is queued, then refuses new messages (graceful shutdown). */
  close(): Promise<void>
}

interface InOrder {
  readonly node: string
  /** When the message arrived: its events' receivedAt, so a status message that came after it is the later fact. */
  readonly arrivedAt: EpochMs
  readonly from: object
  readonly bytes: number
  readonly done: Settled
  verdict: Checked | undefined
}

/**
 * decode → topic/node check → pinned key → verify signature → check body (all in checkMessage, before any I/O)
 * → batch → commit → ack (in the batcher). Every rejection is counted by code and logged with its reason, at most
 * one line per kind of rejection and code per interval: a node (or an attacker with a node's key) sending 1,000 bad
 * messages is one warning that says how many more there were, not 1,000 lines.
 */
export function createIngest(deps: IngestDeps): Ingest {
  const committed: (() => void)[] = []
  const onCommitted = (): void => {
    for (const listener of committed) {
      listener()
    }
  }
  const limitedLog = createLimitedLog({
    log: deps.log,
    now: deps.now,
    intervalMs: deps.rejectLogIntervalMs ?? DEFAULT_LOG_INTERVAL_MS,
  })
  const batcher: Batcher = createBatcher({ ...deps, onCommitted, limitedLog })
  const { verifier } = deps
  // Verification may finish out of order (worker pool); messages enter the batch in arrival order, so every
  // node's events are stored in the order it published them.
  let order: InOrder[] = []
  let head = 0

  const route = (m: InOrder, checked: Checked): void => {
    if (checked.ok === 'batch') {
      routeBatch(batcher, limitedLog, m, checked.items)
      return
    }
    const verdict = checked.ok && checked.env.kind === 'enroll' ? admit(deps, checked) : checked
    if (!verdict.ok && !logRejected(deps.counters, limitedLog, m, verdict)) {
      m.done()
      return
    }
    batcher.add(m.node, verdict, m.done, m.arrivedAt, m.from)
  }

  const drain = (): void => {
    while (head < order.length) {
      const m = order[head] as InOrder
      if (m.verdict === undefined) {
        break
      }
      head++
      route(m, m.verdict)
    }
    if (head === order.length) {
      order = []
      head = 0
    } else if (head > 4096) {
      order = order.slice(head)
      head = 0
    }
  }

  return {
    submit: (topicNode, payload, done, from) => {
      const m: InOrder = {
        node: topicNode,
        arrivedAt: deps.now(),
        from,
        bytes: payload.length,
        done,
        verdict: undefined,
      }
      order.push(m)
      verifier.check(topicNode, payload, (v) => {
        m.verdict = v
        drain()
      })
    },
    status: createStatusHandler(deps, onCommitted),
    onCommitted: (listener) => {
      committed.push(listener)
    },
    flush: () => batcher.flush(),
    pending: () => batcher.pending() + (order.length - head),
    close: async () => {
      await verifier.close()
      batcher.close()
    },
  }
}

/** An enrollment passes the enrollment gate (one-time tokens, approvals, revocation) before it enters a batch. */
function admit(deps: IngestDeps, v: Accepted): Verdict {
  const env = v.env as Envelope<'enroll'>
  const err = deps.admitEnroll(env)
  return err ? { ok: false, code: err.code, reason: err.message, permanent: err.permanent, msgId: env.msgId } : v
}

/** The retained status topic: the node row and its ledger change commit together, then the ledger hears of it. */
function createStatusHandler(deps: IngestDeps, onCommitted: () => void): Ingest['status'] {
  const recordStatus = createStatusRecorder(deps.db, deps.store.nodes)
  return (node, payload) => {
    const s = parseStatus(payload)
    if (!s) {
      if (payload.length > 0) {
        deps.log.warn(
          { node, bytes: payload.length },
          'status message ignored: expected {"state":"online"|"offline","ts":…}',
        )
      }
      return
    }
    try {
      // Ordered by arrival, not by the payload's ts: a Last Will carries the ts of its CONNECT, so it is always
      // older than the `online` published after CONNACK, yet it is the newer fact when the broker delivers it.
      recordStatus(node, s.state, deps.now(), s.agentVersion, s.reason)
      deps.counters.inc('broker_status_total', s.state)
    } catch (e) {
      deps.log.error({ err: e, node }, 'could not record node status')
      return
    }
    onCommitted()
  }
}

/**
 * A verified batch: its events enter the commit queue in batch order, each settled on its own (stored, duplicate
 * or rejected — a bad one does not hold back the good ones); the MQTT message settles when the last one has.
 */
function routeBatch(batcher: Batcher, log: LimitedLog, m: InOrder, items: readonly Verdict[]): void {
  let left = items.length
  let failed: Error | undefined
  const settle: Settled = (err) => {
    failed ??= err
    if (--left === 0) {
      m.done(failed)
    }
  }
  for (const v of items) {
    if (!v.ok) {
      log(
        `batched/${v.code}`,
        { node: m.node, msgId: v.msgId, code: v.code, reason: v.reason, permanent: v.permanent },
        'batched event rejected',
      )
    }
    batcher.add(m.node, v, settle, m.arrivedAt, m.from)
  }
}

/**
 * Logs a rejected message (rate limited); false when it cannot be attributed to a msgId (dropped, never acked).
 * A rejection is counted when its ack commits (batcher.ts), a dropped message here.
 */
function logRejected(
  counters: Counters,
  log: LimitedLog,
  m: InOrder,
  verdict: Extract<Verdict, { ok: false }>,
): boolean {
  if (verdict.msgId === undefined) {
    counters.inc('ingest_dropped_total', verdict.code)
    log(
      `dropped/${verdict.code}`,
      { node: m.node, code: verdict.code, reason: verdict.reason, bytes: m.bytes },
      'message dropped: cannot be attributed to a msgId, not acked',
    )
    return false
  }
  const { msgId, code, reason, permanent } = verdict
  log(`rejected/${code}`, { node: m.node, msgId, code, reason, permanent }, 'message rejected')
  return true
}
