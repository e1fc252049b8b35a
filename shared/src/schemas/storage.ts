import Type, { type Static } from 'typebox'
import { IsoTimestamp, LongText, ShortText } from './common.ts'

/** What a copy of an asset is stored on. 3-2-1 counts distinct media types. */
export const mediaTypes = ['nvme', 'ssd', 'hdd', 'usb', 'nas', 'object', 'tape', 'optical'] as const
export const MediaType = Type.Enum(mediaTypes)
export type MediaType = (typeof mediaTypes)[number]

/**
 * Where a copy (or the live data) physically lives, as the agent probed it — never as an operator typed it.
 * The verdict counts copies by failure domain: two places that share a device, or a site, fail together.
 */
export const deviceTransports = [
  'usb',
  'nvme',
  'sata',
  'sas',
  'ata',
  'scsi',
  'virtio',
  'loop',
  'network',
  'unknown',
] as const
export const StorageDevice = Type.Object(
  {
    /**
     * Stable identity of the physical medium: `wwn:<wwn>`, else `serial:<serial>`, else for a loop device
     * `loop:<dev of the filesystem holding the backing file>:<backing file>` (the loop file dies with that disk).
     */
    id: Type.String({ minLength: 1, maxLength: 512 }),
    transport: Type.Enum(deviceTransports),
    rotational: Type.Optional(Type.Boolean()),
    removable: Type.Optional(Type.Boolean()),
    model: Type.Optional(ShortText),
  },
  { additionalProperties: false },
)
export type StorageDevice = Static<typeof StorageDevice>

/** Mechanisms that refuse deletion by the node's own credentials (probed by the agent, with the time of the probe). */
export const immutabilityKinds = ['append-only', 'object-lock', 'pull-replica', 'write-once'] as const
/** Protection against accidents only: the node's root can undo it in one command; shown, never counted. */
export const accidentProtections = ['zfs-hold', 'btrfs-readonly', 'chattr-immutable'] as const

export const StorageIdentity = Type.Object(
  {
    /** The host whose disks hold it (node id or hostname); an object store's endpoint host. */
    host: ShortText,
    /** The site of that host or target, from config (`site:` of the node or the target); a copy is offsite when
     * its site differs from the production site. */
    site: ShortText,
    /** Block devices beneath the filesystem or pool (every vdev member); empty for object storage. */
    devices: Type.Array(StorageDevice, { maxItems: 256 }),
    /** Filesystem UUID or ZFS pool GUID. */
    fsUuid: Type.Optional(ShortText),
    /** Object store bucket or repository id (restic repository id, S3 `endpoint/bucket`). */
    repository: Type.Optional(ShortText),
    /** Detected from the devices (rotational, NVMe, USB transport, object store); config may only refine it. */
    media: MediaType,
    /** Removable media: attached to a production host right now. Offline only while false. */
    attached: Type.Optional(Type.Boolean()),
    immutability: Type.Optional(
      Type.Object(
        {
          kind: Type.Enum(immutabilityKinds),
          probedAt: IsoTimestamp,
          /** Object lock: the copy cannot be deleted before this instant. */
          retainUntil: Type.Optional(IsoTimestamp),
          detail: Type.Optional(LongText),
        },
        { additionalProperties: false },
      ),
    ),
    protections: Type.Optional(Type.Array(Type.Enum(accidentProtections), { maxItems: 8 })),
  },
  { additionalProperties: false },
)
export type StorageIdentity = Static<typeof StorageIdentity>
