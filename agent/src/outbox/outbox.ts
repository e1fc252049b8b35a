import type { Envelope } from '@backstop/shared'

/** One durable event: the signed envelope as it was written, with the sequence number the outbox gave it. */
export interface OutboxRecord {
  readonly seq: number
  readonly msgId: string
  /** Size on disk (frame header + payload); what `outbox.maxBytes` bounds. */
  readonly bytes: number
  readonly envelope: Envelope
}

export interface OutboxStats {
  /** Unacknowledged records. */
  readonly pending: number
  /** Their size in bytes. */
  readonly bytes: number
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
  /** Removes these msgIds (the collector committed them); unknown ids are ignored. Resolves the count removed. */
  ack(msgIds: Iterable<string>): Promise<number>
  /** Removes permanently rejected records, keeping them with the reason in the dead-letter store. */
  deadLetter(entries: Iterable<DeadLetterEntry>): Promise<number>
  stats(): OutboxStats
  close(): Promise<void>
}
