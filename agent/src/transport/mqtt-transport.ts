import type { MqttClient } from 'mqtt'
import { keyFingerprint, type AckBody } from '@backstop/shared'
import type { OutboxRecord } from '../outbox/outbox.ts'
import { backoffMs, defaultBackoff } from './backoff.ts'
import { AckProcessor } from './ack-processor.ts'
import { CheckpointReceiver } from './checkpoint-receiver.ts'
import { BatchesInFlight, packRecords } from './batch-pack.ts'
import type { TransportCounters, TransportOptions, TransportStatus } from './transport-options.ts'
import { connectClient } from './connect-client.ts'
import {
  enrollEnvelope,
  heartbeatEnvelope,
  statusPayload,
  topicsFor,
  type LeaveReason,
  type NodeTopics,
} from './wire.ts'

export type { TransportCounters, TransportOptions, TransportStatus } from './transport-options.ts'

/**
 * The agent's one MQTT connection (docs/protocol.md). Owns every timer of the transport — reconnect backoff,
 * enrollment retry, heartbeat, ack watchdog — all through the injected Clock. mqtt.js's own reconnect is off:
 * each attempt is a fresh client with a fresh signed password, and the outbox (not mqtt.js's in-memory store)
 * is what gets replayed, from the oldest unacknowledged record, on every (re)connect.
 */
export class MqttTransport {
  readonly counters: TransportCounters = {
    connects: 0,
    published: 0,
    acked: 0,
    deadLettered: 0,
    transientRejections: 0,
    forgedAcks: 0,
    invalidAcks: 0,
    replays: 0,
    heartbeats: 0,
    batches: 0,
    batchRejections: 0,
    checkpoints: 0,
    forgedCheckpoints: 0,
  }
  private readonly topics: NodeTopics
  private readonly stopCtl = new AbortController()
  private readonly acks: AckProcessor
  private readonly checkpoints: CheckpointReceiver
  private client: MqttClient | undefined
  private sessionCtl: AbortController | undefined
  private runLoop: Promise<void> | undefined
  private enrollWake: AbortController | undefined
  /** Highest seq handed to the broker in this session; a replay rewinds it to 0. */
  private cursor = 0
  private readonly inflight = new Map<string, number>()
  private readonly batches = new BatchesInFlight()
  /** Records up to this seq are sent alone: a batch holding them was rejected as a whole (see batchRejected). */
  private singlesThrough = 0
  private pumping = false
  private pumpRun: Promise<void> = Promise.resolve()
  private pumpAgain = false
  private lastProgressMs = 0
  private lastError: string | null = null
  private lastConnectAt: Date | null = null

  constructor(private readonly opts: TransportOptions) {
    this.topics = topicsFor(opts.node)
    this.acks = new AckProcessor({
      node: opts.node,
      outbox: opts.outbox,
      log: opts.log,
      clock: opts.clock,
      collectorKey: opts.collectorKey,
      counters: this.counters,
      pin: (pk) => opts.pinCollectorKey(pk),
      enrolled: () => this.onEnrolled(),
      settled: (ids) => this.settled(ids),
      retryLater: () => this.scheduleReplay(),
      batchRejected: (r) => this.batchRejected(r),
    })
    this.checkpoints = new CheckpointReceiver({
      node: opts.node,
      outbox: opts.outbox,
      log: opts.log,
      counters: this.counters,
      collectorKey: () => this.acks.collectorKey,
      replay: (why) => this.replay(why),
    })
  }

  private get presence(): boolean {
    return this.opts.presence ?? true
  }

  get enrolled(): boolean {
    return this.acks.collectorKey !== null
  }

  start(): void {
    this.runLoop ??= this.run().catch((e: unknown) => this.opts.log.fatal({ err: e }, 'transport loop crashed'))
  }

  /**
   * Publishes the retained `offline` status with its reason (not the Will: the collector then knows the node
   * stopped on purpose), disconnects cleanly and ends every loop. Without presence, just disconnects.
   */
  async stop(reason: Exclude<LeaveReason, 'lost'> = 'shutdown'): Promise<void> {
    if (this.stopCtl.signal.aborted) {
      return this.runLoop
    }
    this.stopCtl.abort()
    const c = this.client
    if (c) {
      // Bounded: a half-open socket would otherwise hold shutdown forever.
      if (c.connected && this.presence) {
        const offline = statusPayload('offline', this.opts.clock.now(), { reason })
        await Promise.race([
          c.publishAsync(this.topics.status, offline, { qos: 1, retain: true }).catch(() => undefined),
          this.sleep(2000, undefined),
        ])
      }
      await Promise.race([c.endAsync(false).catch(() => undefined), this.sleep(2000, undefined)])
      c.end(true)
    }
    this.sessionCtl?.abort()
    await this.runLoop
    // The caller closes the outbox next: let a running drain step and queued acks finish first.
    await this.pumpRun
    await this.acks.idle()
    await this.checkpoints.idle()
  }

  /** New records in the outbox: send them if the window allows. */
  kick(): void {
    void this.pump()
  }

  status(): TransportStatus {
    return {
      connected: this.client?.connected === true,
      enrolled: this.enrolled,
      enrollment: this.enrolled ? 'pinned' : this.acks.enrollmentState,
      collectorKeyFingerprint: this.acks.collectorKey ? keyFingerprint(this.acks.collectorKey) : null,
      inflight: this.inflight.size,
      lastError: this.lastError,
      lastConnectAt: this.lastConnectAt?.toISOString() ?? null,
      lastAckAt: this.acks.lastAckAt?.toISOString() ?? null,
      counters: { ...this.counters },
    }
  }

  private async run(): Promise<void> {
    let attempt = 0
    while (!this.stopCtl.signal.aborted) {
      const c = await this.connectOnce()
      if (c) {
        const started = this.opts.clock.now().getTime()
        await this.session(c)
        // A session that lasted resets the backoff; one that dies at once (refused publish, flapping broker) does not.
        if (this.opts.clock.now().getTime() - started > (this.opts.backoff ?? defaultBackoff).maxMs) {
          attempt = 0
        }
      }
      if (this.stopCtl.signal.aborted) {
        break
      }
      const delay = backoffMs(attempt++, this.opts.backoff ?? defaultBackoff, this.opts.random)
      this.opts.log.info({ delayMs: delay, attempt }, 'reconnecting to the collector after backoff')
      await this.sleep(delay, this.stopCtl.signal)
    }
  }

  private async connectOnce(): Promise<MqttClient | undefined> {
    const res = await connectClient({
      url: this.opts.url,
      node: this.opts.node,
      signer: this.opts.signer,
      now: this.opts.clock.now(),
      topics: this.topics,
      keepaliveS: this.opts.keepaliveS ?? 30,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      tls: this.opts.tls,
      stop: this.stopCtl.signal,
      onAck: (payload) => this.acks.receive(payload),
      onCheckpoint: (payload, retained) => this.checkpoints.receive(payload, retained),
      onCommand: this.opts.onCommand,
      will: this.presence,
    })
    if ('error' in res) {
      if (this.stopCtl.signal.aborted) {
        return undefined
      }
      this.lastError = `connect to ${this.opts.url}: ${res.error}`
      this.opts.log.warn({ url: this.opts.url, err: res.error }, 'could not connect to the collector')
      return undefined
    }
    return res.client
  }

  private async session(c: MqttClient): Promise<void> {
    const ctl = new AbortController()
    this.sessionCtl = ctl
    this.client = c
    this.counters.connects++
    this.lastConnectAt = this.opts.clock.now()
    this.lastError = null
    this.cursor = 0
    this.inflight.clear()
    this.batches.clear()
    this.checkpoints.connected()
    const closed = new Promise<void>((r) => {
      c.once('close', () => r())
      ctl.signal.addEventListener('abort', () => r(), { once: true })
    })
    c.on('error', (e) => {
      this.lastError = e.message
      this.opts.log.warn({ err: e.message }, 'MQTT connection error')
    })
    this.opts.log.info({ url: this.opts.url, enrolled: this.enrolled }, 'connected to the collector')
    try {
      // mqtt.js keeps a persistent session's QoS 1 packets to resend them and never settles their promises when the
      // line drops: every setup step also ends when the connection closes, or the session would wait forever.
      const untilClosed = <T>(p: Promise<T>): Promise<T | 'closed'> =>
        Promise.race([p, closed.then(() => 'closed' as const)])
      const topics = [this.topics.ack, this.topics.checkpoint]
      const subscribed = await untilClosed(
        c.subscribeAsync(this.opts.onCommand ? [...topics, this.topics.commands] : topics, { qos: 1 }),
      )
      if (subscribed !== 'closed' && this.presence) {
        const online = statusPayload('online', this.opts.clock.now(), { agentVersion: this.opts.agentVersion })
        await untilClosed(c.publishAsync(this.topics.status, online, { qos: 1, retain: true }))
      }
      // Closed during setup: no loops for this connection (the run loop reconnects).
      if (c.connected && !ctl.signal.aborted) {
        if (this.enrolled) {
          this.whileEnrolled(c, ctl.signal)
        } else {
          void this.enrollLoop(c, ctl.signal)
        }
        void this.ackWatchdog(ctl.signal)
      }
    } catch (e) {
      this.lastError = (e as Error).message
      this.opts.log.warn({ err: (e as Error).message }, 'session setup failed; reconnecting')
      c.end(true)
    }
    await closed
    ctl.abort()
    this.client = undefined
    c.removeAllListeners('message')
    if (!this.stopCtl.signal.aborted) {
      this.opts.log.warn({ inflight: this.inflight.size }, 'disconnected from the collector')
    }
  }

  private whileEnrolled(c: MqttClient, signal: AbortSignal): void {
    if (this.presence) {
      void this.heartbeatLoop(c, signal)
    }
    void this.pump()
  }

  private async enrollLoop(c: MqttClient, signal: AbortSignal): Promise<void> {
    const policy = this.opts.enrollBackoff ?? { baseMs: 2000, maxMs: 5 * 60_000 }
    for (let attempt = 0; !signal.aborted && !this.enrolled; attempt++) {
      const token = await this.opts.enrollmentToken()
      if (token === null) {
        this.acks.enrollmentState = 'waiting-for-token'
        this.opts.log.error(
          'not enrolled and no enrollment token: set collector.enrollmentToken or ' +
            'collector.enrollmentTokenFile in the agent config',
        )
      } else if (!this.enrolled && !this.acks.pinning) {
        const env = enrollEnvelope({
          node: this.opts.node,
          signer: this.opts.signer,
          token,
          hostname: this.opts.hostname,
          agentVersion: this.opts.agentVersion,
          now: this.opts.clock.now(),
        })
        this.acks.expectEnrollment(env.msgId)
        c.publish(this.topics.events, JSON.stringify(env), { qos: 1 }, () => undefined)
        this.opts.log.info(
          { msgId: env.msgId, fingerprint: keyFingerprint(this.opts.signer.publicKey), attempt },
          'sent enrollment request',
        )
      }
      this.enrollWake = new AbortController()
      await this.sleep(backoffMs(attempt, policy, this.opts.random), AbortSignal.any([signal, this.enrollWake.signal]))
    }
  }

  private onEnrolled(): void {
    this.opts.log.info(
      { collectorKeyFingerprint: keyFingerprint(this.acks.collectorKey as string) },
      'enrolled: collector key pinned, draining the outbox',
    )
    this.enrollWake?.abort()
    const c = this.client
    if (c && this.sessionCtl && !this.sessionCtl.signal.aborted) {
      this.whileEnrolled(c, this.sessionCtl.signal)
    }
  }

  private async heartbeatLoop(c: MqttClient, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const env = heartbeatEnvelope(
          this.opts.node,
          this.opts.signer,
          this.opts.heartbeatBody(),
          this.opts.clock.now(),
        )
        c.publish(this.topics.events, JSON.stringify(env), { qos: 1 }, () => undefined)
        this.counters.heartbeats++
        // The outbox's keep bounds are by age too: an idle node still releases (and reports) on time.
        void this.opts.outbox
          .enforceKeepBounds()
          .catch((e: unknown) => this.opts.log.error({ err: e }, 'releasing kept events beyond outbox.keep failed'))
      } catch (e) {
        this.opts.log.error({ err: e }, 'could not build the heartbeat')
      }
      await this.sleep(this.opts.heartbeatMs, signal)
    }
  }

  /** Sends unacknowledged records in seq order while the window has room. Re-entrant calls coalesce. */
  private pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true
      return this.pumpRun
    }
    this.pumping = true
    this.pumpRun = this.pumpLoop()
    return this.pumpRun
  }

  private async pumpLoop(): Promise<void> {
    try {
      do {
        this.pumpAgain = false
        await this.pumpOnce()
      } while (this.pumpAgain)
    } catch (e) {
      this.opts.log.error({ err: e }, 'reading the outbox failed; retrying on the next ack or reconnect')
    } finally {
      this.pumping = false
    }
  }

  private async pumpOnce(): Promise<void> {
    const window = this.opts.window ?? 500
    const c = this.client
    while (c && c === this.client && c.connected && this.enrolled && this.inflight.size < window) {
      const from = this.cursor
      const replays = this.counters.replays
      const recs = await this.opts.outbox.readPending(from, Math.max(64, window - this.inflight.size))
      if (recs.length === 0 || c !== this.client || !c.connected) {
        return
      }
      if (replays !== this.counters.replays) {
        continue // a replay rewound the cursor while we were reading
      }
      const fresh: OutboxRecord[] = []
      for (const r of recs) {
        if (!this.inflight.has(r.msgId)) {
          if (this.inflight.size + fresh.length >= window) {
            break
          }
          fresh.push(r)
        }
        this.cursor = r.seq
      }
      if (fresh.length > 0 && this.inflight.size === 0) {
        this.lastProgressMs = this.opts.clock.now().getTime()
      }
      const out = packRecords(fresh, {
        node: this.opts.node,
        signer: this.opts.signer,
        now: this.opts.clock.now(),
        singlesThrough: this.singlesThrough,
        maxEvents: this.opts.maxBatch,
      })
      for (const w of out) {
        for (const r of w.records) {
          this.inflight.set(r.msgId, r.seq)
        }
        if (w.batchId) {
          this.batches.add(w)
          this.counters.batches++
        }
        c.publish(this.topics.events, w.payload, { qos: 1 }, () => undefined)
        this.counters.published += w.records.length
      }
    }
  }

  /**
   * A batch rejected as a whole says nothing about its events one by one, so none is dead-lettered for it: a
   * permanent rejection resends them alone (each then gets the single-event verdict, as before batches existed);
   * a transient one (e.g. not enrolled yet) retries them later like any transient rejection.
   */
  private batchRejected(r: AckBody['rejected'][number]): boolean {
    const b = this.batches.take(r.msgId)
    if (!b) {
      return false
    }
    this.opts.log.warn(
      { batch: r.msgId, events: b.ids.length, code: r.code, reason: r.reason, permanent: r.permanent },
      r.permanent
        ? 'collector rejected a batch; resending its events one by one'
        : 'collector rejected a batch for now; retrying later',
    )
    if (r.permanent) {
      this.counters.batchRejections++
      this.singlesThrough = Math.max(this.singlesThrough, b.maxSeq)
      this.replay(`batch ${r.msgId} rejected (${r.code})`)
    } else {
      this.counters.transientRejections++
      for (const id of b.ids) {
        this.inflight.delete(id)
      }
      this.scheduleReplay()
    }
    return true
  }

  private settled(ids: readonly string[]): void {
    for (const id of ids) {
      this.inflight.delete(id)
    }
    this.batches.prune(this.inflight)
    this.lastProgressMs = this.opts.clock.now().getTime()
    void this.pump()
  }

  private replay(why: string): void {
    this.opts.log.warn({ inflight: this.inflight.size, why }, 'replaying unacknowledged events from the oldest')
    this.inflight.clear()
    this.batches.clear()
    this.cursor = 0
    this.counters.replays++
    this.lastProgressMs = this.opts.clock.now().getTime()
    void this.pump()
  }

  private replayScheduled = false
  private replayAttempt = 0

  /** Transient rejections (e.g. BK_ERR_NODE_UNKNOWN) are resent after a backoff, not in a tight loop. */
  private scheduleReplay(): void {
    const signal = this.sessionCtl?.signal
    if (this.replayScheduled || !signal || signal.aborted) {
      return
    }
    this.replayScheduled = true
    const delay = backoffMs(this.replayAttempt++, this.opts.backoff ?? defaultBackoff, this.opts.random)
    void this.sleep(delay, signal).then(() => {
      this.replayScheduled = false
      if (!signal.aborted) {
        this.replay('transiently rejected events are due for a retry')
      }
    })
  }

  private async ackWatchdog(signal: AbortSignal): Promise<void> {
    const timeout = this.opts.ackTimeoutMs ?? 60_000
    while (!signal.aborted) {
      await this.sleep(Math.max(50, timeout / 4), signal)
      if (
        !signal.aborted &&
        this.inflight.size > 0 &&
        this.opts.clock.now().getTime() - this.lastProgressMs > timeout
      ) {
        this.replay(`no ack for ${timeout} ms`)
      }
    }
  }

  /** Resolves after `ms` or when `signal` aborts, never rejects. */
  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return this.opts.clock.sleepUntil(new Date(this.opts.clock.now().getTime() + ms), signal).catch(() => undefined)
  }
}
