import Type, { type Static } from 'typebox'
import { Base64, Bytes, IsoTimestamp, JobName, LongText, MsgId, NodeId, RunId, ShortText } from './common.ts'
import { AssetRef, assetKinds, Copy, DeletedCopy } from './copy.ts'
import { StorageIdentity } from './storage.ts'

/** Agent → collector: a node's heartbeat (liveness comes from this plus the retained LWT status). */
export const HeartbeatBody = Type.Object(
  {
    agentVersion: ShortText,
    hostname: ShortText,
    uptimeS: Type.Number({ minimum: 0 }),
    outbox: Type.Object({ pending: Bytes, bytes: Bytes }, { additionalProperties: false }),
    jobs: Type.Array(
      Type.Object(
        {
          job: JobName,
          kind: ShortText,
          nextRunAt: Type.Optional(IsoTimestamp),
          skippedOverlaps: Bytes,
        },
        { additionalProperties: false },
      ),
      { maxItems: 1000 },
    ),
  },
  { additionalProperties: false },
)

/** Agent → collector: enrollment. Signed with the key it asks the collector to pin (proof of possession). */
export const EnrollBody = Type.Object(
  {
    publicKey: Base64,
    token: Type.String({ minLength: 1, maxLength: 256 }),
    hostname: ShortText,
    agentVersion: ShortText,
  },
  { additionalProperties: false },
)

export const triggers = ['schedule', 'catch-up', 'manual', 'command', 'hook'] as const

export const JobStartedBody = Type.Object(
  {
    runId: RunId,
    job: JobName,
    jobKind: ShortText,
    startedAt: IsoTimestamp,
    trigger: Type.Enum(triggers),
    /** The schedule slot this run serves (for catch-up runs: the slot that was missed). */
    scheduledFor: Type.Optional(IsoTimestamp),
  },
  { additionalProperties: false },
)

export const JobProgressBody = Type.Object(
  {
    runId: RunId,
    job: JobName,
    percent: Type.Number({ minimum: 0, maximum: 100 }),
    message: Type.Optional(ShortText),
  },
  { additionalProperties: false },
)

export const runStatuses = ['success', 'partial', 'failed'] as const
export type RunStatus = (typeof runStatuses)[number]

export const JobFinishedBody = Type.Object(
  {
    runId: RunId,
    job: JobName,
    jobKind: ShortText,
    startedAt: IsoTimestamp,
    finishedAt: IsoTimestamp,
    status: Type.Enum(runStatuses),
    error: Type.Optional(Type.Object({ code: ShortText, message: LongText }, { additionalProperties: false })),
    bytes: Type.Optional(Bytes),
    /** Every copy the run produced or saw (snapshots, replicas, archives), with its current state. */
    copies: Type.Array(Copy, { maxItems: 5000 }),
    /** Every copy the run deleted, with the retention rule that decided it. */
    deleted: Type.Array(DeletedCopy, { maxItems: 5000 }),
    warnings: Type.Array(LongText, { maxItems: 100 }),
    /** Where the live data of each asset the run protects lives: copy #1. Copies sharing a device with it are
     * versions (listed, never counted). */
    sources: Type.Optional(
      Type.Array(Type.Object({ asset: AssetRef, storage: StorageIdentity }, { additionalProperties: false }), {
        maxItems: 1000,
      }),
    ),
  },
  { additionalProperties: false },
)

const SshFingerprint = Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}={0,2}$' })

/** A mounted filesystem as the agent saw it (findmnt): context for coverage, not an asset itself. */
export const InventoryMount = Type.Object(
  { target: LongText, source: LongText, fstype: ShortText },
  { additionalProperties: false },
)

/** A block device (lsblk): which disks the node has, so an unbacked disk is visible next to its assets. */
export const InventoryBlockDevice = Type.Object(
  {
    name: ShortText,
    type: ShortText,
    size: Bytes,
    model: Type.Optional(ShortText),
    serial: Type.Optional(ShortText),
    tran: Type.Optional(ShortText),
    removable: Type.Boolean(),
    fstype: Type.Optional(ShortText),
    /** The filesystem's UUID (lsblk, else blkid; added later): a removable medium plugged in here is online. */
    uuid: Type.Optional(ShortText),
    mountpoint: Type.Optional(LongText),
  },
  { additionalProperties: false },
)

/** What a failing tool can leave unknown in an inventory: the assets of one kind, or one of the node's facts. */
export const inventoryParts = [...assetKinds, 'mounts', 'blockDevices', 'sshKeys'] as const
export type InventoryPart = (typeof inventoryParts)[number]

/** Agent → collector: what the node has that could be protected (datasets, subvolumes, guests). */
export const InventoryBody = Type.Object(
  {
    at: IsoTimestamp,
    /** The node's role from the agent config (`role:`); the collector requires a bare-metal image per role. */
    role: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9-]*$' })),
    /** Optional (added later): agents before it send assets only. */
    mounts: Type.Optional(Type.Array(InventoryMount, { maxItems: 2000 })),
    blockDevices: Type.Optional(Type.Array(InventoryBlockDevice, { maxItems: 2000 })),
    /**
     * SHA-256 fingerprints (`SHA256:…`, as ssh-keygen prints them) of the ssh keys authorized to log in to this node
     * and of the keys it holds (added later): a replica pulled here is immutable only while no key of its source
     * node may log in here.
     */
    sshKeys: Type.Optional(
      Type.Object(
        {
          authorized: Type.Array(SshFingerprint, { maxItems: 500 }),
          own: Type.Array(SshFingerprint, { maxItems: 500 }),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * The parts this inventory could not list because their tool failed, each with the failure (added later): the
     * collector keeps what the node's previous inventory said of them instead of taking them as gone. A fact listed
     * here (mounts, blockDevices, sshKeys) is omitted; the assets of a listed kind may be partial.
     */
    incomplete: Type.Optional(
      Type.Array(Type.Object({ part: Type.Enum(inventoryParts), reason: LongText }, { additionalProperties: false }), {
        maxItems: inventoryParts.length,
      }),
    ),
    assets: Type.Array(
      Type.Object(
        {
          asset: AssetRef,
          /** Job names on this node that cover it; empty = a coverage gap. */
          coveredBy: Type.Array(JobName, { maxItems: 100 }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10000 },
    ),
  },
  { additionalProperties: false },
)

/** Collector → agent: application-level receipts, published only after the SQLite commit. */
export const AckBody = Type.Object(
  {
    acked: Type.Array(MsgId, { maxItems: 10000 }),
    rejected: Type.Array(
      Type.Object(
        {
          msgId: MsgId,
          code: ShortText,
          reason: LongText,
          /** Permanent rejections are dropped from the outbox (dead-lettered); transient ones are retried. */
          permanent: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10000 },
    ),
    /** Present when this ack completes an enrollment: the agent pins the collector's key from here on. */
    enrollment: Type.Optional(
      Type.Object({ node: NodeId, collectorPublicKey: Base64 }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
)

export type HeartbeatBody = Static<typeof HeartbeatBody>
export type EnrollBody = Static<typeof EnrollBody>
export type JobStartedBody = Static<typeof JobStartedBody>
export type JobProgressBody = Static<typeof JobProgressBody>
export type JobFinishedBody = Static<typeof JobFinishedBody>
export type InventoryBody = Static<typeof InventoryBody>
export type AckBody = Static<typeof AckBody>
export type Trigger = (typeof triggers)[number]
