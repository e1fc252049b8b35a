import { randomUUID } from 'node:crypto'
import { MAX_BATCH_BYTES, MAX_BATCH_EVENTS } from '@backstop/shared'
import type { OutboxRecord } from '../outbox/outbox.ts'
import type { NodeSigner } from './signer.ts'

/** One MQTT publish: a record alone (exactly as before batches existed), or a signed batch of consecutive records. */
export interface WireOut {
  readonly payload: string
  readonly records: readonly OutboxRecord[]
  /** The batch's own msgId (never an outbox record); absent for a single record. */
  readonly batchId?: string
}

export interface PackOptions {
  readonly node: string
  readonly signer: NodeSigner
  readonly now: Date
  /** Records with seq ≤ this go alone: a batch holding them was rejected as a whole, so each gets its own verdict. */
  readonly singlesThrough: number
  readonly maxEvents?: number
  readonly maxBytes?: number
}

/** Room for the batch's own fields (`v`, kind, node, msgId, ts, sig, JSON punctuation): well under 1 KiB. */
const BATCH_OVERHEAD = 1024

/**
 * Packs records (already in seq order) into wire messages, keeping that order: runs of two or more become one
 * batch signed once (docs/protocol.md "Batches"), up to MAX_BATCH_EVENTS and MAX_BATCH_BYTES; a record that does
 * not fit a batch, or sits under `singlesThrough`, or is the only one pending, goes alone.
 */
export function packRecords(recs: readonly OutboxRecord[], o: PackOptions): WireOut[] {
  const maxEvents = o.maxEvents ?? MAX_BATCH_EVENTS
  const maxBytes = (o.maxBytes ?? MAX_BATCH_BYTES) - BATCH_OVERHEAD
  const out: WireOut[] = []
  let run: OutboxRecord[] = []
  let texts: string[] = []
  let bytes = 0
  const close = (): void => {
    if (run.length === 1) {
      out.push({ payload: texts[0] as string, records: run })
    } else if (run.length > 1) {
      const batch = o.signer.signBatch({
        v: 1,
        kind: 'batch',
        node: o.node,
        msgId: `batch-${randomUUID()}`,
        ts: o.now.toISOString(),
        body: { events: run.map((r) => r.envelope) },
      })
      out.push({ payload: JSON.stringify(batch), records: run, batchId: batch.msgId })
    }
    run = []
    texts = []
    bytes = 0
  }
  for (const r of recs) {
    const text = JSON.stringify(r.envelope)
    const size = Buffer.byteLength(text, 'utf8') + 1
    if (r.seq <= o.singlesThrough || size > maxBytes) {
      close()
      out.push({ payload: text, records: [r] })
      continue
    }
    if (run.length >= maxEvents || bytes + size > maxBytes) {
      close()
    }
    run.push(r)
    texts.push(text)
    bytes += size
  }
  close()
  return out
}

/**
 * The batches in flight, by batch msgId: the collector acks a batch's events by their own msgIds, and names the
 * batch msgId only when it rejects the batch as a whole (bad signature, malformed, another node's event …).
 */
export class BatchesInFlight {
  private readonly byId = new Map<string, { readonly ids: readonly string[]; readonly maxSeq: number }>()

  add(w: WireOut): void {
    if (w.batchId) {
      this.byId.set(w.batchId, {
        ids: w.records.map((r) => r.msgId),
        maxSeq: w.records[w.records.length - 1]?.seq ?? 0,
      })
    }
  }

  /** Removes and returns the batch, if `msgId` names one in flight. */
  take(msgId: string): { readonly ids: readonly string[]; readonly maxSeq: number } | undefined {
    const b = this.byId.get(msgId)
    this.byId.delete(msgId)
    return b
  }

  /** Forgets batches none of whose events are in flight any more (acks arrive roughly in order: look at the oldest). */
  prune(inflight: ReadonlyMap<string, unknown>): void {
    for (const [id, b] of this.byId) {
      if (b.ids.some((x) => inflight.has(x))) {
        return
      }
      this.byId.delete(id)
    }
  }

  clear(): void {
    this.byId.clear()
  }

  get size(): number {
    return this.byId.size
  }
}
