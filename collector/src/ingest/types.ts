import type { AlertCondition, BodyOf, Envelope, MessageKind } from '@backstop/shared'
import type { DiskHealthStore } from '../health/disk-health-store.ts'
import type { AssetsRepo } from '../store/assets-repo.ts'
import type { CopiesRepo } from '../store/copies-repo.ts'
import type { EventsRepo } from '../store/events-repo.ts'
import type { LedgerChangeSink } from '../store/ledger-changes-repo.ts'
import type { EpochMs } from '../store/iso-time.ts'
import type { NodesRepo } from '../store/nodes-repo.ts'
import type { RunsRepo } from '../store/runs-repo.ts'

/** The repositories a handler may write to; all writes happen inside the batch transaction. */
export interface IngestStore {
  readonly nodes: NodesRepo
  readonly events: EventsRepo
  readonly runs: RunsRepo
  readonly copies: CopiesRepo
  readonly assets: AssetsRepo
  /** The command service (commands/command-service.ts): applies `command.result` to the command ledger, audits it. */
  readonly commands: { recordResult(node: string, body: BodyOf<'command.result'>, receivedAt: string): boolean }
  /** Disk health reports, judged and alerted (health/disk-health-store.ts, wired in compose/ledger.ts). */
  readonly diskHealth: DiskHealthStore
  /** The alert service's `raise` (alerts/alert-service.ts), for alerts a node reports itself (`outbox.retention`). */
  readonly raiseAlert?: (cond: AlertCondition, at: number) => unknown
}

/** A verified, schema-checked message, ready to apply. */
export interface Incoming<K extends MessageKind = MessageKind> {
  readonly env: Envelope<K>
  readonly raw: string
  /** When the collector received it, in the collector's one time form (store/iso-time.ts). */
  readonly receivedAt: EpochMs
}

export interface HandlerContext {
  readonly store: IngestStore
  /**
   * What the compliance ledger must evaluate once the batch commits: each handler marks what it changed, in the
   * same transaction (collector/src/store/ledger-changes-repo.ts).
   */
  readonly changes: LedgerChangeSink
  readonly collectorPublicKey: string
  /** Keys to pin in the KeyRing once the batch has committed (never before: a rolled-back enrollment pins nothing). */
  readonly pinAfterCommit: (node: string, publicKey: string) => void
  /** A seq the idempotency gate could not take at face value (logged by the batch applier). */
  readonly seqNotice?: (what: 'forgotten' | 'renumbered', env: Envelope) => void
}

export interface Applied {
  /** false = this msgId was already stored (a replay): acked again, nothing re-applied. */
  readonly stored: boolean
  /** Set by `enroll`: goes into the ack body so the agent can pin the collector key. */
  readonly enrollment?: { readonly node: string; readonly collectorPublicKey: string }
}

export type Handler<K extends MessageKind> = (msg: Incoming<K>, ctx: HandlerContext) => Applied

export const STORED: Applied = { stored: true }
export const DUPLICATE: Applied = { stored: false }

/**
 * The idempotency gate for durable kinds (docs/reliability.md "Duplicates"): the raw envelope is stored once per
 * (node, msgId) while `events` keeps it, and the node's high-water mark covers what retention pruned. True = new.
 */
export function recordOnce(msg: Incoming, ctx: HandlerContext): boolean {
  const { env } = msg
  const r = ctx.store.events.record({
    node: env.node,
    msgId: env.msgId,
    seq: env.seq,
    kind: env.kind,
    ts: env.ts,
    receivedAt: msg.receivedAt,
    raw: msg.raw,
  })
  if (r === 'forgotten' || r === 'renumbered') {
    ctx.seqNotice?.(r, env)
  }
  return r === 'stored' || r === 'renumbered'
}
