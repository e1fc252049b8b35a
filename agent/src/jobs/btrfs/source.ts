import type { MountInfo } from '../../tools/btrfs-parse.ts'
import type { BtrfsOwned } from './snapshots.ts'

/** The source side as the run left it before replication. */
export interface BtrfsSource {
  readonly mount: MountInfo
  /** Per subvolume name: our local snapshots, oldest first (read-only ones can be sent). */
  readonly owned: Map<string, BtrfsOwned[]>
  /** Subvolume name → source path (the asset id). */
  readonly assets: Map<string, string>
}
