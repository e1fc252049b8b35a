import { signValue, verifyValue, type SecretKey } from '../signing.ts'
import {
  AUDIT_GENESIS,
  verifyAuditChain,
  type AuditChainStart,
  type AuditEntry,
  type AuditVerdict,
} from './hash-chain.ts'

/** Marks the signed value as a sealed audit segment, so its signature can never pass for an event's or a command's. */
export const AUDIT_SEGMENT_FORMAT = 'backstop-audit-segment/v1'

/**
 * Old audit entries sealed out of the database (docs/reliability.md "Retention"): the entries, where they hang in
 * the chain (prevHash … headHash), the chain head when they were sealed, all signed with the collector key.
 */
export interface AuditSegment {
  readonly format: typeof AUDIT_SEGMENT_FORMAT
  readonly fromSeq: number
  readonly toSeq: number
  /** Hash of entry fromSeq − 1 (the genesis hash for seq 1). */
  readonly prevHash: string
  /** Hash of entry toSeq: the database chain continues from it. */
  readonly headHash: string
  /** The newest entry of the whole chain when the segment was sealed. */
  readonly chainHead: { readonly seq: number; readonly hash: string }
  readonly sealedAt: string
  readonly entries: readonly AuditEntry[]
  /** Ed25519 over the canonical JSON of every other member (signing.ts, SIGNING_DOMAIN). */
  readonly signature: string
}

/** Pure: seals consecutive entries (non-empty, in seq order) into a signed segment. */
export function sealAuditSegment(
  entries: readonly AuditEntry[],
  chainHead: { seq: number; hash: string },
  sealedAt: Date,
  secretKey: SecretKey,
): AuditSegment {
  const first = entries[0]
  const last = entries[entries.length - 1]
  if (!first || !last) {
    throw new RangeError('an audit segment needs at least one entry')
  }
  const unsigned = {
    format: AUDIT_SEGMENT_FORMAT,
    fromSeq: first.seq,
    toSeq: last.seq,
    prevHash: first.prevHash,
    headHash: last.hash,
    chainHead: { seq: chainHead.seq, hash: chainHead.hash },
    sealedAt: sealedAt.toISOString(),
    entries,
  } as const
  return { ...unsigned, signature: signValue(unsigned, secretKey) }
}

export type SegmentsVerdict =
  | { readonly ok: true; readonly sealed: number; readonly count: number; readonly head: string }
  | { readonly ok: false; readonly problem: string; readonly atSeq: number }

/**
 * Verifies the whole chain across its cuts: every segment's signature (the collector key), its entries' own chain,
 * the segments one after the other from seq 1 (or `start`), then the entries still in the database (`rest`, in seq
 * order) from the last segment's head on. `expectHead` as in verifyAuditChain, wherever that entry now lives.
 */
export function verifyAcrossSegments(
  segments: readonly AuditSegment[],
  rest: Iterable<AuditEntry>,
  publicKey: string,
  expectHead?: { seq: number; hash: string },
  start: AuditChainStart = { seq: 1, prevHash: AUDIT_GENESIS },
): SegmentsVerdict {
  const sorted = [...segments].sort((a, b) => a.fromSeq - b.fromSeq)
  let next = start
  let sealed = 0
  for (const s of sorted) {
    const { signature, ...unsigned } = s
    if (s.format !== AUDIT_SEGMENT_FORMAT || !verifyValue(unsigned, signature, publicKey)) {
      return { ok: false, atSeq: s.fromSeq, problem: `segment ${s.fromSeq}..${s.toSeq} is not signed by the key` }
    }
    if (s.fromSeq !== next.seq || s.prevHash !== next.prevHash) {
      return {
        ok: false,
        atSeq: next.seq,
        problem:
          `segment ${s.fromSeq}..${s.toSeq} does not continue the chain at entry ${next.seq} ` +
          '(a segment is missing)',
      }
    }
    const inner = check(verifyAuditChain(s.entries, covers(expectHead, s), next), `segment ${s.fromSeq}..${s.toSeq}`)
    if (inner) {
      return inner
    }
    if (s.entries.length !== s.toSeq - s.fromSeq + 1 || s.entries[s.entries.length - 1]?.hash !== s.headHash) {
      return { ok: false, atSeq: s.toSeq, problem: `segment ${s.fromSeq}..${s.toSeq} does not end at its head` }
    }
    sealed += s.entries.length
    next = { seq: s.toSeq + 1, prevHash: s.headHash }
  }
  const tail = verifyAuditChain(rest, expectHead && expectHead.seq >= next.seq ? expectHead : undefined, next)
  const bad = check(tail, 'the database')
  if (bad || !tail.ok) {
    return bad ?? { ok: false, atSeq: next.seq, problem: 'unreachable' }
  }
  return { ok: true, sealed, count: sealed + tail.count, head: tail.head }
}

function covers(h: { seq: number; hash: string } | undefined, s: AuditSegment): typeof h {
  return h && h.seq >= s.fromSeq && h.seq <= s.toSeq ? h : undefined
}

function check(v: AuditVerdict, where: string): SegmentsVerdict | undefined {
  return v.ok
    ? undefined
    : { ok: false, atSeq: v.atSeq, problem: `${where}: ${v.problem} at entry ${v.atSeq}: ${v.detail}` }
}
