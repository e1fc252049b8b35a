import type { Copy, DeletedCopy, Location, MediaType, Verification } from '@backstop/shared'
import type { ZfsSnapshotInfo } from '../../tools/zfs-parse.ts'

export interface CopyClass {
  readonly media: MediaType
  readonly offsite: boolean
  readonly offline: boolean
}

/** Stable per node: a full ZFS name is unique on a host, and the same snapshot reported twice is one row. */
export const zfsCopyId = (fullName: string): string => `zfs:${fullName}`

/**
 * A snapshot or replica as a Copy. `asset` is always the *source* dataset (a replica on `usb/tank/data`
 * protects `tank/data`); `immutable` is a user hold (`zfs destroy` fails while it is there).
 */
export function zfsCopy(
  snap: ZfsSnapshotInfo,
  createdAt: Date,
  asset: string,
  location: Location,
  cls: CopyClass,
  verification: Verification,
): Copy {
  return {
    copyId: zfsCopyId(snap.fullName),
    asset: { kind: 'zfs-dataset', id: asset },
    location,
    name: snap.fullName,
    media: cls.media,
    offsite: cls.offsite,
    offline: cls.offline,
    immutable: snap.userrefs > 0,
    createdAt: createdAt.toISOString(),
    ...(snap.referenced !== null ? { bytes: snap.referenced } : {}),
    verification,
  }
}

export function zfsDeleted(fullName: string, asset: string, location: Location, at: Date, rule: string): DeletedCopy {
  return {
    copyId: zfsCopyId(fullName),
    asset: { kind: 'zfs-dataset', id: asset },
    location,
    name: fullName,
    deletedAt: at.toISOString(),
    rule: rule.slice(0, 256),
  }
}
