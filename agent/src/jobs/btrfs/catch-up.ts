import type { BtrfsOwned } from './snapshots.ts'

/** One `btrfs send [-p parent] snap | btrfs receive` of a catch-up, in the order they must run. */
export interface PlannedSend {
  readonly snap: BtrfsOwned
  /** Null: a full send (the target has nothing in common with us). */
  readonly parent: BtrfsOwned | null
}

/**
 * Pure: the `-p` parent for sending `snap`: the newest older read-only local snapshot whose uuid the target
 * has as a received_uuid (btrbk's correlation is uuid ↔ received_uuid, never parent_uuid).
 */
export function chooseParent(
  local: readonly BtrfsOwned[],
  snap: BtrfsOwned,
  received: ReadonlySet<string>,
): BtrfsOwned | null {
  const older = local.filter((o) => o.readonly && o.parsed.createdAt < snap.parsed.createdAt && received.has(o.sv.uuid))
  return older.at(-1) ?? null
}

/**
 * Pure: what one subvolume's target is missing and how to send it, oldest first. `local` is our snapshots
 * oldest first, `received` the received_uuids present on the target.
 *
 * Like ZFS `send -I base newest` (and btrbk's catch-up, "all missing snapshots … incrementally from the latest
 * common parent, oldest first"): every read-only local snapshot newer than the newest one the target has is
 * sent, each incrementally on the one before it, so a target that was away for three runs gets all three, not
 * only the newest. Snapshots older than the common one are not back-filled (the target pruned them or never had
 * them). With nothing in common only the newest is sent, in full — as ZFS's first replication does.
 */
export function planCatchUp(local: readonly BtrfsOwned[], received: ReadonlySet<string>): PlannedSend[] {
  const sendable = local.filter((o) => o.readonly)
  const common = sendable.findLast((o) => received.has(o.sv.uuid))
  const missing =
    common === undefined
      ? sendable.slice(-1)
      : sendable.filter((o) => o.parsed.createdAt > common.parsed.createdAt && !received.has(o.sv.uuid))
  // Each send lands before the next starts, so the next one's parent is the one just sent.
  const after = new Set(received)
  return missing.map((snap) => {
    const parent = chooseParent(local, snap, after)
    after.add(snap.sv.uuid)
    return { snap, parent }
  })
}
