import Type, { type Static } from 'typebox'

const Listen = (defaultHost: string, defaultPort: number) => Type.Object({
  /** Default: ${defaultHost} */
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: `bind address, default ${defaultHost}` })),
  /** 0 = an ephemeral port (tests). */
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: `TCP port, default ${defaultPort}` })),
}, { additionalProperties: false })

/** The collector's YAML config; deploy/config/collector.example.yaml documents every field. */
export const CollectorConfigInput = Type.Object({
  /** SQLite database, keys. Default /var/lib/backstop-collector. */
  dataDir: Type.Optional(Type.String({ minLength: 1, pattern: '^/' })),
  mqtt: Type.Optional(Listen('0.0.0.0', 1883)),
  api: Type.Optional(Listen('127.0.0.1', 8080)),
  enrollment: Type.Object({
    /** Accepted enrollment tokens (any of them). At least 16 characters: they are the only thing between an unknown machine and a pinned key. */
    tokens: Type.Array(Type.String({ minLength: 16, maxLength: 256 }), { minItems: 1, maxItems: 100 }),
  }, { additionalProperties: false }),
  /** Transport security (docs/security.md): mqtts + HTTPS unless `plaintext: true` (loopback development only). */
  tls: Type.Optional(Type.Object({
    /** Plain MQTT/HTTP. Only for loopback development and the quick start; logged as a warning on every start. */
    plaintext: Type.Optional(Type.Boolean()),
    /** Names (DNS or IP) agents use to reach the collector; go into the generated server certificate. Default: localhost, 127.0.0.1, ::1 and the host name. */
    names: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1, maxItems: 50 })),
    /** Operator-supplied server certificate (PEM, may include the chain) and key; default: a CA + certificate generated in <dataDir>/tls. */
    certFile: Type.Optional(Type.String({ pattern: '^/' })),
    keyFile: Type.Optional(Type.String({ pattern: '^/' })),
    /** The CA agents pin when certFile is operator-supplied; default: the last certificate in certFile. */
    caFile: Type.Optional(Type.String({ pattern: '^/' })),
  }, { additionalProperties: false })),
  log: Type.Optional(Type.Object({
    level: Type.Optional(Type.Union(['trace', 'debug', 'info', 'warn', 'error'].map((l) => Type.Literal(l)))),
  }, { additionalProperties: false })),
  ingest: Type.Optional(Type.Object({
    /** Commit after this many messages … (default 1000; an ack lists at most 10000 msgIds) */
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
    /** … or this many milliseconds after the first queued message, whichever comes first (default 5). */
    batchIntervalMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    /** Signature-verification worker threads; 0 = verify on the main thread. Default: CPUs − 1, between 1 and 4. */
    verifyWorkers: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 })),
  }, { additionalProperties: false })),
}, { additionalProperties: false })
export type CollectorConfigInput = Static<typeof CollectorConfigInput>

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'

/** Every default resolved once, here; nothing downstream re-derives them. */
export interface ResolvedCollectorConfig {
  readonly file: string
  readonly dataDir: string
  readonly dbFile: string
  readonly mqtt: { readonly host: string, readonly port: number }
  readonly api: { readonly host: string, readonly port: number }
  readonly enrollment: { readonly tokens: readonly string[] }
  readonly logLevel: LogLevel
  readonly tls: { readonly plaintext: boolean, readonly names: readonly string[], readonly certFile?: string | undefined, readonly keyFile?: string | undefined, readonly caFile?: string | undefined }
  readonly ingest: { readonly batchSize: number, readonly batchIntervalMs: number, readonly verifyWorkers: number }
}
