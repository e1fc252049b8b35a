import Type, { type Static } from 'typebox'
import { Bytes, IsoTimestamp, LongText, NodeId, RunId, ShortText } from './common.ts'
import { MediaType, StorageIdentity } from './storage.ts'

export { MediaType, mediaTypes } from './storage.ts'

/** What is being protected. */
export const assetKinds = ['zfs-dataset', 'btrfs-subvolume', 'vm', 'ct', 'host-image', 'file-set'] as const
export const AssetKind = Type.Enum(assetKinds)
export type AssetKind = (typeof assetKinds)[number]

export const AssetRef = Type.Object(
  {
    kind: AssetKind,
    /** Stable id within the node: dataset name, subvolume path, `vm/101`, `fileset:<job>`. */
    id: Type.String({ minLength: 1, maxLength: 512 }),
    name: Type.Optional(ShortText),
    /**
     * The node whose asset this is, when the reporting node holds a copy of another node's asset (a replica it
     * pulled). Absent: the reporter's own. Only on copies and deletions; the collector files such a copy under
     * that node's asset, as held by the reporter.
     */
    node: Type.Optional(NodeId),
  },
  { additionalProperties: false },
)
export type AssetRef = Static<typeof AssetRef>

export const locationKinds = ['dir', 'zfs-pool', 'btrfs-fs', 'usb', 'pbs', 'nas', 'object'] as const
export const LocationKind = Type.Enum(locationKinds)

/** Where a copy lives, down to the physical medium when it is known (for "copy on a failing disk"). */
export const Location = Type.Object(
  {
    kind: LocationKind,
    /** Path, pool/filesystem name, storage id or URL. */
    target: Type.String({ minLength: 1, maxLength: 1024 }),
    device: Type.Optional(
      Type.Object(
        {
          id: Type.Optional(ShortText),
          fsUuid: Type.Optional(ShortText),
          label: Type.Optional(ShortText),
          serial: Type.Optional(ShortText),
          model: Type.Optional(ShortText),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type Location = Static<typeof Location>

export const verificationStates = ['verified', 'failed', 'unverified'] as const
export const Verification = Type.Object(
  {
    state: Type.Enum(verificationStates),
    at: Type.Optional(IsoTimestamp),
    /** e.g. `sha256-manifest`, `zfs-guid`, `btrfs-readonly`, `pbs-verify` */
    method: Type.Optional(ShortText),
    detail: Type.Optional(LongText),
  },
  { additionalProperties: false },
)
export type Verification = Static<typeof Verification>

export const Copy = Type.Object(
  {
    /** Unique per node and stable across reports: the same copy reported twice is one ledger row. */
    copyId: Type.String({ minLength: 1, maxLength: 1024 }),
    asset: AssetRef,
    location: Location,
    /** Snapshot or file name as it exists on the location. */
    name: Type.String({ minLength: 1, maxLength: 1024 }),
    media: MediaType,
    offsite: Type.Boolean(),
    offline: Type.Boolean(),
    immutable: Type.Boolean(),
    createdAt: IsoTimestamp,
    bytes: Type.Optional(Bytes),
    checksum: Type.Optional(
      Type.Object(
        { algo: Type.Literal('sha256'), value: Type.String({ pattern: '^[0-9a-f]{64}$' }) },
        { additionalProperties: false },
      ),
    ),
    verification: Verification,
    /** The run that created this copy; absent for copies the run only saw (made earlier or elsewhere). The
     * collector pairs copies with runs by this id, never by comparing timestamps of different precision. */
    runId: Type.Optional(RunId),
    /** The probed failure domain of the location (devices, host, site, media, attach state, immutability).
     * Absent from agents older than 0.4: such copies are judged by `location` alone and never count as offsite,
     * offline or immutable on the operator's word. */
    storage: Type.Optional(StorageIdentity),
  },
  { additionalProperties: false },
)
export type Copy = Static<typeof Copy>

/** A copy the agent removed, with the rule that caused it (audit trail). */
export const DeletedCopy = Type.Object(
  {
    copyId: Type.String({ minLength: 1, maxLength: 1024 }),
    asset: AssetRef,
    location: Location,
    name: Type.String({ minLength: 1, maxLength: 1024 }),
    deletedAt: IsoTimestamp,
    /** e.g. `keep-last(5)`, `gfs: not in daily(30)/weekly(12)/…` */
    rule: ShortText,
  },
  { additionalProperties: false },
)
export type DeletedCopy = Static<typeof DeletedCopy>
