import type { StorageIdentity } from '@backstop/shared'
import type { Db } from './db.ts'

/**
 * Copies name their probed storage by the id of one `storage_identities` row per distinct identity (migration 0047):
 * the JSON is the same for every copy on a pool or disk, and was a third of a `copies` row.
 */
export interface StorageIdentities {
  /** The id of this identity, stored first if new; null for a copy without one (an agent that does not probe). */
  idOf(s: StorageIdentity | undefined): number | null
}

/** SQL for a copy row's identity JSON (or NULL), in a query over `copies` (aliased or not: `storage_id` is unique). */
export const STORAGE_JSON_OF_COPY = '(SELECT si.json FROM storage_identities si WHERE si.id = storage_id)'

export function createStorageIdentities(db: Db): StorageIdentities {
  const find = db.prepare<[string], { id: number }>('SELECT id FROM storage_identities WHERE json = ?')
  const add = db.prepare<[string], { id: number }>('INSERT INTO storage_identities (json) VALUES (?) RETURNING id')
  // No cache: an id cached from a batch that rolled back would name a row that does not exist.
  return {
    idOf(s) {
      if (!s) {
        return null
      }
      const json = JSON.stringify(s)
      return (find.get(json) ?? (add.get(json) as { id: number })).id
    },
  }
}
