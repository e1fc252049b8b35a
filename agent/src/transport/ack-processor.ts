import { decodeEnvelope, keyFingerprint, type AckBody } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { Log } from '../log.ts'
import type { Outbox } from '../outbox/outbox.ts'
import type { TransportCounters } from './transport-options.ts'
import { checkAck } from './wire.ts'

export interface AckProcessorDeps {
  readonly node: string
  readonly outbox: Outbox
  readonly log: Log
  readonly clock: Clock
  readonly collectorKey: string | null
  readonly counters: TransportCounters
  /** Persists the verified collector key from the enrollment ack (called once). */
  readonly pin: (publicKey: string) => Promise<void>
  /** The key is pinned: start draining. */
  readonly enrolled: () => void
  /** These msgIds need no more sending (acked, dead-lettered, or due for a later retry). */
  readonly settled: (msgIds: readonly string[]) => void
  /** Some events were rejected transiently: resend them later. */
  readonly retryLater: () => void
  /** A rejection naming a batch in flight (not an outbox record): the transport handles it; false = not a batch. */
  readonly batchRejected?: (r: AckBody['rejected'][number]) => boolean
}

/**
 * Applies the collector's application-level acks (docs/protocol.md "Events" step 4), one at a time in arrival
 * order: verified against the pinned key (forged ones are counted and ignored), acked → removed from the
 * outbox, permanently rejected → dead-letter, transiently rejected → kept for the next replay.
 */
export class AckProcessor {
  collectorKey: string | null
  enrollmentState: 'pending' | 'waiting-for-token' | 'rejected' = 'pending'
  lastAckAt: Date | null = null
  /** The enrollment ack verified and the key is being saved: no further enroll requests. */
  pinning = false
  private readonly enrollIds = new Set<string>()
  private chain: Promise<void> = Promise.resolve()

  constructor(private readonly deps: AckProcessorDeps) {
    this.collectorKey = deps.collectorKey
  }

  expectEnrollment(msgId: string): void {
    this.enrollIds.add(msgId)
  }

  receive(payload: Buffer): void {
    this.chain = this.chain
      .then(() => this.handle(payload))
      .catch((e: unknown) => {
        this.deps.log.error({ err: e }, 'applying an ack failed; the events stay in the outbox and are replayed')
      })
  }

  /** Resolves when every ack received so far has been applied (tests, shutdown). */
  idle(): Promise<void> {
    return this.chain
  }

  private async handle(payload: Buffer): Promise<void> {
    const { log, counters } = this.deps
    const res = checkAck(payload, this.collectorKey)
    if (!res.ok) {
      if (!this.collectorKey && this.noteEnrollmentRejection(payload)) {
        return
      }
      if (res.forged) {
        counters.forgedAcks++
      } else {
        counters.invalidAcks++
      }
      log.warn({ reason: res.reason, forged: res.forged }, 'ignored a message on the ack topic')
      return
    }
    const body = res.body
    if (!this.collectorKey) {
      const enrollment = body.enrollment
      if (!enrollment || !body.acked.some((id) => this.enrollIds.has(id)) || enrollment.node !== this.deps.node) {
        counters.invalidAcks++
        log.warn({ acked: body.acked.length }, 'ignored an ack that arrived before enrollment and does not complete it')
        return
      }
      this.pinning = true
      try {
        await this.deps.pin(enrollment.collectorPublicKey)
      } finally {
        this.pinning = false
      }
      this.collectorKey = enrollment.collectorPublicKey
      this.enrollIds.clear()
      this.lastAckAt = this.deps.clock.now()
      this.deps.enrolled()
      return
    }
    if (body.enrollment && body.enrollment.collectorPublicKey !== this.collectorKey) {
      log.warn(
        { announced: keyFingerprint(body.enrollment.collectorPublicKey) },
        'ack announces a different collector key; keeping the pinned one',
      )
    }
    this.lastAckAt = this.deps.clock.now()
    if (body.acked.length > 0) {
      counters.acked += await this.deps.outbox.ack(body.acked)
    }
    const rejected = this.deps.batchRejected
      ? body.rejected.filter((r) => !this.deps.batchRejected?.(r))
      : body.rejected
    const permanent = rejected.filter((r) => r.permanent)
    const transient = rejected.filter((r) => !r.permanent)
    if (permanent.length > 0) {
      counters.deadLettered += await this.deps.outbox.deadLetter(
        permanent.map((r) => ({ msgId: r.msgId, code: r.code, reason: r.reason })),
      )
    }
    for (const r of transient) {
      counters.transientRejections++
      log.warn(
        { msgId: r.msgId, code: r.code, reason: r.reason },
        'collector rejected an event for now; it stays in the outbox and is retried',
      )
    }
    this.deps.settled([...body.acked, ...rejected.map((r) => r.msgId)])
    if (transient.length > 0) {
      this.deps.retryLater()
    }
  }

  /** Before a key is pinned, a rejection of our enroll cannot be verified; it is still worth saying why. */
  private noteEnrollmentRejection(payload: Buffer): boolean {
    try {
      const env = decodeEnvelope(payload)
      const body = env.body as { rejected?: Array<{ msgId: string; code: string; reason: string }> }
      const r = env.kind === 'ack' ? body.rejected?.find((x) => this.enrollIds.has(x.msgId)) : undefined
      if (r) {
        this.enrollmentState = 'rejected'
        this.deps.log.error(
          { code: r.code, reason: r.reason, verified: false },
          'collector rejected the enrollment (check the token, or ask an admin to re-enroll this node)',
        )
        return true
      }
    } catch {
      // not even an envelope: counted by the caller
    }
    return false
  }
}
