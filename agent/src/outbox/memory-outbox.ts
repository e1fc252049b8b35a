import type { Envelope } from '@backstop/shared'
import type { DeadLetterEntry, Outbox, OutboxRecord, OutboxStats } from './outbox.ts'
import { PendingIndex } from './pending-index.ts'
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

  constructor(private readonly opts: { readonly maxBytes: number }) {}

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
    this.index.add(seq, p.envelope.msgId, p.bytes, p.envelope)
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
      if (e) {
        this.index.remove(e)
        n++
      }
    }
    return n
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
