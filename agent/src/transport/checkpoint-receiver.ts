import type { Log } from '../log.ts'
import type { Outbox } from '../outbox/outbox.ts'
import type { TransportCounters } from './transport-options.ts'
import { checkCheckpoint } from './wire.ts'

export interface CheckpointReceiverDeps {
  readonly node: string
  readonly outbox: Outbox
  readonly log: Log
  readonly counters: TransportCounters
  /** The pinned collector key, or null before enrollment. */
  readonly collectorKey: () => string | null
  /** Kept events became pending again (the collector was restored): resend from the oldest. */
  readonly replay: (why: string) => void
}

/**
 * Applies the collector's checkpoints (docs/reliability.md "Checkpoints"), one at a time: verified against the
 * pinned key, then handed to the outbox, which releases what the backup covers. Only a checkpoint published live
 * in this connection may make it resend: the collector publishes one, with its high-water mark fresh, each time
 * the node subscribes, while the retained copy delivered on subscribe may be hours old. A fresh high-water mark
 * below what the outbox had acknowledged before this connection means the collector was restored from a backup.
 */
export class CheckpointReceiver {
  private chain: Promise<void> = Promise.resolve()
  /** stats().ackedThrough when this connection started (undefined before the first). */
  private ackedBefore: number | undefined

  constructor(private readonly d: CheckpointReceiverDeps) {}

  /** A new connection: everything acknowledged so far was acknowledged by the collector as it was before it. */
  connected(): void {
    this.chain = this.chain.then(() => {
      this.ackedBefore = this.d.outbox.keptStats().ackedThrough
    })
  }

  receive(payload: Buffer, retained: boolean): void {
    this.chain = this.chain
      .then(() => this.handle(payload, retained))
      .catch((e: unknown) => {
        this.d.log.error({ err: e }, 'applying a checkpoint failed; kept events stay until the next one')
      })
  }

  idle(): Promise<void> {
    return this.chain
  }

  private async handle(payload: Buffer, retained: boolean): Promise<void> {
    const { counters, log } = this.d
    const res = checkCheckpoint(payload, this.d.node, this.d.collectorKey())
    if (!res.ok) {
      if (res.forged) {
        counters.forgedCheckpoints++
      }
      log.warn({ reason: res.reason, forged: res.forged }, 'ignored a message on the checkpoint topic')
      return
    }
    counters.checkpoints++
    const r = await this.d.outbox.applyCheckpoint(res.body, retained ? undefined : this.ackedBefore)
    log.info({ ...res.body, retained, ...r }, 'applied the collector checkpoint')
    if (r.requeued > 0) {
      this.d.replay(
        `the collector holds seq ${res.body.collectorHighWater}, less than it acknowledged (restored from a ` +
          `backup): resending ${r.requeued} kept event(s) after seq ${res.body.coveredSeq}`,
      )
    }
  }
}
