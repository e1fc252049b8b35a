import { createServer, type AddressInfo, type Server } from 'node:net'
import { join } from 'node:path'
import { createServer as createTlsServer } from 'node:tls'
import { type BodyOf, isBackstopError } from '@backstop/shared'
import { createCommandService, type CommandService } from './commands/command-service.ts'
import { createAccessRepo } from './identity/node-access.ts'
import { createBrokerIdentity } from './identity/broker-identity.ts'
import { createEnrollmentGate } from './identity/enrollment-gate.ts'
import { createTokensRepo as createEnrollmentTokensRepo } from './identity/enrollment-tokens.ts'
import { createIdentityService, type IdentityService } from './identity/identity-service.ts'
import { createOperators } from './identity/operators.ts'
import { watchRevocations } from './identity/revocation-watch.ts'
import { loadOrCreateTls } from './tls/load-or-create.ts'
import { chooseTransportSecurity, serverTlsOptions } from './tls/transport-security.ts'
import { pathToFileURL } from 'node:url'
import { pino, type Logger } from 'pino'
import { buildApp } from './app.ts'
import { createBroker } from './broker/broker.ts'
import { runCli } from './cli.ts'
import type { ResolvedCollectorConfig } from './config/schema.ts'
import { privateKeyObject } from './crypto/ed25519.ts'
import { createStaticTokenCheck, tokenSecrets } from './identity/static-tokens.ts'
import { createTokenCheck } from './ingest/check.ts'
import { createKeyRing } from './ingest/key-ring.ts'
import { createIngest, type Ingest } from './ingest/pipeline.ts'
import { createWorkerVerifier } from './ingest/verifier.ts'
import { loadOrCreateCollectorKeys } from './keys.ts'
import { createCounters, type Counters } from './metrics/counters.ts'
import { createAssetsRepo } from './store/assets-repo.ts'
import { createCopiesRepo } from './store/copies-repo.ts'
import { openDb, pingDb, type Db } from './store/db.ts'
import { dataDirPolicy, prepareDataDir } from './store/data-dir.ts'
import { createEventsRepo } from './store/events-repo.ts'
import { createNodesRepo } from './store/nodes-repo.ts'
import { createRunsRepo } from './store/runs-repo.ts'
import { aedesPublisher } from './alerts/mqtt-publisher.ts'
import { createAuditLog } from './audit/audit-log.ts'
import { createTokensRepo } from './auth/tokens.ts'
import { createPrometheus } from './export/prometheus.ts'
import { createTelemetry } from './export/influx.ts'
import { createDiskHealthStore } from './health/disk-health-store.ts'
import { systemLedgerClock } from './ledger/clock.ts'
import { auditSink, createBrain, type Brain } from './ledger/brain.ts'

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
  /** Security room: enrollment tokens, approvals, revocation (also the CLI's `token` / `node`). */
  readonly identity: IdentityService
  /** Security room: signed commands to nodes. */
  readonly commands: CommandService
  /** Graceful: stop accepting, flush the batch (and its acks), close broker, API and database. */
  stop(): Promise<void>
}

/**
 * The composition root: the only place that picks SQLite, aedes, pino and the real clock.
 * Order: db → keys → broker (TCP) → ingest → API listen.
 */
export async function startCollector(
  config: ResolvedCollectorConfig,
  opts: { log?: Logger } = {},
): Promise<RunningCollector> {
  const log = opts.log ?? pino({ level: config.logLevel, base: { svc: 'backstop-collector' } })
  const now = (): Date => new Date()
  prepareDataDir(config.dataDir, config.dataDirAccess)
  const { db, migrations } = openDb({
    file: config.dbFile,
    fileMode: dataDirPolicy(config.dataDirAccess).fileMode,
  })
  log.info({ db: config.dbFile, applied: migrations.applied, total: migrations.total }, 'database ready')
  const keysFile = loadOrCreateCollectorKeys(config.dataDir)
  log.info({ fingerprint: keysFile.fingerprint, file: keysFile.file }, 'collector key ready')

  const store = {
    nodes: createNodesRepo(db),
    events: createEventsRepo(db),
    runs: createRunsRepo(db),
    copies: createCopiesRepo(db),
    assets: createAssetsRepo(db),
    // `commands` is created once the broker exists; results only arrive after that.
    commands: {
      recordResult: (node: string, body: BodyOf<'command.result'>, at: string): boolean =>
        commands.recordResult(node, body, at),
    },
    // The brain is created after the broker; disk reports only arrive once the broker listens, so the closures
    // never run before `brain` is assigned. Both run inside the ingest transaction (raise records, requeue queues).
    diskHealth: createDiskHealthStore(db, {
      raise: (c, at) => brain.alerts.raise(c, at),
      onDeviceHealthChanged: (n) => brain.ledger.requeueNode(n),
    }),
  }
  const counters = createCounters()
  const keys = createKeyRing(store.nodes)
  const tokens = createTokenCheck(tokenSecrets(config.enrollment))
  // Security room: identity decisions (one-time tokens, approvals, revocation) read and write SQLite directly, so
  // a revocation from the CLI (another process) is effective at the next CONNECT.
  const access = createAccessRepo(db)
  const enrollmentTokens = createEnrollmentTokensRepo(db)
  const securityAudit = createAuditLog(db)
  const gate = createEnrollmentGate({
    db,
    tokens: enrollmentTokens,
    access,
    audit: securityAudit,
    staticTokens: createStaticTokenCheck(config.enrollment, { now: () => now().getTime() }),
  })
  const operators = createOperators(db, securityAudit, now)
  const onRevoked = (node: string): void => {
    keys.unpin(node)
    broker.disconnect(node)
  }
  const identity = createIdentityService({ db, tokens: enrollmentTokens, access, audit: securityAudit, now, onRevoked })
  // The ingest publishes acks through the broker and the broker feeds the ingest; acks are only published after
  // the broker exists (the first commit needs a message, which needs the broker).
  const ingest: Ingest = createIngest({
    db,
    store,
    keys,
    counters,
    now,
    log: log.child({ c: 'ingest' }),
    tokens,
    collector: { publicKey: keysFile.publicKey, signingKey: privateKeyObject(keysFile.secretKey) },
    // Every commit ends in acks: that is when the compliance ledger has new changes to evaluate.
    publishAck: (node, payload) => {
      broker.publishAck(node, payload)
      brain.wake()
    },
    batchSize: config.ingest.batchSize,
    batchIntervalMs: config.ingest.batchIntervalMs,
    admitEnroll: (env) => {
      try {
        gate.admit({
          node: env.node,
          publicKey: env.body.publicKey,
          token: env.body.token,
          hostname: env.body.hostname,
          now: now(),
        })
        return undefined
      } catch (e) {
        if (isBackstopError(e)) {
          return e
        }
        throw e
      }
    },
    verifier:
      config.ingest.verifyWorkers === 0
        ? undefined
        : createWorkerVerifier({
            keys,
            tokens: tokenSecrets(config.enrollment),
            inline: { keys, tokens },
            log: log.child({ c: 'verify' }),
            size: config.ingest.verifyWorkers,
          }),
  })
  const broker = await createBroker({
    keys,
    counters,
    now,
    log: log.child({ c: 'broker' }),
    identity: createBrokerIdentity(access, operators),
    onEvent: ingest.submit,
    onStatus: (node, payload) => {
      ingest.status(node, payload)
      brain.wake()
    },
  })
  const auditLog = createAuditLog(db)
  const telemetry = createTelemetry(db, log.child({ c: 'export' }), config.export.influx, systemLedgerClock)
  const brain: Brain = createBrain({
    db,
    log: log.child({ c: 'ledger' }),
    publish: aedesPublisher(broker.aedes, log.child({ c: 'alerts' })),
    audit: auditSink(auditLog, () => Date.now()),
    // Copies on a failed or degraded device stop counting toward 3-2-1-1-0 (docs/disk-health.md).
    deviceHealth: (node) => store.diskHealth.deviceHealth(node),
    ...(telemetry.sink ? { telemetry: telemetry.sink } : {}),
    afterCommit: telemetry.wake,
  })
  const apiTokens = createTokensRepo(db)
  const prometheus = createPrometheus({ db, brain, counters })
  const stopWatch = watchRevocations({ access, since: now(), onRevoked })
  const commands = createCommandService({
    db,
    audit: securityAudit,
    collectorSecretKey: keysFile.secretKey,
    now,
    publish: (topic, payload) =>
      broker.aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, () => {}),
    nodeState: (node) => (store.nodes.get(node) ? (access.get(node)?.state ?? 'active') : 'unknown'),
  })
  const security = chooseTransportSecurity({
    allowPlaintext: config.tls.plaintext,
    log,
    listenHost: config.mqtt.host,
    loadTls: () =>
      loadOrCreateTls({
        dir: join(config.dataDir, 'tls'),
        names: config.tls.names,
        files: { certFile: config.tls.certFile, keyFile: config.tls.keyFile, caFile: config.tls.caFile },
        now: now(),
      }),
  })
  const mqttServer =
    security.mode === 'tls'
      ? createTlsServer(serverTlsOptions(security.tls), broker.aedes.handle)
      : createServer(broker.aedes.handle)
  await listen(mqttServer, config.mqtt.port, config.mqtt.host)
  const mqttPort = (mqttServer.address() as AddressInfo).port

  const app = buildApp({
    nodes: store.nodes,
    runs: store.runs,
    copies: store.copies,
    health: () => ({ db: pingDb(db), broker: !broker.aedes.closed && mqttServer.listening }),
    log: log.child({ c: 'api' }),
    https: security.mode === 'tls' ? serverTlsOptions(security.tls) : undefined,
    commands,
    compliance: { brain, tokens: apiTokens, authMode: config.api.auth, auditLog, metrics: prometheus.render },
    diskHealth: store.diskHealth,
  })
  brain.start()
  telemetry.start()
  await app.listen({ host: config.api.host, port: config.api.port })
  const apiPort = (app.server.address() as AddressInfo).port
  const apiUrl = `${security.mode === 'tls' ? 'https' : 'http'}://${urlHost(config.api.host)}:${apiPort}`
  const mqttUrl = `${security.mode === 'tls' ? 'mqtts' : 'mqtt'}://${urlHost(config.mqtt.host)}:${mqttPort}`
  log.info({ apiUrl, mqttUrl }, 'collector running')

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log.info('stopping: no new connections, flushing the ingest batch')
      mqttServer.close()
      stopWatch()
      await ingest.close()
      await broker.close()
      await app.close()
      brain.stop()
      await telemetry.stop()
      db.close()
      log.info('stopped')
    })()
    return stopping
  }
  return {
    apiUrl,
    mqttUrl,
    db,
    ingest,
    counters,
    collectorPublicKey: keysFile.publicKey,
    stop,
    identity,
    commands,
    tlsFingerprint: security.mode === 'tls' ? security.tls.fingerprint : null,
    tlsCaCert: security.mode === 'tls' ? security.tls.caCert : null,
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** A wildcard bind is reachable on loopback; print a URL that works from this machine. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') {
    return '127.0.0.1'
  }
  return host.includes(':') ? `[${host}]` : host
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
