import type { AssetRef, StorageIdentity } from '@backstop/shared'
import type { CopiesRepo } from '../store/copies-repo.ts'
import type { Db } from '../store/db.ts'
import type { LedgerChangeSink } from '../store/ledger-changes-repo.ts'

/**
 * The collector in its own ledger: its database is an asset of the collector's node id, each backup file one copy
 * on the probed storage of its target directory, and the database's own storage the production place. The ledger
 * judges it with the same 3-2-1-1-0 engine as every agent's asset: a target on the collector's own disk shares the
 * database's failure domain and is a version, not a second copy.
 */
export const COLLECTOR_ASSET: AssetRef = { kind: 'file-set', id: 'collector-db', name: "the collector's database" }

export interface BackupCopy {
  readonly target: string
  readonly dir: string
  readonly file: string
  readonly takenAt: number
  readonly bytes: number | null
  readonly storage: StorageIdentity
  readonly verified: boolean
  /** What the check found (integrity, audit head), shown as the copy's verification detail. */
  readonly detail: string
}

export interface CollectorAsset {
  readonly node: string
  /** Where the live database is (its data directory's storage). */
  recordProduction(storage: StorageIdentity, at: number): void
  recordCopy(c: BackupCopy, at: number): void
  recordDeleted(c: { dir: string; file: string; rule: string; deletedAt: number }, at: number): void
}

export interface CollectorAssetDeps {
  readonly db: Db
  readonly node: string
  readonly copies: CopiesRepo
  readonly changes: LedgerChangeSink
  /** The ledger drains the change it was told about (ledger.wake). */
  readonly wake: () => void
}

export function copyIdOf(dir: string, file: string): string {
  return `self-backup:${dir}/${file}`
}

export function createCollectorAsset(d: CollectorAssetDeps): CollectorAsset {
  const changed = (): void => {
    d.changes.mark({ kind: 'asset', node: d.node, assetKind: COLLECTOR_ASSET.kind, assetId: COLLECTOR_ASSET.id })
  }
  const inTx = (fn: () => void): void => {
    d.db.transaction(() => {
      fn()
      changed()
    })()
    d.wake()
  }
  return {
    node: d.node,
    recordProduction(storage, at) {
      inTx(() => d.copies.recordSource(d.node, COLLECTOR_ASSET, storage, at))
    },
    recordCopy(c, at) {
      const iso = new Date(c.takenAt).toISOString()
      inTx(() =>
        d.copies.upsert(
          d.node,
          {
            copyId: copyIdOf(c.dir, c.file),
            asset: COLLECTOR_ASSET,
            location: {
              kind: 'dir',
              target: c.dir,
              ...(c.storage.fsUuid ? { device: { fsUuid: c.storage.fsUuid } } : {}),
            },
            name: c.file,
            media: c.storage.media,
            offsite: false,
            offline: false,
            immutable: false,
            createdAt: iso,
            ...(c.bytes !== null ? { bytes: c.bytes } : {}),
            verification: {
              state: c.verified ? 'verified' : 'failed',
              at: new Date(at).toISOString(),
              method: 'sqlite-integrity-audit-head',
              detail: c.detail.slice(0, 8192),
            },
            storage: c.storage,
          },
          `self-backup-${iso}`,
          at,
        ),
      )
    },
    recordDeleted(c, at) {
      inTx(() => {
        d.copies.markDeleted(
          d.node,
          {
            copyId: copyIdOf(c.dir, c.file),
            asset: COLLECTOR_ASSET,
            location: { kind: 'dir', target: c.dir },
            name: c.file,
            deletedAt: new Date(c.deletedAt).toISOString(),
            rule: c.rule.slice(0, 256),
          },
          `self-backup-retention-${new Date(at).toISOString()}`,
          at,
        )
      })
    },
  }
}
