import Type, { type Static } from 'typebox'

const Days = (description: string, minimum = 1): ReturnType<typeof Type.Integer> =>
  Type.Integer({ minimum, maximum: 36_500, description })

/**
 * `retention:` in the collector config (docs/configuration.md "Retention"): how long each table keeps history.
 * The defaults keep what a user and an auditor need; the audit chain is never pruned unless `audit.sealAfterDays`
 * is set, and then only after the segment was exported to a signed file.
 */
export const RetentionInput = Type.Object(
  {
    /** Raw envelopes in `events` (the msgId window of the idempotency gate). Default 90. */
    eventsDays: Type.Optional(Days('days raw events are kept (default 90)', 7)),
    /**
     * Finished runs older than this go, unless a copy the collector still lists (live, or a tombstone it keeps)
     * was made by the run, or it is the newest run of its job. Default 400.
     */
    runsDays: Type.Optional(Days('days finished runs are kept at least (default 400)', 7)),
    /** Copy tombstones (the rows of deleted copies); kept longer while their asset has no live copy. Default 60. */
    tombstoneDays: Type.Optional(
      Days('days a deleted copy is kept (default 60); longer while its asset exists without a live copy'),
    ),
    /** Alert flips (the newest flip of every alert is always kept). Default 400. */
    alertFlipsDays: Type.Optional(Days('days alert flips are kept (default 400)')),
    /** File-system usage samples of the disk reports (also of nodes that stopped reporting). Default 31. */
    diskSamplesDays: Type.Optional(Days('days file-system usage samples are kept (default 31)', 31)),
    /** How often retention runs. Default 60. */
    intervalMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_080 })),
    /** Rows deleted per transaction, so the ingest is never blocked for long. Default 2000. */
    batchRows: Type.Optional(Type.Integer({ minimum: 10, maximum: 100_000 })),
    audit: Type.Optional(
      Type.Object(
        {
          /**
           * Seal audit entries older than this into a signed segment file in `exportDir`, then remove them from the
           * database. Absent (default): the audit chain is never pruned.
           */
          sealAfterDays: Type.Optional(Days('days before audit entries are sealed and exported', 30)),
          /** Where sealed segments go (absolute). Default <dataDir>/audit-segments. */
          exportDir: Type.Optional(Type.String({ minLength: 1, pattern: '^/' })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type RetentionInput = Static<typeof RetentionInput>

export interface RetentionConfig {
  readonly eventsDays: number
  readonly runsDays: number
  readonly tombstoneDays: number
  readonly alertFlipsDays: number
  readonly diskSamplesDays: number
  readonly intervalMs: number
  readonly batchRows: number
  readonly audit: { readonly sealAfterDays: number | undefined; readonly exportDir: string }
}

export const RETENTION_DEFAULTS = {
  eventsDays: 90,
  runsDays: 400,
  // 60, not 90: an hourly GFS rotation deletes ~470 snapshots a node a day, and their tombstones were ~60 % of the
  // database (bench/collector-growth.ts); each deletion stays in its signed job.finished for eventsDays (90).
  tombstoneDays: 60,
  alertFlipsDays: 400,
  diskSamplesDays: 31,
  intervalMinutes: 60,
  batchRows: 2000,
} as const

export function resolveRetention(input: RetentionInput | undefined, dataDir: string): RetentionConfig {
  const d = RETENTION_DEFAULTS
  return {
    eventsDays: input?.eventsDays ?? d.eventsDays,
    runsDays: input?.runsDays ?? d.runsDays,
    tombstoneDays: input?.tombstoneDays ?? d.tombstoneDays,
    alertFlipsDays: input?.alertFlipsDays ?? d.alertFlipsDays,
    diskSamplesDays: input?.diskSamplesDays ?? d.diskSamplesDays,
    intervalMs: (input?.intervalMinutes ?? d.intervalMinutes) * 60_000,
    batchRows: input?.batchRows ?? d.batchRows,
    audit: {
      sealAfterDays: input?.audit?.sealAfterDays,
      exportDir: input?.audit?.exportDir ?? `${dataDir}/audit-segments`,
    },
  }
}

/**
 * `database:` in the collector config: SQLite upkeep (store/upkeep.ts) and the alerts on the collector host's own
 * disk (docs/configuration.md "Database upkeep").
 */
export const DatabaseInput = Type.Object(
  {
    /** `PRAGMA optimize` every this many hours. Default 6. */
    optimizeIntervalHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 720 })),
    /** `wal_checkpoint(TRUNCATE)` as soon as the WAL is larger than this many MiB. Default 64. */
    walTruncateMiB: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_536 })),
    /** … and whenever the ingest was idle this many seconds with a non-empty WAL. Default 60. */
    idleCheckpointSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    /** Alert collector-disk-fill when the data directory's file system is fuller than this. Default 85. */
    diskFillAlertPercent: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    /** Alert collector-disk-forecast when it is forecast to be full in fewer days than this. Default 30. */
    diskFullForecastDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  { additionalProperties: false },
)
export type DatabaseInput = Static<typeof DatabaseInput>

export interface DatabaseUpkeepConfig {
  readonly optimizeIntervalMs: number
  readonly walTruncateBytes: number
  readonly idleCheckpointMs: number
  readonly diskFillAlertPercent: number
  readonly diskFullForecastDays: number
}

export function resolveDatabase(input: DatabaseInput | undefined): DatabaseUpkeepConfig {
  return {
    optimizeIntervalMs: (input?.optimizeIntervalHours ?? 6) * 3_600_000,
    walTruncateBytes: (input?.walTruncateMiB ?? 64) * 1024 * 1024,
    idleCheckpointMs: (input?.idleCheckpointSeconds ?? 60) * 1000,
    diskFillAlertPercent: input?.diskFillAlertPercent ?? 85,
    diskFullForecastDays: input?.diskFullForecastDays ?? 30,
  }
}
