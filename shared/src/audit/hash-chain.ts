import { createHash } from 'node:crypto'
import { canonicalJson } from '../canonical-json.ts'

/**
 * Tamper-evident audit log (certificate-transparency style, without the tree): every entry commits to the hash
 * of the one before it, so editing, deleting or reordering any entry breaks the chain from that point on.
 * Cutting off the newest entries is only visible against a head hash recorded elsewhere (`expectHead`), which
 * is why the collector logs the head after every append.
 */
const DOMAIN = 'backstop/audit/v1\n'
export const AUDIT_GENESIS = '0'.repeat(64)

export interface AuditInput {
  /** Who: `admin:<token id>`, `node:<id>`, `cli:<user>`, `system`. */
  readonly actor: string
  /** What, dotted: `token.create`, `node.revoke`, `command.issue`, `copy.delete`, `api.post` … */
  readonly action: string
  /** Which object it was about (node id, token id, copy id); empty when not applicable. */
  readonly target: string
  readonly detail: Readonly<Record<string, unknown>>
}

export interface AuditEntry extends AuditInput {
  /** 1, 2, 3 … without gaps. */
  readonly seq: number
  /** ISO 8601 UTC. */
  readonly ts: string
  readonly prevHash: string
  readonly hash: string
}

/** sha512 truncated to 32 bytes, hex, over the domain string plus the canonical JSON of the entry without `hash`. */
export function hashAuditEntry(entry: Omit<AuditEntry, 'hash'>): string {
  const { seq, ts, actor, action, target, detail, prevHash } = entry
  const text = DOMAIN + canonicalJson({ seq, ts, actor, action, target, detail, prevHash })
  return createHash('sha512').update(text, 'utf8').digest().subarray(0, 32).toString('hex')
}

/** Pure: the next entry after `prev` (undefined for the first one). */
export function nextAuditEntry(prev: AuditEntry | undefined, input: AuditInput, now: Date): AuditEntry {
  const unhashed = {
    seq: prev ? prev.seq + 1 : 1,
    ts: now.toISOString(),
    actor: input.actor,
    action: input.action,
    target: input.target,
    detail: input.detail,
    prevHash: prev ? prev.hash : AUDIT_GENESIS,
  }
  return { ...unhashed, hash: hashAuditEntry(unhashed) }
}

export type AuditProblem = 'hash-mismatch' | 'broken-link' | 'seq-gap' | 'head-mismatch'

export type AuditVerdict =
  | { readonly ok: true; readonly count: number; readonly head: string }
  | {
      readonly ok: false
      readonly count: number
      readonly atSeq: number
      readonly problem: AuditProblem
      readonly detail: string
    }

/** Where a chain walk starts: entry 1 after the genesis hash, or the one after a sealed segment (audit/segment.ts). */
export interface AuditChainStart {
  readonly seq: number
  readonly prevHash: string
}

/**
 * Walks entries in storage order. An edited entry fails its own hash; a deleted one leaves a seq gap and a
 * broken link; a reordered one breaks the link of whatever now follows it. `expectHead` (a hash recorded
 * earlier) catches the newest entries being cut off. `start`: the chain continues after sealed entries.
 */
export function verifyAuditChain(
  entries: Iterable<AuditEntry>,
  expectHead?: { seq: number; hash: string },
  start: AuditChainStart = { seq: 1, prevHash: AUDIT_GENESIS },
): AuditVerdict {
  let prev: AuditEntry | undefined
  let count = 0
  let sawHead = expectHead === undefined || expectHead.seq < start.seq
  for (const e of entries) {
    count++
    const expectedSeq = prev ? prev.seq + 1 : start.seq
    if (e.seq !== expectedSeq) {
      return {
        ok: false,
        count,
        atSeq: e.seq,
        problem: 'seq-gap',
        detail: `expected seq ${expectedSeq}, found ${e.seq}`,
      }
    }
    const expectedPrev = prev ? prev.hash : start.prevHash
    if (e.prevHash !== expectedPrev) {
      return {
        ok: false,
        count,
        atSeq: e.seq,
        problem: 'broken-link',
        detail: `prevHash ${e.prevHash.slice(0, 12)}… does not match entry ${expectedSeq - 1}`,
      }
    }
    const { hash, ...rest } = e
    let actual: string
    try {
      actual = hashAuditEntry(rest)
    } catch (err) {
      return {
        ok: false,
        count,
        atSeq: e.seq,
        problem: 'hash-mismatch',
        detail: `entry cannot be hashed: ${(err as Error).message}`,
      }
    }
    if (actual !== hash) {
      return {
        ok: false,
        count,
        atSeq: e.seq,
        problem: 'hash-mismatch',
        detail: `stored hash ${hash.slice(0, 12)}… ≠ computed ${actual.slice(0, 12)}…`,
      }
    }
    if (expectHead && e.seq === expectHead.seq) {
      if (e.hash !== expectHead.hash) {
        return {
          ok: false,
          count,
          atSeq: e.seq,
          problem: 'head-mismatch',
          detail: `entry ${e.seq} differs from the recorded head`,
        }
      }
      sawHead = true
    }
    prev = e
  }
  if (!sawHead && expectHead) {
    return {
      ok: false,
      count,
      atSeq: expectHead.seq,
      problem: 'head-mismatch',
      detail: `recorded head ${expectHead.seq} is missing: the log ends at ${prev?.seq ?? 0} (entries were cut off)`,
    }
  }
  return { ok: true, count, head: prev ? prev.hash : start.prevHash }
}
