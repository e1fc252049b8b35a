import type {
  AssetExemption,
  AssetLifecycle,
  LedgerCopy,
  MediaType,
  MediumSeen,
  MediumSite,
  PlaceJudgement,
  StorageIdentity,
  Tier,
  Verdict,
  VerdictReason,
  VerdictStatus,
} from '@backstop/shared'
import type { Db } from './db.ts'
import { locationKeyOf } from './copies-repo.ts'
import { STORAGE_JSON_OF_COPY } from './storage-identities.ts'

export interface AssetKey {
  readonly node: string
  readonly kind: string
  readonly id: string
}

export interface LedgerAssetRow extends AssetKey {
  readonly name: string | null
  readonly tier: Tier
  readonly lifecycle: AssetLifecycle
  readonly productionMedia: MediaType | null
  readonly productionLocation: string | null
  readonly firstSeen: number
  readonly verdict: VerdictStatus
  readonly reasons: VerdictReason[]
  readonly counts: Record<string, number | null>
  readonly evaluatedAt: number
  readonly expiresAt: number | null
  readonly lastSuccessAt: number | null
  /** Every place holding live copies as the last verdict judged it (copy/version, failure domain, why). */
  readonly places: PlaceJudgement[]
  /** Marked intentionally unprotected (PUT /api/v1/asset/exemption): the verdict is then `exempt`. */
  readonly exemption: AssetExemption | null
}

export interface LedgerAssetQuery {
  readonly node?: string | undefined
  readonly kind?: string | undefined
  readonly verdict?: VerdictStatus | undefined
  readonly tier?: Tier | undefined
  readonly lifecycle?: AssetLifecycle | undefined
  readonly limit: number
  readonly offset: number
}

export interface PolicyPatch {
  readonly tier?: Tier | undefined
  readonly lifecycle?: AssetLifecycle | undefined
  readonly productionMedia?: MediaType | null | undefined
  readonly productionLocation?: string | null | undefined
}

export interface FleetSummaryRow {
  readonly verdict: VerdictStatus
  readonly tier: Tier
  readonly assets: number
}

interface Raw {
  node: string
  asset_kind: string
  asset_id: string
  name: string | null
  tier: Tier
  lifecycle: AssetLifecycle
  production_media: MediaType | null
  production_location: string | null
  first_seen: number
  verdict: VerdictStatus
  reasons: string
  counts: string
  evaluated_at: number
  expires_at: number | null
  last_success_at: number | null
  places: string | null
  exempt_reason: string | null
  exempt_actor: string | null
  exempt_at: number | null
}

/** An asset with its exemption (migration 0017), if an operator marked it intentionally unprotected. */
const WITH_EXEMPTION = `SELECT la.*, ae.reason AS exempt_reason, ae.actor AS exempt_actor, ae.at AS exempt_at
  FROM ledger_assets la LEFT JOIN asset_exemptions ae
  ON ae.node = la.node AND ae.asset_kind = la.asset_kind AND ae.asset_id = la.asset_id`

interface RawCopy {
  copy_id: string
  location_kind: string
  location_target: string
  device: string | null
  media: MediaType
  offsite: number
  offline: number
  immutable: number
  name: string
  storage: string | null
  last_reported_at: string
  created_at: string
  verification_state: LedgerCopy['verification']
  held_by: string | null
}

/** Columns of ledger_assets as `la` (joined with its exemption in WITH_EXEMPTION). */
const FILTERS = [
  ['la.node', 'node'],
  ['la.asset_kind', 'kind'],
  ['la.verdict', 'verdict'],
  ['la.tier', 'tier'],
  ['la.lifecycle', 'lifecycle'],
] as const

/** Same identity as shared/src/health (deviceKeyOfLocation): a disk by serial, a filesystem by uuid. */
export function deviceKeyOf(device: Record<string, string> | null): string | undefined {
  if (device?.serial) {
    return `serial:${device.serial}`
  }
  if (device?.fsUuid) {
    return `fsuuid:${device.fsUuid.toLowerCase()}`
  }
  return undefined
}

export function createLedgerAssetsRepo(db: Db) {
  const ensure =
    db.prepare(`INSERT INTO ledger_assets (node, asset_kind, asset_id, name, tier, production_location, first_seen)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET name = coalesce(excluded.name, ledger_assets.name)`)
  const get = db.prepare<[string, string, string], Raw>(
    `${WITH_EXEMPTION} WHERE la.node = ? AND la.asset_kind = ? AND la.asset_id = ?`,
  )
  const save =
    db.prepare(`UPDATE ledger_assets SET verdict = @verdict, reasons = @reasons, counts = @counts, evaluated_at = @at,
    expires_at = @expiresAt, last_success_at = @lastSuccessAt, places = @places
    WHERE node = @node AND asset_kind = @kind AND asset_id = @id`)
  const copies = db.prepare<
    [string, string, string],
    RawCopy
  >(`SELECT copy_id, location_kind, location_target, device, media, offsite,
    offline, immutable, name, ${STORAGE_JSON_OF_COPY} AS storage, last_reported_at, created_at, verification_state,
    held_by FROM copies
    WHERE node = ? AND asset_kind = ? AND asset_id = ? AND deleted_at IS NULL`)
  const due = db.prepare<[number, number], { node: string; asset_kind: string; asset_id: string }>(
    'SELECT node, asset_kind, asset_id FROM ledger_assets WHERE expires_at IS NOT NULL AND expires_at <= ? ' +
      'ORDER BY expires_at LIMIT ?',
  )
  const minExpiry = db.prepare<[], { t: number | null }>(
    'SELECT min(expires_at) AS t FROM ledger_assets WHERE expires_at IS NOT NULL',
  )
  const summary = db.prepare<[], FleetSummaryRow>(
    'SELECT verdict, tier, count(*) AS assets FROM ledger_assets GROUP BY verdict, tier',
  )
  const byNode = db.prepare<[string], AssetKey & { id: string }>(
    'SELECT node, asset_kind AS kind, asset_id AS id FROM ledger_assets WHERE node = ?',
  )
  const source = db.prepare<[string, string, string], { storage: string }>(
    'SELECT storage FROM asset_sources WHERE node = ? AND asset_kind = ? AND asset_id = ?',
  )
  const sites = db.prepare<[], { fs_uuid: string; site: string; recorded_at: number }>(
    'SELECT fs_uuid, site, recorded_at FROM medium_sites',
  )
  const putSite = db.prepare(`INSERT INTO medium_sites (fs_uuid, site, recorded_at, recorded_by) VALUES (?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET site = excluded.site, recorded_at = excluded.recorded_at,
      recorded_by = excluded.recorded_by`)
  const onMedium = prepareAssetsOnMedium(db)
  // Nodes on which a key `node` holds may log in: its inventory's own keys among their authorized ones.
  const loginsOf = db.prepare<[string], { node: string }>(`SELECT DISTINCT h.node FROM node_inventory s,
    json_each(s.ssh_keys, '$.own') o, node_inventory h, json_each(h.ssh_keys, '$.authorized') a
    WHERE s.node = ? AND h.node != s.node AND a.value = o.value`)
  const seenIn = db.prepare<[string], { node: string; reported_at: string }>(`SELECT i.node, i.reported_at
    FROM node_inventory i, json_each(i.block_devices) d WHERE lower(json_extract(d.value, '$.uuid')) = ?`)
  const listCache = new Map<string, ReturnType<Db['prepare']>>()
  return {
    /** Where the asset's live data is, as the agent last reported it (job.finished sources). */
    productionStorage(k: AssetKey): StorageIdentity | undefined {
      const r = source.get(k.node, k.kind, k.id)
      return r && (JSON.parse(r.storage) as StorageIdentity)
    },
    /** Operator rotation records: fsUuid (lower case) → site and when it was recorded. */
    mediumSites(): Record<string, MediumSite> {
      return Object.fromEntries(sites.all().map((r) => [r.fs_uuid, { site: r.site, recordedAt: r.recorded_at }]))
    },
    /** Records that a medium is now at a site; returns the assets with live copies (or live data) on it. */
    setMediumSite(fsUuid: string, site: string, by: string | null, at: number): AssetKey[] {
      const id = fsUuid.toLowerCase()
      putSite.run(id, site, at, by)
      return onMedium(id)
    },
    /** The other nodes on which an ssh key this node holds is authorized (both nodes' latest inventories). */
    loginsFrom(node: string): string[] {
      return loginsOf.all(node).map((r) => r.node)
    },
    /** The nodes whose latest inventory lists a filesystem with each of these UUIDs (lower case) as plugged in. */
    mediaSeen(fsUuids: readonly string[]): Record<string, MediumSeen[]> {
      const out: Record<string, MediumSeen[]> = {}
      for (const id of new Set(fsUuids.map((u) => u.toLowerCase()))) {
        const rows = seenIn.all(id)
        if (rows.length > 0) {
          out[id] = rows.map((r) => ({ node: r.node, at: Date.parse(r.reported_at) }))
        }
      }
      return out
    },
    /** Creates the row the first time an asset is seen (copy, run or inventory); never changes its policy. */
    ensure(k: AssetKey, name: string | null, tier: Tier, now: number): void {
      // Snapshots of a ZFS dataset live in its own pool: the same failure domain as the live data.
      const prodLocation = k.kind === 'zfs-dataset' ? `${k.node}/zfs-pool/${k.id.split('/')[0]}` : null
      ensure.run(k.node, k.kind, k.id, name, tier, prodLocation, now)
    },
    get(k: AssetKey): LedgerAssetRow | undefined {
      const r = get.get(k.node, k.kind, k.id)
      return r && toRow(r)
    },
    /** Live copies in the shape the verdict needs. */
    copies(k: AssetKey): LedgerCopy[] {
      return copies.all(k.node, k.kind, k.id).map((c) => ({
        copyId: c.copy_id,
        locationKey: locationKeyOf(c.held_by ?? k.node, c.location_kind, c.location_target),
        deviceKey: deviceKeyOf(c.device ? (JSON.parse(c.device) as Record<string, string>) : null),
        media: c.media,
        offsite: c.offsite === 1,
        offline: c.offline === 1,
        immutable: c.immutable === 1,
        createdAt: Date.parse(c.created_at),
        verification: c.verification_state,
        name: c.name,
        storage: c.storage ? (JSON.parse(c.storage) as StorageIdentity) : undefined,
        reportedAt: Date.parse(c.last_reported_at),
      }))
    },
    saveVerdict(k: AssetKey, v: Verdict, at: number): void {
      save.run({
        node: k.node,
        kind: k.kind,
        id: k.id,
        verdict: v.status,
        reasons: JSON.stringify(v.reasons),
        counts: JSON.stringify(v.counts),
        at,
        expiresAt: v.expiresAt,
        lastSuccessAt: v.counts.newestAt,
        places: JSON.stringify(v.places),
      })
    },
    setPolicy(k: AssetKey, p: PolicyPatch): boolean {
      const sets: string[] = []
      const params: Record<string, string | null> = { node: k.node, kind: k.kind, id: k.id }
      for (const [col, key] of [
        ['tier', 'tier'],
        ['lifecycle', 'lifecycle'],
        ['production_media', 'productionMedia'],
        ['production_location', 'productionLocation'],
      ] as const) {
        if (p[key] !== undefined) {
          sets.push(`${col} = @${key}`)
          params[key] = p[key]
        }
      }
      if (sets.length === 0) {
        return get.get(k.node, k.kind, k.id) !== undefined
      }
      return (
        db
          .prepare(
            `UPDATE ledger_assets SET ${sets.join(', ')} WHERE node = @node AND asset_kind = @kind AND asset_id = @id`,
          )
          .run(params).changes > 0
      )
    },
    dueForExpiry(now: number, limit: number): AssetKey[] {
      return due.all(now, limit).map((r) => ({ node: r.node, kind: r.asset_kind, id: r.asset_id }))
    },
    nextExpiry(): number | null {
      return minExpiry.get()?.t ?? null
    },
    ofNode(node: string): AssetKey[] {
      return byNode.all(node)
    },
    summary(): FleetSummaryRow[] {
      return summary.all()
    },
    list(q: LedgerAssetQuery): { items: LedgerAssetRow[]; total: number } {
      const where: string[] = []
      const params: Record<string, string | number> = {}
      for (const [col, key] of FILTERS) {
        if (q[key] !== undefined) {
          where.push(`${col} = @${key}`)
          params[key] = q[key]
        }
      }
      // Fixed column fragments only (cached per shape); values are bound.
      const w = where.length ? `WHERE ${where.join(' AND ')}` : ''
      const sql = `${WITH_EXEMPTION} ${w} ORDER BY la.node, la.asset_kind, la.asset_id LIMIT @limit OFFSET @offset`
      let stmt = listCache.get(sql)
      if (!stmt) {
        stmt = db.prepare(sql)
        listCache.set(sql, stmt)
      }
      const items = (stmt.all({ ...params, limit: q.limit, offset: q.offset }) as Raw[]).map(toRow)
      const total = (db.prepare(`SELECT count(*) AS n FROM ledger_assets la ${w}`).get(params) as { n: number }).n
      return { items, total }
    },
  }
}
export type LedgerAssetsRepo = ReturnType<typeof createLedgerAssetsRepo>

function toRow(r: Raw): LedgerAssetRow {
  return {
    node: r.node,
    kind: r.asset_kind,
    id: r.asset_id,
    name: r.name,
    tier: r.tier,
    lifecycle: r.lifecycle,
    productionMedia: r.production_media,
    productionLocation: r.production_location,
    firstSeen: r.first_seen,
    verdict: r.verdict,
    reasons: JSON.parse(r.reasons) as VerdictReason[],
    counts: JSON.parse(r.counts) as Record<string, number | null>,
    evaluatedAt: r.evaluated_at,
    expiresAt: r.expires_at,
    lastSuccessAt: r.last_success_at,
    places: r.places ? (JSON.parse(r.places) as PlaceJudgement[]) : [],
    exemption:
      r.exempt_reason === null || r.exempt_actor === null || r.exempt_at === null
        ? null
        : { reason: r.exempt_reason, actor: r.exempt_actor, at: r.exempt_at },
  }
}

/** Assets with live copies (or live data) on the medium with this filesystem UUID (lower case). */
export function prepareAssetsOnMedium(db: Db): (fsUuid: string) => AssetKey[] {
  const onMedium = db.prepare<[string, string], AssetKey>(`SELECT DISTINCT node, asset_kind AS kind,
    asset_id AS id FROM copies WHERE deleted_at IS NULL
      AND storage_id IN (SELECT id FROM storage_identities WHERE lower(json_extract(json, '$.fsUuid')) = ?)
    UNION SELECT node, asset_kind, asset_id FROM asset_sources WHERE lower(json_extract(storage, '$.fsUuid')) = ?`)
  return (fsUuid) => onMedium.all(fsUuid, fsUuid)
}
