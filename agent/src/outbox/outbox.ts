import type { Envelope } from '@backstop/shared'
import type { KeepState, SeqRange } from './keep-state.ts'

/** One durable event: the signed envelope as it was written, with the sequence number the outbox gave it. */
export interface OutboxRecord {
  readonly seq: number
  readonly msgId: string
  /** Size on disk (frame header + payload); what `outbox.maxBytes` bounds. */
  readonly bytes: number
  readonly envelope: Envelope
}

export interface OutboxStats {
  /** Unacknowledged records (kept ones are in keptStats()). */
  readonly pending: number
  /** Their size in bytes. */
  readonly bytes: number
}

/** Acknowledged records the outbox still stores until a collector backup covers them, and where it stands. */
export interface KeptStats extends KeepState {
  readonly kept: number
  readonly keptBytes: number
  /** Event time (epoch ms) of the oldest kept record; null when none is kept. */
  readonly oldestKeptAt: number | null
  /** The highest seq acknowledged and not made pending again (kept or released). */
  readonly ackedThrough: number
}

/** A verified checkpoint from the collector (shared/src/schemas/checkpoint.ts). */
export interface Checkpoint {
  readonly coveredSeq: number
  readonly collectorHighWater: number
}

export interface CheckpointApplied {
  /** Kept records deleted because the backup covers them (or a bound forced it). */
  readonly released: number
  /** Kept records made pending again: the collector no longer has them (restored), resend them. */
  readonly requeued: number
  /** Released records the restored collector lacks: nobody has them any more. */
  readonly lost: SeqRange | null
}

export interface DeadLetterEntry {
  readonly msgId: string
  readonly code: string
  readonly reason: string
}

/**
 * The agent's durable queue of signed events (MQTT.js Store pattern: one contract, several stores).
 * `append` resolves only once the record is on stable storage; the sequence number is assigned here, so the
 * caller signs inside `build` (the seq is part of the signed envelope).
 */
export interface Outbox {
  /** Calls `build(seq)` synchronously, then persists its envelope. Rejects BK_ERR_OUTBOX_FULL / _NO_SPACE. */
  append(build: (seq: number) => Envelope): Promise<OutboxRecord>
  /** Unacknowledged records with seq > afterSeq, in seq order, at most `limit`. */
  readPending(afterSeq: number, limit: number): Promise<OutboxRecord[]>
  /**
   * The collector committed these msgIds: they are no longer sent. With `keep` they stay stored (kept) until a
   * checkpoint covers them; without, they are removed. Unknown ids are ignored. Resolves the count acknowledged.
   */
  ack(msgIds: Iterable<string>): Promise<number>
  /**
   * Releases kept records up to `cp.coveredSeq`; when the collector holds less than was acknowledged before this
   * connection (`ackedBefore`, given for checkpoints published live: restored from a backup), makes every kept
   * record after `coveredSeq` pending again. Then applies the keep bounds.
   */
  applyCheckpoint(cp: Checkpoint, ackedBefore?: number): Promise<CheckpointApplied>
  /** Releases kept records beyond the size/age bounds (the transport calls it with each heartbeat). */
  enforceKeepBounds(): Promise<number>
  keptStats(): KeptStats
  /** Removes permanently rejected records, keeping them with the reason in the dead-letter store. */
  deadLetter(entries: Iterable<DeadLetterEntry>): Promise<number>
  stats(): OutboxStats
  close(): Promise<void>
}
