import type { Statement } from 'better-sqlite3'
import type { AssetRef, Copy, DeletedCopy, StorageIdentity } from '@backstop/shared'
import type { Db } from './db.ts'
import { isoOf, type EpochMs } from './iso-time.ts'
import { createStorageIdentities, STORAGE_JSON_OF_COPY } from './storage-identities.ts'

export interface CopyRow {
  /** The asset's node (whose verdict the copy counts in). */
  readonly node: string
  readonly copyId: string
  /** The node that holds and reports this copy of `node`'s asset (a pulled replica); null: `node` itself. */
  readonly heldBy: string | null
  readonly asset: { kind: string; id: string; name: string | null }
  readonly location: { kind: string; target: string; device: Record<string, string> | null }
  readonly name: string
  readonly media: string
  readonly offsite: boolean
  readonly offline: boolean
  readonly immutable: boolean
  /** The probed failure domain of the location (null from agents that do not probe). */
  readonly storage: StorageIdentity | null
  readonly createdAt: string
  readonly bytes: number | null
  readonly checksum: string | null
  readonly verification: { state: string; at: string | null; method: string | null; detail: string | null }
  readonly firstRunId: string | null
  readonly lastRunId: string | null
  readonly lastReportedAt: string
  readonly deleted: { at: string; rule: string } | null
  /** Newest restore test of this copy (command restore-test, commands/copy-results.ts); null = never tested. */
  readonly restoreTest: {
    result: string
    at: string
    commandId: string
    method: string
    bytes: number | null
    code: string | null
  } | null
}

/**
 * The place a copy lives, as the verdict keys it: `<holding node>/<location kind>/<target>`. The holder of a pulled
 * replica is the node that holds it (its pool `tank` is not the owner's production pool `tank`).
 */
export function locationKeyOf(holder: string, kind: string, target: string): string {
  return `${holder}/${kind}/${target}`
}

export interface CopyQuery {
  readonly node?: string
  readonly assetKind?: string
  readonly assetId?: string
  readonly includeDeleted: boolean
  readonly limit: number
  readonly offset: number
}

export interface CopiesRepo {
  /**
   * Upsert by (node, copyId): the latest report wins; a copy reported again after a deletion is live again.
   * `heldBy`: the reporting node when it holds a copy of `node`'s asset (ingest/copy-owner.ts).
   */
  upsert(node: string, c: Copy, runId: string, at: EpochMs, heldBy?: string | null): void
  /**
   * Marks the copy deleted: its row becomes the tombstone (when, by which rule, and as last run the run that deleted
   * it), created if the copy was never reported.
   * Returns the asset the stored copy belongs to (the ledger re-judges it).
   */
  markDeleted(
    node: string,
    d: DeletedCopy,
    runId: string,
    at: EpochMs,
    heldBy?: string | null,
  ): { kind: string; id: string }
  query(q: CopyQuery): CopyRow[]
  /** Where the asset's live data is (job.finished `sources`); the latest report wins. */
  recordSource(node: string, asset: AssetRef, storage: StorageIdentity, at: EpochMs): void
}

interface RawCopy {
  node: string
  copy_id: string
  asset_kind: string
  asset_id: string
  asset_name: string | null
  location_kind: string
  location_target: string
  device: string | null
  name: string
  media: string
  offsite: number
  offline: number
  immutable: number
  storage: string | null
  created_at: string
  bytes: number | null
  checksum: string | null
  verification_state: string
  verification_at: string | null
  verification_method: string | null
  verification_detail: string | null
  first_run_id: string | null
  last_run_id: string | null
  last_reported_at: string
  deleted_at: string | null
  deleted_rule: string | null
  restore_test?: string | null
  held_by?: string | null
}

export function createCopiesRepo(db: Db): CopiesRepo {
  const storages = createStorageIdentities(db)
  // UPDATE-then-INSERT: the common case (a copy re-reported by every run) is one UPDATE.
  const update = db.prepare(`UPDATE copies SET asset_kind = @assetKind, asset_id = @assetId, asset_name = @assetName,
      location_kind = @locationKind, location_target = @locationTarget, device = @device, name = @name, media = @media,
      offsite = @offsite, offline = @offline, immutable = @immutable, storage_id = @storageId, created_at = @createdAt,
      bytes = @bytes, checksum = @checksum, verification_state = @vState, verification_at = @vAt,
      verification_method = @vMethod, verification_detail = @vDetail,
      last_run_id = @runId, last_reported_at = @at, deleted_at = NULL, deleted_rule = NULL,
      created_run_id = coalesce(@createdRunId, created_run_id), held_by = @heldBy
    WHERE node = @node AND copy_id = @copyId`)
  const insert =
    db.prepare(`INSERT INTO copies (node, copy_id, asset_kind, asset_id, asset_name, location_kind, location_target,
      device, name, media, offsite, offline, immutable, storage_id, created_at, bytes, checksum, verification_state,
      verification_at, verification_method, verification_detail, first_run_id, last_run_id, last_reported_at,
      created_run_id, held_by)
    VALUES (@node, @copyId, @assetKind, @assetId, @assetName, @locationKind, @locationTarget, @device, @name, @media,
      @offsite, @offline, @immutable, @storageId, @createdAt, @bytes, @checksum, @vState, @vAt, @vMethod, @vDetail,
      @runId, @runId, @at, @createdRunId, @heldBy)
    ON CONFLICT (node, copy_id) DO NOTHING`)
  const markGone = db.prepare<
    Record<string, string>,
    { asset_kind: string; asset_id: string }
  >(`UPDATE copies SET deleted_at = @deletedAt,
      deleted_rule = @rule, last_run_id = @runId, last_reported_at = @at
    WHERE node = @node AND copy_id = @copyId RETURNING asset_kind, asset_id`)
  const tombstone =
    db.prepare(`INSERT INTO copies (node, copy_id, asset_kind, asset_id, asset_name, location_kind, location_target,
      device, name, media, offsite, offline, immutable, created_at, verification_state, first_run_id, last_run_id,
      last_reported_at, deleted_at, deleted_rule, held_by)
    VALUES (@node, @copyId, @assetKind, @assetId, @assetName, @locationKind, @locationTarget, @device, @name, 'unknown',
      0, 0, 0, @deletedAt, 'unverified', @runId, @runId, @at, @deletedAt, @rule, @heldBy)
    ON CONFLICT (node, copy_id) DO NOTHING`)
  const source = db.prepare(`INSERT INTO asset_sources (node, asset_kind, asset_id, storage, reported_at)
    VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET storage = excluded.storage, reported_at = excluded.reported_at`)
  const cache = new Map<string, Statement>()
  return {
    recordSource: (node, asset, storage, at) => {
      source.run(node, asset.kind, asset.id, JSON.stringify(storage), at)
    },
    upsert: (node, c, runId, at, heldBy = null) => {
      const row = {
        node,
        heldBy,
        copyId: c.copyId,
        assetKind: c.asset.kind,
        assetId: c.asset.id,
        assetName: c.asset.name ?? null,
        locationKind: c.location.kind,
        locationTarget: c.location.target,
        device: c.location.device ? JSON.stringify(c.location.device) : null,
        name: c.name,
        media: c.media,
        offsite: c.offsite ? 1 : 0,
        offline: c.offline ? 1 : 0,
        immutable: c.immutable ? 1 : 0,
        storageId: storages.idOf(c.storage),
        createdAt: c.createdAt,
        bytes: c.bytes ?? null,
        checksum: c.checksum ? `${c.checksum.algo}:${c.checksum.value}` : null,
        vState: c.verification.state,
        vAt: c.verification.at ?? null,
        vMethod: c.verification.method ?? null,
        vDetail: c.verification.detail ?? null,
        runId,
        createdRunId: c.runId ?? null,
        at: isoOf(at),
      }
      if (update.run(row).changes === 0) {
        insert.run(row)
      }
    },
    markDeleted: (node, d, runId, at, heldBy = null) => {
      const row = {
        node,
        heldBy,
        copyId: d.copyId,
        assetKind: d.asset.kind,
        assetId: d.asset.id,
        assetName: d.asset.name ?? null,
        locationKind: d.location.kind,
        locationTarget: d.location.target,
        device: d.location.device ? JSON.stringify(d.location.device) : null,
        name: d.name,
        deletedAt: d.deletedAt,
        rule: d.rule,
        runId,
        at: isoOf(at),
      }
      const gone = markGone.get({ node, copyId: d.copyId, deletedAt: d.deletedAt, rule: d.rule, runId, at: row.at })
      if (gone === undefined) {
        tombstone.run(row)
      }
      return gone === undefined ? d.asset : { kind: gone.asset_kind, id: gone.asset_id }
    },
    query: (q) => {
      const where: string[] = []
      const params: Record<string, string | number> = { limit: q.limit, offset: q.offset }
      for (const [col, key] of [
        ['node', 'node'],
        ['asset_kind', 'assetKind'],
        ['asset_id', 'assetId'],
      ] as const) {
        if (q[key] !== undefined) {
          where.push(`${col} = @${key}`)
          params[key] = q[key]
        }
      }
      if (!q.includeDeleted) {
        where.push('deleted_at IS NULL')
      }
      // Fixed fragments only (few shapes, cached); values are bound parameters.
      const filter = where.length ? `WHERE ${where.join(' AND ')}` : ''
      const sql = `SELECT *, ${STORAGE_JSON_OF_COPY} AS storage FROM copies ${filter}
        ORDER BY node, asset_kind, asset_id, created_at DESC, copy_id LIMIT @limit OFFSET @offset`
      let stmt = cache.get(sql)
      if (!stmt) {
        stmt = db.prepare(sql)
        cache.set(sql, stmt)
      }
      return (stmt.all(params) as RawCopy[]).map(toRow)
    },
  }
}

function toRow(r: RawCopy): CopyRow {
  return {
    node: r.node,
    copyId: r.copy_id,
    heldBy: r.held_by ?? null,
    asset: { kind: r.asset_kind, id: r.asset_id, name: r.asset_name },
    location: {
      kind: r.location_kind,
      target: r.location_target,
      device: r.device ? (JSON.parse(r.device) as Record<string, string>) : null,
    },
    name: r.name,
    media: r.media,
    offsite: r.offsite === 1,
    offline: r.offline === 1,
    immutable: r.immutable === 1,
    storage: r.storage ? (JSON.parse(r.storage) as StorageIdentity) : null,
    createdAt: r.created_at,
    bytes: r.bytes,
    checksum: r.checksum,
    verification: {
      state: r.verification_state,
      at: r.verification_at,
      method: r.verification_method,
      detail: r.verification_detail,
    },
    firstRunId: r.first_run_id,
    lastRunId: r.last_run_id,
    lastReportedAt: r.last_reported_at,
    deleted: r.deleted_at !== null ? { at: r.deleted_at, rule: r.deleted_rule ?? '' } : null,
    restoreTest: r.restore_test ? (JSON.parse(r.restore_test) as CopyRow['restoreTest']) : null,
  }
}
