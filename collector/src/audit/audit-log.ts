import {
  type AuditEntry,
  type AuditInput,
  type AuditSegment,
  type AuditVerdict,
  canonicalJson,
  nextAuditEntry,
  verifyAcrossSegments,
  verifyAuditChain,
  type SegmentsVerdict,
} from '@backstop/shared'
import type { Db } from '../store/db.ts'

/**
 * SQLite storage for the hash chain. `append` reads the head and inserts inside one IMMEDIATE transaction, so two
 * writers (the running collector and a CLI command) can never fork the chain; the unique hash and the seq
 * primary key would refuse a fork anyway.
 */
export interface AuditLog {
  append(input: AuditInput, now: Date): AuditEntry
  head(): AuditEntry | undefined
  list(q: { afterSeq?: number; limit?: number; action?: string; target?: string }): AuditEntry[]
  /**
   * Streams the whole table in seq order; `expectHead` catches a cut-off tail. After sealed segments (audit_segments,
   * retention/audit-seal.ts) the walk starts at the newest cut: the sealed entries are checked by verifySealed.
   */
  verify(expectHead?: { seq: number; hash: string }): AuditVerdict
  /** The whole chain across its cuts: the exported segment files (signed with `publicKey`), then the table. */
  verifySealed(
    segments: readonly AuditSegment[],
    publicKey: string,
    expectHead?: { seq: number; hash: string },
  ): SegmentsVerdict
  /** The sealed segments the database records, oldest first. */
  sealed(): SealedSegment[]
}

export interface SealedSegment {
  readonly fromSeq: number
  readonly toSeq: number
  readonly headHash: string
  readonly file: string
  readonly sha256: string
  readonly sealedAt: string
}

interface Raw {
  seq: number
  ts: string
  actor: string
  action: string
  target: string
  detail: string
  prev_hash: string
  hash: string
}

export function createAuditLog(db: Db): AuditLog {
  const headStmt = db.prepare<[], Raw>('SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1')
  const insert = db.prepare(
    'INSERT INTO audit_log (seq, ts, actor, action, target, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  )
  const all = db.prepare<[], Raw>('SELECT * FROM audit_log ORDER BY rowid')
  const segments = db.prepare<[], SealedSegment>(
    `SELECT from_seq AS fromSeq, to_seq AS toSeq, head_hash AS headHash, file, sha256, sealed_at AS sealedAt
     FROM audit_segments ORDER BY from_seq`,
  )
  const head = (): AuditEntry | undefined => toEntry(headStmt.get())
  const appendTx = db.transaction((input: AuditInput, now: Date): AuditEntry => {
    const e = nextAuditEntry(head(), input, now)
    insert.run(e.seq, e.ts, e.actor, e.action, e.target, canonicalJson(e.detail), e.prevHash, e.hash)
    return e
  })
  return {
    // .immediate: take the write lock before reading the head (no fork between two processes).
    append: (input, now) => (db.inTransaction ? appendTx(input, now) : appendTx.immediate(input, now)),
    head,
    list: (q) => {
      const where: string[] = ['seq > @after']
      if (q.action) {
        where.push('action = @action')
      }
      if (q.target) {
        where.push('target = @target')
      }
      const rows = db
        .prepare<Record<string, unknown>, Raw>(
          `SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY seq LIMIT @limit`,
        )
        .all({
          after: q.afterSeq ?? 0,
          limit: Math.min(Math.max(q.limit ?? 100, 1), 1000),
          action: q.action,
          target: q.target,
        })
      return rows.map((r) => toEntry(r) as AuditEntry)
    },
    verify: (expectHead) => {
      const cut = segments.all().at(-1)
      return verifyAuditChain(
        iterate(all),
        expectHead,
        cut ? { seq: cut.toSeq + 1, prevHash: cut.headHash } : undefined,
      )
    },
    verifySealed: (segs, publicKey, expectHead) => verifyAcrossSegments(segs, iterate(all), publicKey, expectHead),
    sealed: () => segments.all(),
  }
}

function* iterate(stmt: { iterate(): IterableIterator<Raw> }): Generator<AuditEntry> {
  for (const r of stmt.iterate()) {
    yield toEntry(r) as AuditEntry
  }
}

function toEntry(r: Raw | undefined): AuditEntry | undefined {
  if (!r) {
    return undefined
  }
  let detail: Record<string, unknown>
  try {
    detail = JSON.parse(r.detail) as Record<string, unknown>
  } catch {
    // Tampered into non-JSON: keep the raw text so the hash check reports the entry instead of crashing.
    detail = { unparsable: r.detail }
  }
  return {
    seq: r.seq,
    ts: r.ts,
    actor: r.actor,
    action: r.action,
    target: r.target,
    detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  }
}
