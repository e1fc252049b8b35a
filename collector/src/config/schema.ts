import Type, { type Static } from 'typebox'
import type { FileGroup } from '@backstop/node-io'
import { EnrollmentInput, type ResolvedEnrollment } from './enrollment.ts'
import type { LedgerConfig } from '../ledger/config.ts'
import { LedgerInput } from './ledger-input.ts'
import { SelfBackupInput, type ResolvedSelfBackup } from './self-backup-input.ts'
import { DatabaseInput, RetentionInput, type DatabaseUpkeepConfig, type RetentionConfig } from './retention.ts'
import { MqttLimitsInput, type MqttLimits } from './mqtt-limits-input.ts'

const Listen = (defaultHost: string, defaultPort: number) =>
  Type.Object(
    {
      /** Default: ${defaultHost} */
      host: Type.Optional(
        Type.String({ minLength: 1, maxLength: 255, description: `bind address, default ${defaultHost}` }),
      ),
      /** 0 = an ephemeral port (tests). */
      port: Type.Optional(
        Type.Integer({ minimum: 0, maximum: 65535, description: `TCP port, default ${defaultPort}` }),
      ),
    },
    { additionalProperties: false },
  )

/**
 * Authentication off on an address other machines can reach. The value spells out the consequence so it cannot be
 * set by accident, copied from a template without reading, or mistaken for a harmless boolean in a review.
 */
export const OFF_ON_NETWORK = 'off-i-understand-anyone-can-write'
export const authModes = ['required', 'off', OFF_ON_NETWORK] as const
/** `required`: a bearer token on every /api and /metrics request; the `off` values: none (a lab). */
export type AuthMode = (typeof authModes)[number]

/** The collector's YAML config; deploy/config/collector.example.yaml documents every field. */
export const CollectorConfigInput = Type.Object(
  {
    /** SQLite database, keys. Default /var/lib/backstop-collector. */
    dataDir: Type.Optional(Type.String({ minLength: 1, pattern: '^/' })),
    /**
     * Who may read dataDir besides the collector's user (store/data-dir.ts). owner-only (default): nobody, the
     * collector refuses to start on a directory its group or others can enter; group-read: its group may (0750/0640).
     */
    dataDirAccess: Type.Optional(Type.Union([Type.Literal('owner-only'), Type.Literal('group-read')])),
    /** A group that may read dataDir: 0750 / 0640 owned by it (config/group-input.ts). Name or numeric gid. */
    group: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*[$]?$' })),
    mqtt: Type.Optional(
      Type.Object(
        { ...Listen('0.0.0.0', 1883).properties, limits: Type.Optional(MqttLimitsInput) },
        { additionalProperties: false },
      ),
    ),
    api: Type.Optional(
      Type.Object(
        {
          ...Listen('127.0.0.1', 8080).properties,
          /**
           * Bearer-token check on /api and /metrics (api/auth-guard.ts, docs/security.md "API bootstrap"). Default
           * required.
           */
          auth: Type.Optional(
            Type.Union([Type.Literal('required'), Type.Literal('off'), Type.Literal(OFF_ON_NETWORK)], {
              description:
                'required (default): every request needs a token; off: none (only on a loopback api.host); ' +
                `${OFF_ON_NETWORK}: none, on any address`,
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /** Static enrollment tokens: optional, expiring (config/enrollment.ts). */
    enrollment: Type.Optional(EnrollmentInput),
    /** Transport security (docs/security.md): mqtts + HTTPS unless `plaintext: true` (loopback development only). */
    tls: Type.Optional(
      Type.Object(
        {
          /** Plain MQTT/HTTP. Only for loopback development and the quick start; logged as a warning on every start. */
          plaintext: Type.Optional(Type.Boolean()),
          /**
           * Names (DNS or IP) agents use to reach the collector; go into the generated server certificate. Default:
           * localhost, 127.0.0.1, ::1 and the host name.
           */
          names: Type.Optional(
            Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1, maxItems: 50 }),
          ),
          /**
           * Operator-supplied server certificate (PEM, may include the chain) and key; default: a CA + certificate
           * generated in <dataDir>/tls.
           */
          certFile: Type.Optional(Type.String({ pattern: '^/' })),
          keyFile: Type.Optional(Type.String({ pattern: '^/' })),
          /** The CA agents pin when certFile is operator-supplied; default: the last certificate in certFile. */
          caFile: Type.Optional(Type.String({ pattern: '^/' })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Telemetry export (collector/src/export/influx.ts); absent = no export. */
    export: Type.Optional(
      Type.Object(
        {
          influx: Type.Optional(
            Type.Object(
              {
                /**
                 * Base URL of an InfluxDB 2/3, VictoriaMetrics or Telegraf server; the client appends /api/v2/write.
                 */
                url: Type.String({ minLength: 1, maxLength: 2048, pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$' }),
                /** API token (InfluxDB); VictoriaMetrics and Telegraf without auth need none. */
                token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
                org: Type.String({ minLength: 1, maxLength: 256 }),
                bucket: Type.String({ minLength: 1, maxLength: 256 }),
                /** Lines per write request (default 5000). */
                batchLines: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
                /** Queue bound in SQLite; past it the oldest lines are dropped and logged (default 1000000). */
                maxQueueLines: Type.Optional(Type.Integer({ minimum: 1000, maximum: 100_000_000 })),
                /** Per write request (default 10000). */
                timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /** Compliance ledger: tier policies, automatic expectations, node timeout, notification floor. */
    ledger: Type.Optional(LedgerInput),
    /** Online backups of the collector's own database (collector/src/self-backup/); absent = none. */
    selfBackup: Type.Optional(SelfBackupInput),
    /** Coverage rules over the agents' inventories (collector/src/ledger/coverage.ts). */
    coverage: Type.Optional(
      Type.Object(
        {
          /** Node roles that must have a bare-metal (rear) image. Default [hypervisor, server]; [] = none. */
          bareMetalImageRoles: Type.Optional(
            Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9-]*$' }), { maxItems: 100 }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    log: Type.Optional(
      Type.Object(
        {
          level: Type.Optional(Type.Union(['trace', 'debug', 'info', 'warn', 'error'].map((l) => Type.Literal(l)))),
        },
        { additionalProperties: false },
      ),
    ),
    /** How long each table keeps history; the audit chain only by sealed, signed segments (config/retention.ts). */
    retention: Type.Optional(RetentionInput),
    /** SQLite upkeep and the collector host's own disk alerts (config/retention.ts, store/upkeep.ts). */
    database: Type.Optional(DatabaseInput),
    ingest: Type.Optional(
      Type.Object(
        {
          /** Commit after this many messages … (default 1000; an ack lists at most 10000 msgIds) */
          batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
          /** … or this many milliseconds after the first queued message, whichever comes first (default 5). */
          batchIntervalMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          /**
           * Signature-verification worker threads; 0 = verify on the main thread. Default: CPUs − 1, between 1 and 4.
           */
          verifyWorkers: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type CollectorConfigInput = Static<typeof CollectorConfigInput>

/** The Influx exporter's settings (export/influx.ts) once defaults for the required fields are resolved. */
export interface InfluxExportOptions {
  readonly url: string
  readonly token: string
  readonly org: string
  readonly bucket: string
  /** Lines per write request; default 5000. */
  readonly batchLines?: number
  /** Oldest lines are dropped past this (and counted in the log); default 1,000,000. */
  readonly maxQueueLines?: number
  readonly timeoutMs?: number
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'

/** Every default resolved once, here; nothing downstream re-derives them. */
export interface ResolvedCollectorConfig {
  readonly file: string
  readonly dataDir: string
  readonly dataDirAccess: 'owner-only' | 'group-read'
  /** `group:` resolved on this machine; undefined = the data directory keeps the collector user's group. */
  readonly group: FileGroup | undefined
  readonly dbFile: string
  readonly mqtt: { readonly host: string; readonly port: number; readonly limits: MqttLimits }
  readonly api: { readonly host: string; readonly port: number; readonly auth: AuthMode }
  readonly enrollment: ResolvedEnrollment
  /** Problems that do not stop the collector, as file:line:col: field: message (configcheck prints them). */
  readonly warnings: readonly string[]
  readonly logLevel: LogLevel
  readonly tls: {
    readonly plaintext: boolean
    readonly names: readonly string[]
    readonly certFile?: string | undefined
    readonly keyFile?: string | undefined
    readonly caFile?: string | undefined
  }
  readonly ingest: { readonly batchSize: number; readonly batchIntervalMs: number; readonly verifyWorkers: number }
  readonly ledger: LedgerConfig
  readonly retention: RetentionConfig
  readonly database: DatabaseUpkeepConfig
  /** `influx` undefined = export off (createTelemetry's no-op). */
  readonly export: { readonly influx: InfluxExportOptions | undefined }
  /** undefined = no `selfBackup:` section (the collector logs a warning on start). */
  readonly selfBackup?: ResolvedSelfBackup | undefined
}
