import { pathToFileURL } from 'node:url'
import type { AddressInfo } from 'node:net'
import { pino, type Logger } from 'pino'
import { createCollectorStatus } from './alerts/collector-status.ts'
import { aedesPublisher } from './alerts/mqtt-publisher.ts'
import { buildApp, type App } from './app.ts'
import { createAuditLog, type AuditLog } from './audit/audit-log.ts'
import { createTokensRepo } from './auth/tokens.ts'
import { createBroker, type Broker } from './broker/broker.ts'
import { runCli } from './cli.ts'
import { createCheckpointService, type CheckpointService } from './checkpoint/checkpoint-service.ts'
import { createCommandService, type CommandService } from './commands/command-service.ts'
import { composeIdentity, type IdentityPart } from './compose/identity.ts'
import { latePort } from './compose/late-port.ts'
import { composeLedger, type LedgerPart } from './compose/ledger.ts'
import { composeSelfBackup, type SelfBackupPart } from './compose/self-backup.ts'
import { composeUpkeep, type UpkeepPart } from './compose/upkeep.ts'
import { listenMqtt, urlHost, type MqttListener } from './compose/transport.ts'
import { checkApiExposure } from './config/api-exposure.ts'
import type { ResolvedCollectorConfig } from './config/schema.ts'
import { defaultCollectorNode } from './config/self-backup-input.ts'
import { privateKeyObject } from '@backstop/shared'
import { createPrometheus } from './export/prometheus.ts'
import { createTelemetry } from './export/influx.ts'
import { createIdentityService, type IdentityService } from './identity/identity-service.ts'
import { watchRevocations } from './identity/revocation-watch.ts'
import { createStaticTokenCheck, tokenSecrets } from './identity/static-tokens.ts'
import { createTokenCheck } from './ingest/check.ts'
import { createKeyRing, type KeyRing } from './ingest/key-ring.ts'
import { createIngest, type Ingest } from './ingest/pipeline.ts'
import { createInlineVerifier, createWorkerVerifier } from './ingest/verifier.ts'
import { loadOrCreateCollectorKeys, type CollectorKeys } from './keys.ts'
import { createCounters, type Counters } from './metrics/counters.ts'
import { createAssetsRepo } from './store/assets-repo.ts'
import { createCheckpointsRepo } from './store/checkpoints-repo.ts'
import { createCopiesRepo } from './store/copies-repo.ts'
import { openDb, pingDb, type Db } from './store/db.ts'
import { dataDirPolicy, prepareDataDir } from './store/data-dir.ts'
import { claimPidFile } from './store/pid-file.ts'
import { createEventsRepo } from './store/events-repo.ts'
import { createNodesRepo, type NodesRepo } from './store/nodes-repo.ts'
import { createRunsRepo } from './store/runs-repo.ts'
import { ensureIncrementalVacuum } from './store/upkeep.ts'
import { dateOf, systemClock, type Clock } from './time/clock.ts'
import { COLLECTOR_VERSION } from './version.ts'

export interface RunningCollector {
  readonly apiUrl: string
  readonly mqttUrl: string
  readonly db: Db
  readonly ingest: Ingest
  readonly counters: Counters
  readonly collectorPublicKey: string
  /** SHA-256 fingerprint of the CA agents pin (collector.fingerprint in the agent config); null with tls.plaintext. */
  readonly tlsFingerprint: string | null
  /** PEM of that CA (tests connect with it); null with tls.plaintext. */
  readonly tlsCaCert: string | null
  /** Enrollment tokens, approvals, revocation (also the CLI's `token` / `node`). */
  readonly identity: IdentityService
  /** Signed commands to nodes. */
  readonly commands: CommandService
  /** Per-node retained checkpoints; the self-backup calls `onVerifiedBackup` after each verified backup. */
  readonly checkpoints: CheckpointService
  /** Backups of this database (`selfBackup:`); `service` undefined without that section. */
  readonly selfBackup: SelfBackupPart
  /** Retention, SQLite upkeep and the data directory's disk (compose/upkeep.ts). */
  readonly upkeep: UpkeepPart
  /** Graceful: stop accepting, flush the batch (and its acks), close broker, API and database. */
  stop(): Promise<void>
}

export interface StartOptions {
  readonly log?: Logger
  /** The one clock every part reads; default the wall clock. */
  readonly clock?: Clock
  /** The notifiers' HTTP client; default the global fetch. */
  readonly fetch?: typeof fetch
}

/** What the first steps open: the database, the collector's signing key and the parts everything else shares. */
interface Foundation {
  readonly config: ResolvedCollectorConfig
  readonly log: Logger
  readonly clock: Clock
  readonly db: Db
  readonly keysFile: CollectorKeys
  readonly audit: AuditLog
  readonly counters: Counters
  readonly nodes: NodesRepo
  readonly keys: KeyRing
  readonly identity: IdentityPart
  /** Removes <dataDir>/collector.pid (restore refuses to run while it names a live collector). */
  readonly releasePidFile: () => void
}

/**
 * The composition root: the only place that picks SQLite, aedes, pino and the real clock, and builds each part
 * once, in dependency order: foundation (db, keys, audit log, identity) → broker → identity service and commands
 * → ledger → ingest → MQTT listener → API. The broker hands messages to the ingest, created after it; that is
 * the one late-bound port. The ledger hears about commits through `ingest.onCommitted`.
 */
export async function startCollector(
  config: ResolvedCollectorConfig,
  opts: StartOptions = {},
): Promise<RunningCollector> {
  const log = opts.log ?? pino({ level: config.logLevel, base: { svc: 'backstop-collector' } })
  const apiWarning = checkApiExposure(config.api)
  // configcheck prints these too; a daemon started without it still says what in its config is on the way out.
  for (const warning of config.warnings) {
    log.warn({ config: config.file }, warning)
  }
  const f = openFoundation(config, log, opts.clock ?? systemClock)
  const ingestPort = latePort<Ingest>('the ingest')
  const checkpointPort = latePort<CheckpointService>('the checkpoint service')
  const broker = await createBroker({
    limits: config.mqtt.limits,
    keys: f.keys,
    counters: f.counters,
    now: dateOf(f.clock),
    log: log.child({ c: 'broker' }),
    identity: f.identity.brokerIdentity,
    onEvent: (node, payload, done, from) => ingestPort.get().submit(node, payload, done, from),
    onStatus: (node, payload) => ingestPort.get().status(node, payload),
    onCheckpointSubscribe: (node) => checkpointPort.get().publishTo(node),
  })
  const onRevoked = (node: string): void => {
    f.keys.unpin(node)
    broker.disconnect(node)
  }
  const identity = createIdentityService({
    db: f.db,
    tokens: f.identity.enrollmentTokens,
    access: f.identity.access,
    audit: f.audit,
    now: dateOf(f.clock),
    onRevoked,
  })
  const stopWatch = watchRevocations({ access: f.identity.access, since: new Date(f.clock.now()), onRevoked })
  const commands = commandService(f, broker)
  const telemetry = createTelemetry(f.db, log.child({ c: 'export' }), config.export.influx, f.clock)
  const publish = aedesPublisher(broker.aedes, log.child({ c: 'alerts' }))
  const collectorStatus = createCollectorStatus(publish, dateOf(f.clock), COLLECTOR_VERSION)
  const ledger = composeLedger({
    db: f.db,
    clock: f.clock,
    log: log.child({ c: 'ledger' }),
    config: config.ledger,
    publish,
    audit: f.audit,
    telemetry: telemetry.sink,
    afterCommit: telemetry.wake,
    fetch: opts.fetch ?? fetch,
  })
  const ingest = ingestFor(f, { publishAck: broker.publishAck, commands, ledger })
  ingestPort.bind(ingest)
  const checkpoints = checkpointService(f, broker)
  checkpointPort.bind(checkpoints)
  // Retained before the listener opens: a reconnecting agent reads it first (after a restore: resend the rest).
  checkpoints.publishAll()
  const selfBackup = composeSelfBackup({
    db: f.db,
    config,
    clock: f.clock,
    log: log.child({ c: 'self-backup' }),
    audit: f.audit,
    ledger,
    onVerifiedBackup: (b) => checkpoints.onVerifiedBackup(b),
  })
  const upkeep = composeUpkeep({
    db: f.db,
    dbFile: config.dbFile,
    dataDir: config.dataDir,
    retention: config.retention,
    database: config.database,
    clock: f.clock,
    log: log.child({ c: 'upkeep' }),
    audit: f.audit,
    keys: f.keysFile,
    alerts: ledger.alerts,
    node: config.selfBackup?.node ?? defaultCollectorNode(),
  })
  // Each committed ingest batch (and node status change) marked ledger changes: the ledger drains them.
  ingest.onCommitted(ledger.ledger.wake)
  const mqtt = await listenMqtt(config, broker, { log, clock: f.clock })
  const app = apiFor(f, { broker, mqtt, ledger, commands, selfBackup, upkeep })
  ledger.start()
  selfBackup.service?.start()
  upkeep.start()
  collectorStatus.online()
  telemetry.start()
  const apiUrl = await listenApi(app, config, { log, mqtt, warning: apiWarning })

  const stop = stopInOrder(log, [
    () => {
      collectorStatus.offline()
      return publish.idle()
    },
    () => mqtt.server.close(),
    stopWatch,
    () => ingest.close(),
    () => broker.close(),
    () => app.close(),
    () => selfBackup.service?.stop(),
    () => upkeep.stop(),
    () => ledger.stop(),
    () => telemetry.stop(),
    () => f.db.close(),
    f.releasePidFile,
  ])
  return {
    apiUrl,
    mqttUrl: mqtt.url,
    db: f.db,
    ingest,
    counters: f.counters,
    collectorPublicKey: f.keysFile.publicKey,
    stop,
    identity,
    commands,
    checkpoints,
    selfBackup,
    upkeep,
    tlsFingerprint: mqtt.security.mode === 'tls' ? mqtt.security.tls.fingerprint : null,
    tlsCaCert: mqtt.security.mode === 'tls' ? mqtt.security.tls.caCert : null,
  }
}

/** The last step: the API listens (with the auth-off warning, if any, logged right before); returns its URL. */
async function listenApi(
  app: App,
  config: ResolvedCollectorConfig,
  o: { readonly log: Logger; readonly mqtt: MqttListener; readonly warning: string | undefined },
): Promise<string> {
  if (o.warning !== undefined) {
    o.log.warn({ host: config.api.host, auth: config.api.auth }, o.warning)
  }
  await app.listen({ host: config.api.host, port: config.api.port })
  const apiPort = (app.server.address() as AddressInfo).port
  const apiUrl = `${o.mqtt.https !== null ? 'https' : 'http'}://${urlHost(config.api.host)}:${apiPort}`
  o.log.info({ apiUrl, mqttUrl: o.mqtt.url }, 'collector running')
  return apiUrl
}

/**
 * Graceful shutdown, once however often it is called: stop accepting, flush the ingest batch (and its acks), then
 * close broker, API, ledger, exporter and database, each after the one before it finished.
 */
function stopInOrder(log: Logger, steps: readonly (() => unknown)[]): () => Promise<void> {
  let stopping: Promise<void> | undefined
  return () => {
    stopping ??= (async () => {
      log.info('stopping: no new connections, flushing the ingest batch')
      for (const step of steps) {
        await step()
      }
      log.info('stopped')
    })()
    return stopping
  }
}

/** Step 1: the database (migrated), the collector key, the one audit log, counters, the key ring and identity. */
function openFoundation(config: ResolvedCollectorConfig, log: Logger, clock: Clock): Foundation {
  prepareDataDir(config.dataDir, config.dataDirAccess, config.group)
  const releasePidFile = claimPidFile(config.dataDir, dataDirPolicy(config.dataDirAccess).fileMode)
  const { db, migrations } = openDb({
    file: config.dbFile,
    fileMode: dataDirPolicy(config.dataDirAccess).fileMode,
    gid: config.group?.gid,
  })
  log.info({ db: config.dbFile, applied: migrations.applied, total: migrations.total }, 'database ready')
  // Before anything else uses the database: an older file is switched to incremental auto-vacuum once (a VACUUM).
  ensureIncrementalVacuum(db, config.dbFile, config.dataDir, log)
  const keysFile = loadOrCreateCollectorKeys(config.dataDir)
  log.info({ fingerprint: keysFile.fingerprint, file: keysFile.file }, 'collector key ready')
  const audit = createAuditLog(db)
  const nodes = createNodesRepo(db)
  const staticTokens = createStaticTokenCheck(config.enrollment, clock)
  return {
    config,
    log,
    clock,
    db,
    keysFile,
    audit,
    counters: createCounters(),
    nodes,
    keys: createKeyRing(nodes),
    identity: composeIdentity({ db, audit, clock, staticTokens }),
    releasePidFile,
  }
}

/** Signed commands to nodes, published on the broker; a node's state decides whether it may get one. */
function commandService(f: Foundation, broker: Broker): CommandService {
  return createCommandService({
    db: f.db,
    audit: f.audit,
    collectorSecretKey: f.keysFile.secretKey,
    now: dateOf(f.clock),
    publish: (topic, payload) =>
      broker.aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, () => {}),
    nodeState: (node) => (f.nodes.get(node) ? (f.identity.access.get(node)?.state ?? 'active') : 'unknown'),
  })
}

/** What the newest verified backup covers, per node, published retained to the agents (docs/reliability.md). */
function checkpointService(f: Foundation, broker: Broker): CheckpointService {
  return createCheckpointService({
    repo: createCheckpointsRepo(f.db),
    signingKey: privateKeyObject(f.keysFile.secretKey),
    publish: broker.publishCheckpoint,
    now: () => f.clock.now(),
    log: f.log.child({ c: 'checkpoint' }),
  })
}

/** The ingest: verified messages applied in batches to the store, acked through the broker after each commit. */
function ingestFor(
  f: Foundation,
  o: { publishAck: Broker['publishAck']; commands: CommandService; ledger: LedgerPart },
): Ingest {
  const { config, log } = f
  const tokens = createTokenCheck(tokenSecrets(config.enrollment))
  return createIngest({
    db: f.db,
    store: {
      nodes: f.nodes,
      events: createEventsRepo(f.db),
      runs: createRunsRepo(f.db),
      copies: createCopiesRepo(f.db),
      assets: createAssetsRepo(f.db),
      commands: o.commands,
      diskHealth: o.ledger.diskHealth,
      raiseAlert: o.ledger.alerts.raise,
    },
    keys: f.keys,
    counters: f.counters,
    now: () => f.clock.now(),
    log: log.child({ c: 'ingest' }),
    tokens,
    collector: { publicKey: f.keysFile.publicKey, signingKey: privateKeyObject(f.keysFile.secretKey) },
    publishAck: o.publishAck,
    batchSize: config.ingest.batchSize,
    batchIntervalMs: config.ingest.batchIntervalMs,
    rejectLogIntervalMs: config.mqtt.limits.logIntervalMs,
    admitEnroll: f.identity.admitEnroll,
    verifier:
      config.ingest.verifyWorkers === 0
        ? createInlineVerifier({ keys: f.keys, tokens })
        : createWorkerVerifier({
            keys: f.keys,
            tokens: tokenSecrets(config.enrollment),
            inline: { keys: f.keys, tokens },
            log: log.child({ c: 'verify' }),
            size: config.ingest.verifyWorkers,
          }),
  })
}

/** The HTTP API over narrow interfaces of the parts built before it (buildApp never listens; main.ts does). */
function apiFor(
  f: Foundation,
  o: {
    broker: Broker
    mqtt: MqttListener
    ledger: LedgerPart
    commands: CommandService
    selfBackup: SelfBackupPart
    upkeep: UpkeepPart
  },
): App {
  const { ledger } = o
  const runs = createRunsRepo(f.db)
  const copies = createCopiesRepo(f.db)
  const prometheus = createPrometheus({
    db: f.db,
    assets: ledger.assets,
    alerts: ledger.alertsRepo,
    channels: ledger.channels,
    downNodes: ledger.ledger.downNodes,
    counters: f.counters,
    storage: o.upkeep.storage,
  })
  return buildApp({
    https: o.mqtt.https,
    log: f.log.child({ c: 'api' }),
    clock: f.clock,
    health: () => ({ db: pingDb(f.db), broker: !o.broker.aedes.closed && o.mqtt.server.listening }),
    auth: { tokens: createTokensRepo(f.db), mode: f.config.api.auth },
    nodes: f.nodes,
    runs,
    copies,
    assets: ledger.assets,
    coverage: ledger.coverage,
    expectations: ledger.expectations,
    ledger: ledger.ledger,
    alerts: ledger.alerts,
    alertsRepo: ledger.alertsRepo,
    channels: ledger.channels,
    audit: f.audit,
    metrics: prometheus.render,
    diskHealth: ledger.diskHealth,
    commands: o.commands,
    selfBackups: o.selfBackup.repo,
  })
}

/** Process entry: CLI, signals, exit codes. */
export async function main(argv: readonly string[]): Promise<void> {
  const code = await runCli(argv, {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    start: async (config) => {
      const c = await startCollector(config)
      process.stdout.write(`backstop-collector: API ${c.apiUrl}  MQTT ${c.mqttUrl}\n`)
      const onSignal = (sig: NodeJS.Signals): void => {
        c.stop().then(
          () => process.exit(0),
          (e: unknown) => {
            process.stderr.write(`shutdown after ${sig} failed: ${String(e)}\n`)
            process.exit(1)
          },
        )
      }
      process.once('SIGTERM', onSignal)
      process.once('SIGINT', onSignal)
      return c
    },
  })
  if (code !== 0) {
    // Exit now: a failed start may leave worker threads or sockets open that would keep a dead daemon alive.
    process.exit(code)
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv)
}
