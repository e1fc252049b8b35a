import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:net'
import { Aedes } from 'aedes'
import {
  checkBody,
  decodeMessage,
  keyPairFromSeed,
  connectProofText,
  nodeTopic,
  parseNodeTopic,
  verifyBatchSignature,
  verifyBytes,
  verifyEnvelopeSignature,
  type AckBody,
  type BatchEnvelope,
  type Envelope,
  type KeyPair,
  type WireMessage,
} from '@backstop/shared'
import { createSigner } from '../../src/transport/signer.ts'

export interface Rejection {
  readonly code: string
  readonly reason: string
  readonly permanent: boolean
}

/**
 * A tiny collector for transport tests, on a real aedes broker: checks the CONNECT signature of pinned nodes,
 * pins keys on `enroll` (token check), verifies every envelope, "commits" it idempotently and then publishes
 * one signed ack per node per tick — the protocol of docs/protocol.md, without SQLite.
 */
export class FakeCollector {
  readonly keys: KeyPair = keyPairFromSeed(new Uint8Array(32).fill(42))
  readonly pinned = new Map<string, string>()
  /** Committed events (unique msgId), in commit order. */
  readonly stored: Envelope[] = []
  /** Every envelope that arrived, duplicates included. */
  readonly received: Envelope[] = []
  readonly heartbeats: Envelope[] = []
  /** Every batch that arrived (its events are in `received` too). */
  readonly batches: BatchEnvelope[] = []
  readonly enrolls: Envelope[] = []
  readonly auth: Array<{ node: string; ok: boolean; pinned: boolean }> = []
  readonly statuses: Array<{ state: string; retain: boolean; reason?: string }> = []
  /** Test hooks. */
  holdAcks = false
  ignoreEnrolls = 0
  reject: (env: Envelope) => Rejection | undefined = () => undefined
  /** Rejects a whole batch (its msgId in the ack), as the collector does for a batch-level failure. */
  rejectBatch: (b: BatchEnvelope) => Rejection | undefined = () => undefined
  private readonly storedIds = new Set<string>()
  private readonly pendingAcks = new Map<
    string,
    { acked: string[]; rejected: AckBody['rejected']; enrollment?: AckBody['enrollment'] }
  >()
  private flushScheduled = false
  private server: Server | undefined
  port = 0

  private constructor(
    readonly broker: Aedes,
    readonly token: string,
  ) {}

  static async start(token = 'enroll-token-1'): Promise<FakeCollector> {
    const ref: { self?: FakeCollector } = {}
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) =>
        ref.self!.authenticate(username, password, done as (e: Error | null, ok: boolean) => void),
    })
    const self = new FakeCollector(broker, token)
    ref.self = self
    broker.on('publish', (packet, client) => {
      if (client) {
        self.ingest(packet.topic, Buffer.from(packet.payload))
      }
    })
    await self.listen(0)
    return self
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`
  }

  storedSeqs(node: string): number[] {
    return this.stored.filter((e) => e.node === node).map((e) => e.seq)
  }

  /** Drops every client connection abruptly (the broker stays up): Last Wills fire, agents reconnect. */
  dropConnections(): void {
    for (const c of Object.values(
      (this.broker as unknown as { clients: Record<string, { close: () => void }> }).clients,
    )) {
      c.close()
    }
  }

  /** Publishes an ack as if from the collector, signed with `signer` (a wrong key makes it forged). */
  publishAck(node: string, body: AckBody, signer: KeyPair = this.keys): Promise<void> {
    const env = createSigner(signer).signEnvelope({
      v: 1,
      kind: 'ack',
      node,
      msgId: randomUUID(),
      seq: 0,
      ts: new Date().toISOString(),
      body,
    })
    return this.sendAck(nodeTopic(node, 'ack'), Buffer.from(JSON.stringify(env)))
  }

  /** How acks leave; a test on another broker replaces it with its own MQTT client's publish. */
  sendAck: (topic: string, payload: Buffer) => Promise<void> = (topic, payload) =>
    new Promise((resolve, reject) =>
      this.broker.publish(
        {
          cmd: 'publish',
          topic,
          payload,
          qos: 1,
          retain: false,
          dup: false,
        },
        (e) => (e ? reject(e) : resolve()),
      ),
    )

  async stopListening(): Promise<void> {
    this.dropConnections()
    await new Promise<void>((r) => this.server?.close(() => r()))
  }

  async listen(port: number): Promise<void> {
    this.server = createServer(this.broker.handle)
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(port, '127.0.0.1', () => resolve())
    })
    this.port = (this.server.address() as { port: number }).port
  }

  /** Run before the broker goes away (agents stop cleanly while it is still there). */
  readonly beforeClose: Array<() => Promise<void>> = []

  async close(): Promise<void> {
    for (const f of this.beforeClose) {
      await f()
    }
    await this.stopListening()
    await new Promise<void>((r) => this.broker.close(() => r()))
  }

  private authenticate(
    username: string | undefined,
    password: Buffer | undefined,
    done: (e: Error | null, ok: boolean) => void,
  ): void {
    const node = username ?? ''
    const pk = this.pinned.get(node)
    if (!pk) {
      this.auth.push({ node, ok: true, pinned: false })
      done(null, true)
      return
    }
    const [ts, sig] = (password?.toString() ?? '').split('.', 2)
    const ok =
      !!sig && Math.abs(Date.now() - Number(ts)) <= 300_000 && verifyBytes(connectProofText(node, ts ?? ''), sig, pk)
    this.auth.push({ node, ok, pinned: true })
    if (ok) {
      done(null, true)
    } else {
      done(Object.assign(new Error('bad username or password'), { returnCode: 4 }), false)
    }
  }

  /** One message from an agent (the aedes hook calls this; a test on another broker can too). */
  ingest(topic: string, payload: Buffer): void {
    const t = parseNodeTopic(topic)
    if (!t) {
      return
    }
    if (t.channel === 'status') {
      const v = JSON.parse(payload.toString()) as { state: string; reason?: string }
      this.statuses.push({ state: v.state, retain: true, ...(v.reason !== undefined ? { reason: v.reason } : {}) })
      return
    }
    if (t.channel !== 'events') {
      return
    }
    let msg: WireMessage
    try {
      msg = decodeMessage(payload)
    } catch {
      return
    }
    if (msg.batch) {
      this.ingestBatch(t.node, msg.env)
      return
    }
    this.ingestEnvelope(t.node, msg.env, false)
  }

  /**
   * One signature for the batch (docs/protocol.md "Batches"); each inner event then as if alone, minus its own
   * signature check.
   */
  private ingestBatch(node: string, b: BatchEnvelope): void {
    this.batches.push(b)
    const pk = this.pinned.get(b.node)
    const rejection: Rejection | undefined =
      b.node !== node
        ? { code: 'BK_ERR_WIRE_TOPIC', reason: 'node mismatch', permanent: true }
        : !pk
          ? { code: 'BK_ERR_NODE_UNKNOWN', reason: 'not enrolled', permanent: false }
          : !verifyBatchSignature(b, pk)
            ? { code: 'BK_ERR_SIG_INVALID', reason: 'bad batch signature', permanent: true }
            : this.rejectBatch(b)
    if (rejection) {
      this.queueAck(node, { reject: { msgId: b.msgId, ...rejection } })
      return
    }
    for (const env of b.body.events) {
      this.ingestEnvelope(node, env, true)
    }
  }

  private ingestEnvelope(node: string, env: Envelope, covered: boolean): void {
    const t = { node }
    this.received.push(env)
    if (env.node !== t.node) {
      this.queueAck(t.node, {
        reject: { msgId: env.msgId, code: 'BK_ERR_WIRE_TOPIC', reason: 'node mismatch', permanent: true },
      })
      return
    }
    if (env.kind === 'enroll') {
      this.onEnroll(env)
      return
    }
    const pk = this.pinned.get(env.node)
    const rejection: Rejection | undefined = !pk
      ? { code: 'BK_ERR_NODE_UNKNOWN', reason: 'not enrolled', permanent: false }
      : !covered && !verifyEnvelopeSignature(env, pk)
        ? { code: 'BK_ERR_SIG_INVALID', reason: 'bad signature', permanent: true }
        : this.reject(env)
    if (rejection) {
      this.queueAck(env.node, { reject: { msgId: env.msgId, ...rejection } })
      return
    }
    checkBody(env)
    if (env.kind === 'heartbeat') {
      this.heartbeats.push(env)
    } else if (!this.storedIds.has(env.msgId)) {
      this.storedIds.add(env.msgId)
      this.stored.push(env)
    }
    this.queueAck(env.node, { ack: env.msgId })
  }

  private onEnroll(env: Envelope<'enroll'>): void {
    this.enrolls.push(env)
    if (this.ignoreEnrolls > 0) {
      this.ignoreEnrolls--
      return
    }
    if (!verifyEnvelopeSignature(env, env.body.publicKey)) {
      this.queueAck(env.node, {
        reject: { msgId: env.msgId, code: 'BK_ERR_SIG_INVALID', reason: 'proof of possession failed', permanent: true },
      })
      return
    }
    if (env.body.token !== this.token) {
      this.queueAck(env.node, {
        reject: { msgId: env.msgId, code: 'BK_ERR_ENROLL_TOKEN', reason: 'unknown token', permanent: true },
      })
      return
    }
    const pinned = this.pinned.get(env.node)
    if (pinned && pinned !== env.body.publicKey) {
      this.queueAck(env.node, {
        reject: { msgId: env.msgId, code: 'BK_ERR_NODE_KEY_MISMATCH', reason: 'different key pinned', permanent: true },
      })
      return
    }
    this.pinned.set(env.node, env.body.publicKey)
    this.queueAck(env.node, { ack: env.msgId, enrollment: { node: env.node, collectorPublicKey: this.keys.publicKey } })
  }

  private queueAck(
    node: string,
    a: { ack?: string; reject?: AckBody['rejected'][number]; enrollment?: AckBody['enrollment'] },
  ): void {
    if (this.holdAcks && !a.enrollment) {
      return
    }
    const batch = this.pendingAcks.get(node) ?? { acked: [], rejected: [] }
    if (a.ack) {
      batch.acked.push(a.ack)
    }
    if (a.reject) {
      batch.rejected.push(a.reject)
    }
    if (a.enrollment) {
      batch.enrollment = a.enrollment
    }
    this.pendingAcks.set(node, batch)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      // "after the commit": one ack per node per batch, like the real collector's batched transaction.
      setImmediate(() => {
        this.flushScheduled = false
        for (const [n, body] of this.pendingAcks) {
          void this.publishAck(n, body)
        }
        this.pendingAcks.clear()
      })
    }
  }
}
