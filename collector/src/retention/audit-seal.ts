import { createHash } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '@backstop/node-io'
import {
  BackstopError,
  sealAuditSegment,
  verifyAcrossSegments,
  type AuditEntry,
  type AuditSegment,
  type SecretKey,
} from '@backstop/shared'
import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Db } from '../store/db.ts'
import { isoOf, type EpochMs } from '../store/iso-time.ts'

export interface AuditSealDeps {
  readonly db: Db
  readonly audit: AuditLog
  /** The collector's signing key (keys.ts) and its public half, to check the file it wrote. */
  readonly secretKey: SecretKey
  readonly publicKey: string
  readonly exportDir: string
  /** Absent: the audit chain is never pruned. */
  readonly sealAfterDays: number | undefined
  /** Entries per segment at most (one transaction removes them). */
  readonly maxEntries: number
  readonly log: Logger
}

export interface SealedFile {
  readonly fromSeq: number
  readonly toSeq: number
  readonly file: string
  readonly sha256: string
}

/** Segment files are named by their first seq: a seal interrupted before its commit is redone over the same file. */
export function segmentFileName(fromSeq: number): string {
  return `audit-segment-${String(fromSeq).padStart(12, '0')}.json`
}

/**
 * Seals the oldest audit entries past `sealAfterDays` (docs/reliability.md "Retention"): the segment is written
 * durably, read back and verified against the collector key and the chain, and only then, in one transaction, are
 * its entries removed, the cut recorded in audit_segments, and the seal itself appended to the chain (audit.seal).
 * Never deletes anything it has not first exported and checked. Returns the segment sealed, if any.
 */
export async function sealDueAuditSegment(d: AuditSealDeps, now: EpochMs): Promise<SealedFile | undefined> {
  if (d.sealAfterDays === undefined) {
    return undefined
  }
  const due = collectDue(d.audit, isoOf(now - d.sealAfterDays * 86_400_000), d.maxEntries)
  const head = d.audit.head()
  const first = due[0]
  const last = due[due.length - 1]
  if (!first || !last || !head) {
    return undefined
  }
  const segment = sealAuditSegment(due, head, new Date(now), d.secretKey)
  await mkdir(d.exportDir, { recursive: true, mode: 0o700 })
  const file = join(d.exportDir, segmentFileName(first.seq))
  await writeFileDurable(file, `${JSON.stringify(segment)}\n`, { mode: 0o600 })
  const back = await readFile(file)
  checkWritten(JSON.parse(back.toString('utf8')) as AuditSegment, d, file)
  const sha256 = createHash('sha256').update(back).digest('hex')
  commitSeal(d, segment, file, sha256, now)
  d.log.info(
    { fromSeq: first.seq, toSeq: last.seq, file, sha256 },
    'sealed old audit entries into a signed segment file and removed them from the database',
  )
  return { fromSeq: first.seq, toSeq: last.seq, file, sha256 }
}

/** The oldest entries still in the table, in seq order, as long as they are older than `before` (at most `max`). */
function collectDue(audit: AuditLog, before: string, max: number): AuditEntry[] {
  const due: AuditEntry[] = []
  let after = 0
  for (;;) {
    const page = audit.list({ afterSeq: after, limit: 1000 })
    for (const e of page) {
      if (e.ts >= before || due.length >= max) {
        return due
      }
      due.push(e)
    }
    const last = page[page.length - 1]
    if (!last || page.length < 1000) {
      return due
    }
    after = last.seq
  }
}

/** The file as read back must verify (signature, chain) and continue the chain where the database's cut is. */
function checkWritten(seg: AuditSegment, d: AuditSealDeps, file: string): void {
  const cut = d.audit.sealed().at(-1)
  const start = cut ? { seq: cut.toSeq + 1, prevHash: cut.headHash } : undefined
  const v = verifyAcrossSegments([seg], [], d.publicKey, undefined, start)
  if (!v.ok) {
    throw new BackstopError(
      'BK_ERR_INTERNAL_ERROR',
      `audit segment ${file} does not verify as written (${v.problem}); nothing was removed from the database`,
    )
  }
}

function commitSeal(d: AuditSealDeps, seg: AuditSegment, file: string, sha256: string, now: EpochMs): void {
  const del = d.db.prepare('DELETE FROM audit_log WHERE seq BETWEEN ? AND ?')
  const rec = d.db.prepare(`INSERT INTO audit_segments (from_seq, to_seq, prev_hash, head_hash, file, sha256, sealed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`)
  d.db.transaction(() => {
    // The segment row first: the audit_log delete trigger lets only entries of a recorded segment go (0041).
    rec.run(seg.fromSeq, seg.toSeq, seg.prevHash, seg.headHash, file, sha256, isoOf(now))
    const removed = del.run(seg.fromSeq, seg.toSeq).changes
    if (removed !== seg.toSeq - seg.fromSeq + 1) {
      throw new BackstopError(
        'BK_ERR_INTERNAL_ERROR',
        `audit entries ${seg.fromSeq}..${seg.toSeq} changed while sealing (${removed} found); rolled back`,
      )
    }
    d.audit.append(
      {
        actor: 'system',
        action: 'audit.seal',
        target: file,
        detail: { fromSeq: seg.fromSeq, toSeq: seg.toSeq, headHash: seg.headHash, sha256 },
      },
      new Date(now),
    )
  })()
}
