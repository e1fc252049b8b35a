import type { Db } from './db.ts'
import type { EpochMs } from './iso-time.ts'

/** One backup of the collector's database on one target, with the result of its check (migration 0042). */
export interface SelfBackupRecord {
  readonly target: string
  readonly dir: string
  readonly file: string
  readonly takenAt: EpochMs
  readonly finishedAt: EpochMs
  readonly bytes: number | null
  readonly status: 'verified' | 'failed'
  /** `ok`, or the first problems PRAGMA integrity_check reported on the copy. */
  readonly integrity: string | null
  readonly auditHead: { readonly seq: number; readonly hash: string } | null
  /** Per node, the highest seq the copy holds. */
  readonly highWater: Readonly<Record<string, number>>
  readonly error: string | null
  readonly deleted: { readonly at: EpochMs; readonly rule: string } | null
}

export interface SelfBackupsRepo {
  record(r: Omit<SelfBackupRecord, 'deleted'>): void
  markDeleted(target: string, file: string, rule: string, at: EpochMs): void
  /** Newest first; deleted ones only when asked. */
  list(q: { target?: string; includeDeleted: boolean; limit: number }): SelfBackupRecord[]
  /** Status of each file of the target that is not marked deleted (retention counts only verified ones). */
  liveStatus(target: string): Map<string, 'verified' | 'failed'>
  /** When the target's newest verified backup was taken, or null. */
  lastVerifiedAt(target: string): EpochMs | null
}

interface Raw {
  target: string
  dir: string
  file: string
  taken_at: number
  finished_at: number
  bytes: number | null
  status: 'verified' | 'failed'
  integrity: string | null
  audit_seq: number | null
  audit_hash: string | null
  high_water: string | null
  error: string | null
  deleted_at: number | null
  deleted_rule: string | null
}

export function createSelfBackupsRepo(db: Db): SelfBackupsRepo {
  const insert = db.prepare(`INSERT INTO self_backups (target, dir, file, taken_at, finished_at, bytes, status,
      integrity, audit_seq, audit_hash, high_water, error)
    VALUES (@target, @dir, @file, @takenAt, @finishedAt, @bytes, @status, @integrity, @auditSeq, @auditHash,
      @highWater, @error)
    ON CONFLICT (target, file) DO UPDATE SET dir = excluded.dir, taken_at = excluded.taken_at,
      finished_at = excluded.finished_at, bytes = excluded.bytes, status = excluded.status,
      integrity = excluded.integrity, audit_seq = excluded.audit_seq, audit_hash = excluded.audit_hash,
      high_water = excluded.high_water, error = excluded.error, deleted_at = NULL, deleted_rule = NULL`)
  const gone = db.prepare(
    'UPDATE self_backups SET deleted_at = ?, deleted_rule = ? WHERE target = ? AND file = ? AND deleted_at IS NULL',
  )
  const live = db.prepare<[string], { file: string; status: 'verified' | 'failed' }>(
    'SELECT file, status FROM self_backups WHERE target = ? AND deleted_at IS NULL',
  )
  const lastOk = db.prepare<[string], { t: number | null }>(
    "SELECT max(taken_at) AS t FROM self_backups WHERE target = ? AND status = 'verified'",
  )
  return {
    record(r) {
      insert.run({
        target: r.target,
        dir: r.dir,
        file: r.file,
        takenAt: r.takenAt,
        finishedAt: r.finishedAt,
        bytes: r.bytes,
        status: r.status,
        integrity: r.integrity,
        auditSeq: r.auditHead?.seq ?? null,
        auditHash: r.auditHead?.hash ?? null,
        highWater: JSON.stringify(r.highWater),
        error: r.error,
      })
    },
    markDeleted(target, file, rule, at) {
      gone.run(at, rule, target, file)
    },
    list(q) {
      const where = [
        ...(q.target !== undefined ? ['target = @target'] : []),
        ...(q.includeDeleted ? [] : ['deleted_at IS NULL']),
      ]
      const sql = `SELECT * FROM self_backups ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY taken_at DESC, target LIMIT @limit`
      return (db.prepare(sql).all({ target: q.target, limit: q.limit }) as Raw[]).map(toRecord)
    },
    liveStatus(target) {
      return new Map(live.all(target).map((r) => [r.file, r.status]))
    },
    lastVerifiedAt(target) {
      return lastOk.get(target)?.t ?? null
    },
  }
}

function toRecord(r: Raw): SelfBackupRecord {
  return {
    target: r.target,
    dir: r.dir,
    file: r.file,
    takenAt: r.taken_at,
    finishedAt: r.finished_at,
    bytes: r.bytes,
    status: r.status,
    integrity: r.integrity,
    auditHead: r.audit_seq !== null && r.audit_hash !== null ? { seq: r.audit_seq, hash: r.audit_hash } : null,
    highWater: r.high_water ? (JSON.parse(r.high_water) as Record<string, number>) : {},
    error: r.error,
    deleted: r.deleted_at !== null ? { at: r.deleted_at, rule: r.deleted_rule ?? '' } : null,
  }
}
