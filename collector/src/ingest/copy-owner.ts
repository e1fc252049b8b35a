import { BackstopError, type AssetRef } from '@backstop/shared'
import type { NodesRepo } from '../store/nodes-repo.ts'

/** Where the ledger files a reported copy: under its asset's owner, and held by the reporter when that differs. */
export interface CopyKey {
  /** The asset's node: whose verdict the copy counts in. */
  readonly node: string
  readonly copyId: string
  /** The node that holds and reports the copy when it is not `node` (a pulled replica); null otherwise. */
  readonly heldBy: string | null
}

/**
 * A copy of the reporter's own asset keeps its key. A copy of another node's asset (`asset.node`, e.g. a NAS that
 * pulled pve1's dataset) is filed under that node, namespaced by the holder so it can never replace one of the
 * owner's own copies. The owner must be enrolled: a typo in a pull job's `source.node` is a clear, retried error,
 * not an asset of a node nobody knows.
 */
export function copyKeyOf(reporter: string, asset: AssetRef, copyId: string, nodes: NodesRepo): CopyKey {
  const owner = asset.node ?? reporter
  if (owner === reporter) {
    return { node: reporter, copyId, heldBy: null }
  }
  if (nodes.get(owner) === undefined) {
    throw new BackstopError(
      'BK_ERR_ASSET_OWNER_UNKNOWN',
      `copy ${copyId} of ${asset.kind} ${asset.id} names node ${JSON.stringify(owner)} as the asset's owner, and no ` +
        'such node is enrolled: enroll that node, or fix `source.node` in the job that pulls it',
    )
  }
  return { node: owner, copyId: `${reporter}:${copyId}`, heldBy: reporter }
}
