import type { KeyObject } from 'node:crypto'
import { publicKeyObject } from '@backstop/shared'
import type { NodesRepo } from '../store/nodes-repo.ts'

/**
 * Pinned node keys, in memory (loaded from `nodes` at start, extended after each enrollment commits). Both the
 * broker's CONNECT check and every message's signature check read it, so it must never hold a key whose
 * enrollment was not committed: `pin()` is called only after the batch transaction.
 */
export interface KeyRing {
  get(node: string): PinnedKey | undefined
  pin(node: string, publicKey: string): void
  /** Forget a node (admin re-enrollment, identity/enrollment-gate.ts). */
  unpin(node: string): void
}

export interface PinnedKey {
  readonly publicKey: string
  readonly key: KeyObject
}

export function createKeyRing(nodes: Pick<NodesRepo, 'list'>): KeyRing {
  const keys = new Map<string, PinnedKey>()
  const pin = (node: string, publicKey: string): void => {
    const key = publicKeyObject(publicKey)
    if (key) {
      keys.set(node, { publicKey, key })
    }
  }
  for (const n of nodes.list()) {
    pin(n.node, n.publicKey)
  }
  return {
    get: (node) => keys.get(node),
    pin,
    unpin: (node) => {
      keys.delete(node)
    },
  }
}
