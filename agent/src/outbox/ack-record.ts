import { encodeFrame } from './frame.ts'

/**
 * A record of `acks.log`, applied in order on recovery: a JSON list of seqs that are gone (acknowledged before
 * keeping existed, dead-lettered, or released), `{"kept":[seqs]}` for seqs acknowledged and kept until a checkpoint
 * covers them, or `{"requeued":[seqs]}` for kept seqs made pending again because a restored collector lacks them.
 */
export interface AckRecord {
  readonly kind: 'gone' | 'kept' | 'requeued'
  readonly seqs: readonly number[]
  /** Why the payload is not an ack record; undefined when it is one. */
  readonly problem?: string
}

export function goneRecord(seqs: readonly number[]): Buffer {
  return encodeFrame(Buffer.from(JSON.stringify(seqs), 'utf8'))
}

export function keptRecord(seqs: readonly number[]): Buffer {
  return encodeFrame(Buffer.from(JSON.stringify({ kept: seqs }), 'utf8'))
}

export function requeuedRecord(seqs: readonly number[]): Buffer {
  return encodeFrame(Buffer.from(JSON.stringify({ requeued: seqs }), 'utf8'))
}

export function parseAckRecord(payload: Buffer): AckRecord {
  let v: unknown
  try {
    v = JSON.parse(payload.toString('utf8'))
  } catch {
    return { kind: 'gone', seqs: [], problem: 'ack record is not JSON' }
  }
  if (Array.isArray(v)) {
    return { kind: 'gone', seqs: v as number[] }
  }
  const o = v as { kept?: unknown; requeued?: unknown } | null
  if (Array.isArray(o?.kept)) {
    return { kind: 'kept', seqs: o.kept as number[] }
  }
  if (Array.isArray(o?.requeued)) {
    return { kind: 'requeued', seqs: o.requeued as number[] }
  }
  return { kind: 'gone', seqs: [], problem: 'ack record is not a list' }
}
