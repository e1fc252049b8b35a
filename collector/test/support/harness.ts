import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'
import { pino, type Logger } from 'pino'
import {
  connectProofText,
  keyPairFromSeed,
  privateKeyObject,
  publicKeyObject,
  signBytes,
  signEnvelope,
  verifyEnvelopeSignature,
  type AckBody,
  type BodyOf,
  type Copy,
  type Envelope,
  type KeyPair,
  type MessageKind,
} from '@backstop/shared'
import { createTokenCheck } from '../../src/ingest/check.ts'
import { createKeyRing, type KeyRing } from '../../src/ingest/key-ring.ts'
import { createIngest, type Ingest } from '../../src/ingest/pipeline.ts'
import type { IngestStore } from '../../src/ingest/types.ts'
import {
  createInlineVerifier,
  createWorkerVerifier,
  type Verifier,
  type WorkerVerifierOptions,
} from '../../src/ingest/verifier.ts'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { composeIdentity } from '../../src/compose/identity.ts'
import { systemClock } from '../../src/time/clock.ts'
import { createCounters, type Counters } from '../../src/metrics/counters.ts'
import { createDiskHealthStore } from '../../src/health/disk-health-store.ts'
import { createAssetsRepo } from '../../src/store/assets-repo.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { openDb, type Db } from '../../src/store/db.ts'
import { createEventsRepo } from '../../src/store/events-repo.ts'
import { createNodesRepo } from '../../src/store/nodes-repo.ts'
import { createRunsRepo } from '../../src/store/runs-repo.ts'

export const TOKEN = 'test-enrollment-token-0123456789'

export function tempDir(t: TestContext, prefix = 'bk-collector-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** pino writing JSON lines into an array, so tests can assert that a rejection was logged with its reason. */
export function captureLog(level = 'debug'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (l.trim()) {
          lines.push(JSON.parse(l) as Record<string, unknown>)
        }
      }
      cb()
    },
  })
  return { log: pino({ level }, stream), lines }
}

export function nodeKeys(): KeyPair {
  return keyPairFromSeed(randomBytes(32))
}

/** A test agent: signs envelopes with node:crypto (same bytes as shared/src/signing.ts, much faster). */
export class FakeAgent {
  readonly keys: KeyPair
  private readonly sk
  private n = 0
  constructor(
    readonly node: string,
    keys: KeyPair = nodeKeys(),
  ) {
    this.keys = keys
    this.sk = privateKeyObject(keys.secretKey)
  }

  envelope<K extends MessageKind>(kind: K, body: BodyOf<K>, over: Partial<Envelope> = {}): Envelope<K> {
    this.n++
    const unsigned = {
      v: 1 as const,
      kind,
      node: this.node,
      msgId: `${this.node}-m${this.n}`,
      seq: kind === 'enroll' || kind === 'heartbeat' ? 0 : this.n,
      ts: new Date().toISOString(),
      body,
      ...over,
    }
    return signEnvelope(unsigned as never, this.sk) as Envelope<K>
  }

  enroll(token = TOKEN): Envelope<'enroll'> {
    return this.envelope('enroll', {
      publicKey: this.keys.publicKey,
      token,
      hostname: `${this.node}.lan`,
      agentVersion: '0.1.0',
    })
  }

  heartbeat(): Envelope<'heartbeat'> {
    return this.envelope('heartbeat', {
      agentVersion: '0.1.0',
      hostname: `${this.node}.lan`,
      uptimeS: 12,
      outbox: { pending: 0, bytes: 0 },
      jobs: [],
    })
  }

  started(runId: string, job = 'etc-archive', startedAt = '2026-11-22T01:00:00.000Z'): Envelope<'job.started'> {
    return this.envelope('job.started', { runId, job, jobKind: 'archive', startedAt, trigger: 'schedule' })
  }

  finished(
    runId: string,
    copies: Copy[] = [copy('c1')],
    over: Partial<BodyOf<'job.finished'>> = {},
  ): Envelope<'job.finished'> {
    return this.envelope('job.finished', {
      runId,
      job: 'etc-archive',
      jobKind: 'archive',
      startedAt: '2026-11-22T01:00:00.000Z',
      finishedAt: '2026-11-22T01:00:02.500Z',
      status: 'success',
      bytes: 1234,
      copies,
      deleted: [],
      warnings: [],
      ...over,
    })
  }

  /** The CONNECT password of docs/protocol.md. */
  password(tsMillis = Date.now()): string {
    return `${tsMillis}.${signConnect(this.node, tsMillis, this.sk)}`
  }
}

function signConnect(node: string, ts: number, sk: ReturnType<typeof privateKeyObject>): string {
  return signBytes(connectProofText(node, ts), sk)
}

export function copy(id: string, over: Partial<Copy> = {}): Copy {
  return {
    copyId: id,
    asset: { kind: 'file-set', id: 'fileset:etc-archive' },
    location: { kind: 'dir', target: '/srv/backup' },
    name: `${id}.tar.gz`,
    media: 'hdd',
    offsite: false,
    offline: false,
    immutable: false,
    createdAt: '2026-11-22T01:00:02.000Z',
    bytes: 1234,
    verification: { state: 'verified', at: '2026-11-22T01:00:02.400Z', method: 'sha256-manifest' },
    ...over,
  }
}

export function payload(env: unknown): Buffer {
  return Buffer.from(JSON.stringify(env))
}

export interface PublishedAck {
  readonly node: string
  readonly env: Envelope<'ack'>
  readonly body: AckBody
  /** Events committed for that node at the moment the ack was published (read through a second connection). */
  readonly eventsAtPublish: number
}

export interface Harness {
  readonly db: Db
  readonly store: IngestStore
  readonly keys: KeyRing
  readonly ingest: Ingest
  readonly counters: Counters
  readonly acks: PublishedAck[]
  readonly lines: Record<string, unknown>[]
  readonly collectorPublicKey: string
  /** submit and wait until the message settled */
  send(topicNode: string, body: Buffer): Promise<void>
}

/**
 * Verification on worker threads, as the collector runs it (`ingestHarness({ verifier: workerVerifier() })`),
 * with the harness's enrollment token; `more` sets the pool's size, chunk or worker script.
 */
export function workerVerifier(
  more: Partial<Pick<WorkerVerifierOptions, 'size' | 'chunk' | 'workerUrl'>> = {},
): (keys: KeyRing, log: Logger) => Verifier {
  return (keys, log) =>
    createWorkerVerifier({
      keys,
      tokens: [TOKEN],
      inline: { keys, tokens: createTokenCheck([TOKEN]) },
      log,
      size: 1,
      ...more,
    })
}

/** Ingest over a real SQLite file, acks captured. Each published ack is checked against the collector key. */
export function ingestHarness(
  t: TestContext,
  opts: {
    batchSize?: number
    batchIntervalMs?: number
    verifier?: (keys: KeyRing, log: Logger) => Verifier
    /** The ingest's clock (epoch ms); the wall clock unless a test moves it by hand. */
    now?: () => number
  } = {},
): Harness {
  const dir = tempDir(t)
  const file = join(dir, 'collector.db')
  const { db } = openDb({ file })
  const reader = openDb({ file }).db
  t.after(() => {
    reader.close()
    db.close()
  })
  const store: IngestStore = {
    nodes: createNodesRepo(db),
    events: createEventsRepo(db),
    runs: createRunsRepo(db),
    copies: createCopiesRepo(db),
    assets: createAssetsRepo(db),
    // No command was issued in these tests: a command.result is stored in events and matches no command.
    commands: { recordResult: () => false },
    diskHealth: createDiskHealthStore(db),
  }
  const readerEvents = createEventsRepo(reader)
  const collector = nodeKeys()
  const collectorKey = publicKeyObject(collector.publicKey)
  const keys = createKeyRing(store.nodes)
  const counters = createCounters()
  const { log, lines } = captureLog()
  const acks: PublishedAck[] = []
  const tokens = createTokenCheck([TOKEN, 'second-token-abcdefghijklmnop'])
  const ingest = createIngest({
    db,
    store,
    keys,
    counters,
    log,
    now: opts.now ?? (() => Date.now()),
    tokens,
    collector: { publicKey: collector.publicKey, signingKey: privateKeyObject(collector.secretKey) },
    publishAck: (node, p) => {
      const env = JSON.parse(p.toString('utf8')) as Envelope<'ack'>
      if (!collectorKey || !verifyEnvelopeSignature(env, collectorKey)) {
        throw new Error('ack signature does not verify against the collector key')
      }
      acks.push({ node, env, body: env.body, eventsAtPublish: readerEvents.count(node) })
    },
    batchSize: opts.batchSize ?? 100,
    batchIntervalMs: opts.batchIntervalMs ?? 2,
    verifier: opts.verifier ? opts.verifier(keys, log) : createInlineVerifier({ keys, tokens }),
    // The real enrollment gate, as main.ts wires it (compose/identity.ts).
    admitEnroll: composeIdentity({ db, audit: createAuditLog(db), clock: systemClock, staticTokens: tokens })
      .admitEnroll,
  })
  t.after(() => ingest.close())
  // Each node's MQTT connection; a message that fails (its batch rolled back) closes it, and the agent's replay
  // comes over a new one, as the broker does (a rolled-back batch fails the rest of its connection).
  const connections = new Map<string, object>()
  const send = (topicNode: string, body: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const connection = connections.get(topicNode) ?? {}
      connections.set(topicNode, connection)
      ingest.submit(
        topicNode,
        body,
        (err) => {
          if (err) {
            connections.delete(topicNode)
            reject(err)
          } else {
            resolve()
          }
        },
        connection,
      )
    })
  return { db, store, keys, ingest, counters, acks, lines, collectorPublicKey: collector.publicKey, send }
}
