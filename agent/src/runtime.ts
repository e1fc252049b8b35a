import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { hostname as osHostname } from 'node:os'
import type { ConnectionOptions } from 'node:tls'
import {
  checkBody,
  keyFingerprint,
  type AgentMessageKind,
  type BodyOf,
  type Envelope,
  type HeartbeatBody,
  type KeyPair,
} from '@backstop/shared'
import type { Clock } from './clock.ts'
import type { ResolvedAgentConfig } from './config/schema.ts'
import { loadCollectorKey, loadOrCreateNodeKey, saveCollectorKey } from './keys.ts'
import type { Log } from './log.ts'
import { FileOutbox } from './outbox/file-outbox.ts'
import type { KeptStats, Outbox, OutboxStats } from './outbox/outbox.ts'
import { createRetentionReporter } from './outbox/retention-report.ts'
import { createSigner } from './transport/signer.ts'
import { MqttTransport, type TransportOptions, type TransportStatus } from './transport/mqtt-transport.ts'
import { AGENT_VERSION } from './version.ts'

/** Kinds that go through the durable outbox (heartbeat and enroll are seq 0, sent by the transport itself). */
export type DurableKind = Exclude<AgentMessageKind, 'heartbeat' | 'enroll'>

/** What the scheduler reports per job (Scheduler.status() fits). */
export interface JobStatusLike {
  readonly job: string
  readonly nextRunAt: string | null
  readonly skippedOverlaps: number
  readonly running?: boolean
}

export interface AgentRuntimeDeps {
  readonly config: ResolvedAgentConfig
  readonly clock: Clock
  readonly log: Log
  /** Default: a FileOutbox in config.outbox.dir (opened here, closed by stop()). A given outbox is not closed. */
  readonly outbox?: Outbox
  readonly agentVersion?: string
  readonly hostname?: string
  /** For mqtts:// with a pinned CA (transport/tls-trust-store.ts pinnedTlsForUrl). */
  readonly tls?: Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized' | 'checkServerIdentity' | 'minVersion'>
  /** Messages on backstop/v1/<node>/commands (commands/receive-command.ts). Not subscribed when absent. */
  readonly onCommand?: (payload: Buffer) => void
  /** Speaks for the node's presence (Will, online/offline, heartbeats); default true, false for `once`. */
  readonly presence?: boolean
  /** Transport tuning (window, backoff, ackTimeoutMs …), mainly for tests. */
  readonly transport?: Partial<
    Pick<
      TransportOptions,
      'window' | 'backoff' | 'enrollBackoff' | 'ackTimeoutMs' | 'connectTimeoutMs' | 'keepaliveS' | 'random'
    >
  >
}

/** A type alias, not an interface: JSON-like consumers (`status --json`) index it by string. */
export type AgentStatus = {
  readonly node: string
  readonly agentVersion: string
  readonly startedAt: string
  readonly connected: boolean
  readonly enrolled: boolean
  readonly enrollment: TransportStatus['enrollment']
  readonly nodeKeyFingerprint: string
  readonly collectorKeyFingerprint: string | null
  readonly outbox: OutboxStats & {
    readonly maxBytes: number
    readonly dir: string
    /** Acknowledged events kept until a collector backup covers them (docs/reliability.md); null when off. */
    readonly keep: KeptStats | null
  }
  readonly transport: Omit<TransportStatus, 'connected' | 'enrolled' | 'enrollment' | 'collectorKeyFingerprint'>
  readonly jobs: readonly JobStatusLike[]
}

export interface AgentRuntime {
  /** Connects (and keeps reconnecting), enrolls if needed, drains the outbox, sends heartbeats. */
  start(): void
  /**
   * Publishes offline with its reason (default `shutdown`), disconnects, closes the outbox it opened. Events
   * already appended stay durable.
   */
  stop(reason?: 'shutdown' | 'restart'): Promise<void>
  /**
   * Signs `body` as a `kind` event (msgId = random UUID, seq from the outbox, ts from the clock), appends it
   * durably and kicks the drain. Resolves once it is on disk — not when the collector has it.
   * Rejects BK_ERR_WIRE_SCHEMA (body), BK_ERR_OUTBOX_FULL, BK_ERR_OUTBOX_NO_SPACE.
   */
  emit<K extends DurableKind>(kind: K, body: BodyOf<K>): Promise<Envelope<K>>
  /** Resolves true once every appended event is acknowledged, false after `timeoutMs` (for `once`). */
  flush(timeoutMs: number): Promise<boolean>
  status(): AgentStatus
  /** Registers where job states come from (the scheduler): used by `status()` and every heartbeat. */
  onJobStatus(source: () => readonly JobStatusLike[]): void
}

/** Opens keys and outbox; nothing connects until start(). */
export async function createAgentRuntime(deps: AgentRuntimeDeps): Promise<AgentRuntime> {
  const { config, clock } = deps
  const log = deps.log.child({ component: 'runtime' })
  const keys: KeyPair = await loadOrCreateNodeKey(config.stateDir, log)
  const signer = createSigner(keys)
  const collectorKey = await loadCollectorKey(config.stateDir, log)
  const ownOutbox = deps.outbox === undefined
  // Bound below, once emit exists: kept-record changes become `outbox.retention` events (docs/reliability.md).
  let keepChanged = (): void => undefined
  const keep = config.outbox.keep
  const outbox =
    deps.outbox ??
    (await FileOutbox.open({
      dir: config.outbox.dir,
      maxBytes: config.outbox.maxBytes,
      log: deps.log.child({ component: 'outbox' }),
      clock,
      ...(keep ? { keep, onKeepChange: () => keepChanged() } : {}),
    }))
  const agentVersion = deps.agentVersion ?? AGENT_VERSION
  const hostname = deps.hostname ?? osHostname()
  const startedAt = clock.now()
  let jobSource: () => readonly JobStatusLike[] = () => []
  const kindOf = new Map(config.jobs.map((j) => [j.name, j.kind as string]))

  const heartbeatBody = (): HeartbeatBody => ({
    agentVersion,
    hostname,
    uptimeS: Math.max(0, Math.round((clock.now().getTime() - startedAt.getTime()) / 1000)),
    outbox: outbox.stats(),
    jobs: jobSource().map((j) => ({
      job: j.job,
      kind: kindOf.get(j.job) ?? 'unknown',
      skippedOverlaps: j.skippedOverlaps,
      ...(j.nextRunAt ? { nextRunAt: j.nextRunAt } : {}),
    })),
  })

  const transport = new MqttTransport({
    url: config.collector.url,
    node: config.node,
    signer,
    outbox,
    clock,
    log: deps.log.child({ component: 'transport' }),
    agentVersion,
    hostname,
    heartbeatMs: config.heartbeatMs,
    collectorKey,
    enrollmentToken: () => readToken(config, log),
    pinCollectorKey: (pk) => saveCollectorKey(config.stateDir, pk, log),
    heartbeatBody,
    ...(deps.tls ? { tls: deps.tls } : {}),
    ...(deps.onCommand ? { onCommand: deps.onCommand } : {}),
    ...(deps.presence !== undefined ? { presence: deps.presence } : {}),
    ...deps.transport,
  })

  let stopped = false
  const runtime: AgentRuntime = {
    start: () => transport.start(),
    async stop(reason) {
      if (stopped) {
        return
      }
      stopped = true
      await transport.stop(reason)
      if (ownOutbox) {
        await outbox.close()
      }
    },
    async emit<K extends DurableKind>(kind: K, body: BodyOf<K>): Promise<Envelope<K>> {
      const rec = await outbox.append((seq) => {
        const env = signer.signEnvelope({
          v: 1,
          kind,
          node: config.node,
          msgId: randomUUID(),
          seq,
          ts: clock.now().toISOString(),
          body,
        } as never) as Envelope
        // Refuse here what the collector would dead-letter: the caller learns at once, with the failing paths.
        checkBody(env)
        return env
      })
      transport.kick()
      return rec.envelope as Envelope<K>
    },
    async flush(timeoutMs) {
      const until = clock.now().getTime() + timeoutMs
      while (outbox.stats().pending > 0) {
        if (clock.now().getTime() >= until) {
          return false
        }
        await clock.sleepUntil(new Date(Math.min(until, clock.now().getTime() + 50)))
      }
      return true
    },
    status() {
      const t = transport.status()
      const { connected, enrolled, enrollment, collectorKeyFingerprint, ...rest } = t
      return {
        node: config.node,
        agentVersion,
        startedAt: startedAt.toISOString(),
        connected,
        enrolled,
        enrollment,
        nodeKeyFingerprint: keyFingerprint(keys.publicKey),
        collectorKeyFingerprint,
        outbox: {
          ...outbox.stats(),
          maxBytes: config.outbox.maxBytes,
          dir: config.outbox.dir,
          keep: keep ? outbox.keptStats() : null,
        },
        transport: rest,
        jobs: jobSource(),
      }
    },
    onJobStatus(source) {
      jobSource = source
    },
  }
  if (keep) {
    const reporter = createRetentionReporter({
      bounds: keep,
      stats: () => outbox.keptStats(),
      now: () => clock.now().getTime(),
      emit: (body) => runtime.emit('outbox.retention', body),
      log,
    })
    keepChanged = () => {
      if (!stopped) {
        reporter.changed()
      }
    }
  }
  return runtime
}

async function readToken(config: ResolvedAgentConfig, log: Log): Promise<string | null> {
  if (config.collector.enrollmentToken) {
    return config.collector.enrollmentToken
  }
  const file = config.collector.enrollmentTokenFile
  if (!file) {
    return null
  }
  try {
    const token = (await readFile(file, 'utf8')).trim()
    return token.length > 0 ? token : null
  } catch (e) {
    log.error({ file, err: (e as Error).message }, 'cannot read collector.enrollmentTokenFile')
    return null
  }
}
