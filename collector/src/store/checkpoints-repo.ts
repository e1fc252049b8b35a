import type { Db } from './db.ts'
import { isoOf, type EpochMs } from './iso-time.ts'

export interface StoredCheckpoint {
  readonly node: string
  readonly coveredSeq: number
  readonly backupTakenAt: string
  readonly backupPath: string
}

/** What the collector holds per enrolled node now, and the checkpoint it last recorded (migration 0043). */
export interface NodeWatermark {
  readonly node: string
  /** Highest committed seq of the node in this database (0 = none yet). */
  readonly highWater: number
  readonly checkpoint: StoredCheckpoint | undefined
}

export interface CheckpointsRepo {
  /** Records the newest verified backup's coverage of each node (a node missing from `covered` holds 0). */
  record(covered: ReadonlyMap<string, number>, backup: { path: string; takenAt: string }, at: EpochMs): void
  /** Every enrolled node with its high-water mark and recorded checkpoint. */
  watermarks(): NodeWatermark[]
}

/**
 * `node_checkpoints` plus the node's high-water mark, read from `node_high_water` (the idempotency mark the ingest
 * keeps in the transaction that applies each event, migration 0040; `events` would fall once retention prunes it).
 */
export function createCheckpointsRepo(db: Db): CheckpointsRepo {
  const upsert = db.prepare(`INSERT INTO node_checkpoints (node, covered_seq, backup_taken_at, backup_path, updated_at)
    VALUES (@node, @coveredSeq, @takenAt, @path, @at)
    ON CONFLICT (node) DO UPDATE SET covered_seq = excluded.covered_seq, backup_taken_at = excluded.backup_taken_at,
      backup_path = excluded.backup_path, updated_at = excluded.updated_at`)
  const nodes = db.prepare<[], { node: string }>('SELECT node FROM nodes ORDER BY node')
  const highWater = db.prepare<[], { node: string; seq: number }>('SELECT node, seq FROM node_high_water')
  const checkpoints = db.prepare<[], StoredCheckpoint>(
    `SELECT node, covered_seq AS coveredSeq, backup_taken_at AS backupTakenAt, backup_path AS backupPath
     FROM node_checkpoints`,
  )
  return {
    record(covered, backup, at) {
      const all = new Set([...nodes.all().map((r) => r.node), ...covered.keys()])
      db.transaction(() => {
        for (const node of all) {
          upsert.run({
            node,
            coveredSeq: covered.get(node) ?? 0,
            takenAt: backup.takenAt,
            path: backup.path,
            at: isoOf(at),
          })
        }
      })()
    },
    watermarks() {
      const high = new Map(highWater.all().map((r) => [r.node, r.seq]))
      const cps = new Map(checkpoints.all().map((c) => [c.node, c]))
      return nodes.all().map(({ node }) => ({ node, highWater: high.get(node) ?? 0, checkpoint: cps.get(node) }))
    },
  }
}
