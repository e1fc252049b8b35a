import type { Envelope } from '@backstop/shared'
import type { KeepBounds } from './keep-bounds.ts'
import { KeepLedger } from './keep-ledger.ts'
import { EMPTY_KEEP_STATE } from './keep-state.ts'
import type {
  Checkpoint,
  CheckpointApplied,
  DeadLetterEntry,
  KeptStats,
  Outbox,
  OutboxRecord,
  OutboxStats,
} from './outbox.ts'
import { PendingIndex, type IndexEntry } from './pending-index.ts'
import { prepareAppend } from './prepare.ts'

export interface DeadLetter extends DeadLetterEntry {
  readonly envelope: Envelope
}

/** The Outbox contract without durability: for tests and for `once` runs that may lose events on a crash. */
export class MemoryOutbox implements Outbox {
  readonly deadLetters: DeadLetter[] = []
  private readonly index = new PendingIndex<Envelope>()
  private nextSeq = 1
  private closed = false
  private readonly keeper: KeepLedger<Envelope> | undefined

  constructor(
    private readonly opts: { readonly maxBytes: number; readonly keep?: KeepBounds; readonly now?: () => number },
  ) {
    const drop = async (entries: readonly IndexEntry<Envelope>[]): Promise<void> => {
      entries.forEach((e) => this.index.remove(e))
    }
    this.keeper = opts.keep
      ? new KeepLedger<Envelope>(
          {
            index: this.index,
            bounds: opts.keep,
            persist: async () => undefined,
            requeue: async (entries) => entries.forEach((e) => this.index.unkeep(e)),
            drop,
            now: opts.now ?? (() => Date.now()),
            log: { warn: () => undefined, error: () => undefined },
          },
          EMPTY_KEEP_STATE,
        )
      : undefined
  }

  async append(build: (seq: number) => Envelope): Promise<OutboxRecord> {
    this.assertOpen()
    const seq = this.nextSeq
    const p = prepareAppend(build, seq, {
      pending: this.index.pending,
      bytes: this.index.bytes,
      maxBytes: this.opts.maxBytes,
      where: 'the in-memory outbox',
    })
    this.nextSeq++
    // Same asynchrony as a durable store: callers never observe the record before append resolves.
    await Promise.resolve()
    this.index.add(seq, p.envelope.msgId, p.bytes, p.envelope, Date.parse(p.envelope.ts) || 0)
    return { seq, msgId: p.envelope.msgId, bytes: p.bytes, envelope: p.envelope }
  }

  async readPending(afterSeq: number, limit: number): Promise<OutboxRecord[]> {
    this.assertOpen()
    return this.index
      .after(afterSeq, limit)
      .map((e) => ({ seq: e.seq, msgId: e.msgId, bytes: e.bytes, envelope: e.loc }))
  }

  async ack(msgIds: Iterable<string>): Promise<number> {
    this.assertOpen()
    let n = 0
    for (const id of msgIds) {
      const e = this.index.get(id)
      if (e && !e.kept) {
        if (this.keeper && e.seq > this.keeper.releasedThrough) {
          this.index.keep(e)
        } else {
          this.index.remove(e)
        }
        n++
      }
    }
    await this.keeper?.releaseBeyondBounds()
    return n
  }

  async applyCheckpoint(cp: Checkpoint, ackedBefore?: number): Promise<CheckpointApplied> {
    this.assertOpen()
    return (await this.keeper?.applyCheckpoint(cp, ackedBefore)) ?? { released: 0, requeued: 0, lost: null }
  }

  async enforceKeepBounds(): Promise<number> {
    return (await this.keeper?.releaseBeyondBounds()) ?? 0
  }

  keptStats(): KeptStats {
    return this.keeper?.stats() ?? { ...EMPTY_KEEP_STATE, kept: 0, keptBytes: 0, oldestKeptAt: null, ackedThrough: 0 }
  }

  async deadLetter(entries: Iterable<DeadLetterEntry>): Promise<number> {
    this.assertOpen()
    let n = 0
    for (const d of entries) {
      const e = this.index.get(d.msgId)
      if (e) {
        this.deadLetters.push({ msgId: d.msgId, code: d.code, reason: d.reason, envelope: e.loc })
        this.index.remove(e)
        n++
      }
    }
    return n
  }

  stats(): OutboxStats {
    return { pending: this.index.pending, bytes: this.index.bytes }
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new Error('outbox is closed')
    }
  }
}
