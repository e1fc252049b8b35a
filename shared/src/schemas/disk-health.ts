import Type, { type Static } from 'typebox'
import { Bytes, IsoTimestamp, ShortText } from './common.ts'

/**
 * `disk.health`: what the agent saw of its disks, filesystems and pools at one instant. Raw observations
 * only — judging them (baselines, deltas, forecasts, alerts) is pure logic in shared/src/health, so the agent
 * and the collector agree on what "news" is.
 */

/** Counters that only grow on a healthy-but-ageing disk; growth since the acknowledged baseline is news. */
export const diskCounterNames = [
  'reallocatedSectors', // ATA 5
  'reallocationEvents', // ATA 196
  'pendingSectors', // ATA 197
  'offlineUncorrectable', // ATA 198
  'reportedUncorrect', // ATA 187
  'crcErrors', // ATA 199 (cable/bridge, not media)
  'mediaErrors', // NVMe media_errors
  'errorLogEntries', // NVMe num_err_log_entries
  'grownDefects', // SCSI grown defect list
  'uncorrectedErrors', // SCSI error counter log, total_uncorrected_errors (read + write + verify)
] as const
export type DiskCounterName = (typeof diskCounterNames)[number]

const Count = Type.Integer({ minimum: 0 })

export const DiskCounters = Type.Object(
  {
    reallocatedSectors: Type.Optional(Count),
    reallocationEvents: Type.Optional(Count),
    pendingSectors: Type.Optional(Count),
    offlineUncorrectable: Type.Optional(Count),
    reportedUncorrect: Type.Optional(Count),
    crcErrors: Type.Optional(Count),
    mediaErrors: Type.Optional(Count),
    errorLogEntries: Type.Optional(Count),
    grownDefects: Type.Optional(Count),
    uncorrectedErrors: Type.Optional(Count),
  },
  { additionalProperties: false },
)
export type DiskCounters = Partial<Record<DiskCounterName, number>>

export const smartVerdicts = ['passed', 'failed', 'unknown'] as const
export type SmartVerdict = (typeof smartVerdicts)[number]

export const DiskHealth = Type.Object(
  {
    /** Device node as scanned, e.g. `/dev/sda`, `/dev/nvme0`. */
    name: ShortText,
    /** smartctl `-d` type (`sat`, `nvme`, `scsi`, `ata`, `usbjmicron` …) or `unknown`. */
    type: ShortText,
    protocol: Type.Union([Type.Literal('ATA'), Type.Literal('NVMe'), Type.Literal('SCSI'), Type.Literal('unknown')]),
    source: Type.Union([Type.Literal('smartctl'), Type.Literal('systeminformation')]),
    model: Type.Optional(ShortText),
    /** The identity baselines and Copy `location.device.serial` key on. */
    serial: Type.Optional(ShortText),
    firmware: Type.Optional(ShortText),
    capacityBytes: Type.Optional(Bytes),
    /** 0 = SSD, otherwise spindle speed. */
    rotationRpm: Type.Optional(Count),
    smart: Type.Union([Type.Literal('passed'), Type.Literal('failed'), Type.Literal('unknown')]),
    /** smartctl's exit status bit mask (man smartctl, RETURN VALUES). */
    exitStatus: Type.Optional(Count),
    temperatureC: Type.Optional(Type.Number({ minimum: -100, maximum: 300 })),
    /** Drive trip / operating limit when the device reports one. */
    temperatureLimitC: Type.Optional(Type.Number({ minimum: -100, maximum: 300 })),
    powerOnHours: Type.Optional(Count),
    counters: DiskCounters,
    /** NVMe health log fields. */
    nvme: Type.Optional(
      Type.Object(
        {
          criticalWarning: Count,
          percentageUsed: Count,
          availableSpare: Count,
          availableSpareThreshold: Count,
        },
        { additionalProperties: false },
      ),
    ),
    /** ATA attributes whose normalized value is at or below threshold now (`when_failed: now`). */
    failingAttributes: Type.Array(ShortText, { maxItems: 64 }),
    /** smartctl messages (errors/warnings), e.g. "Unable to detect device type". */
    messages: Type.Array(ShortText, { maxItems: 32 }),
  },
  { additionalProperties: false },
)
export type DiskHealth = Static<typeof DiskHealth>

export const FsUsage = Type.Object(
  {
    mount: Type.String({ minLength: 1, maxLength: 1024 }),
    /** Source device or dataset (`/dev/sda1`, `tank/backups`). */
    fs: Type.String({ minLength: 1, maxLength: 1024 }),
    type: ShortText,
    sizeBytes: Bytes,
    usedBytes: Bytes,
    /** Set for mounts that hold backup targets (job destinations), which get fill forecasts. */
    backupTarget: Type.Boolean(),
    fsUuid: Type.Optional(ShortText),
    label: Type.Optional(ShortText),
    /** Serials of the disks under this filesystem, when known (copy-on-failing-disk matching). */
    diskSerials: Type.Optional(Type.Array(ShortText, { maxItems: 64 })),
  },
  { additionalProperties: false },
)
export type FsUsage = Static<typeof FsUsage>

export const poolStates = [
  'ONLINE',
  'DEGRADED',
  'FAULTED',
  'OFFLINE',
  'UNAVAIL',
  'REMOVED',
  'SUSPENDED',
  'UNKNOWN',
] as const
export type PoolState = (typeof poolStates)[number]

export const PoolHealth = Type.Object(
  {
    kind: Type.Union([Type.Literal('zfs'), Type.Literal('btrfs')]),
    name: ShortText,
    state: Type.Union([
      Type.Literal('ONLINE'),
      Type.Literal('DEGRADED'),
      Type.Literal('FAULTED'),
      Type.Literal('OFFLINE'),
      Type.Literal('UNAVAIL'),
      Type.Literal('REMOVED'),
      Type.Literal('SUSPENDED'),
      Type.Literal('UNKNOWN'),
    ]),
    /** read + write + checksum errors summed over devices (zpool status / btrfs device stats). */
    errors: Count,
    detail: Type.Optional(ShortText),
  },
  { additionalProperties: false },
)
export type PoolHealth = Static<typeof PoolHealth>

export const DiskHealthBody = Type.Object(
  {
    at: IsoTimestamp,
    disks: Type.Array(DiskHealth, { maxItems: 256 }),
    filesystems: Type.Array(FsUsage, { maxItems: 1024 }),
    pools: Type.Array(PoolHealth, { maxItems: 256 }),
    /** Why a source was not used (e.g. "smartctl not installed; used systeminformation"). */
    notes: Type.Array(ShortText, { maxItems: 32 }),
  },
  { additionalProperties: false },
)
export type DiskHealthBody = Static<typeof DiskHealthBody>
