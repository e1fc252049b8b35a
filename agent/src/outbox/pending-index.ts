/**
 * In-memory index of unacknowledged records, shared by every Outbox implementation. Records arrive in seq
 * order, so a sorted array with a moving head gives O(1) append, O(log n) positional reads and cheap
 * out-of-order removal (entries are flagged gone; the head skips them, the array is compacted now and then).
 */
export interface IndexEntry<L> {
  readonly seq: number
  readonly msgId: string
  readonly bytes: number
  readonly loc: L
  gone: boolean
}

const COMPACT_AFTER = 4096

export class PendingIndex<L> {
  private entries: IndexEntry<L>[] = []
  private head = 0
  private readonly byId = new Map<string, IndexEntry<L>>()
  pending = 0
  bytes = 0

  add(seq: number, msgId: string, bytes: number, loc: L): IndexEntry<L> {
    const last = this.entries[this.entries.length - 1]
    if (last && last.seq >= seq) {
      throw new RangeError(`outbox index: seq ${seq} after ${last.seq}`)
    }
    const e: IndexEntry<L> = { seq, msgId, bytes, loc, gone: false }
    this.entries.push(e)
    this.byId.set(msgId, e)
    this.pending++
    this.bytes += bytes
    return e
  }

  get(msgId: string): IndexEntry<L> | undefined {
    return this.byId.get(msgId)
  }

  bySeq(seq: number): IndexEntry<L> | undefined {
    const i = this.firstAfter(seq - 1)
    const e = this.entries[i]
    return e && e.seq === seq && !e.gone ? e : undefined
  }

  remove(e: IndexEntry<L>): void {
    if (e.gone) {
      return
    }
    e.gone = true
    this.byId.delete(e.msgId)
    this.pending--
    this.bytes -= e.bytes
    while (this.head < this.entries.length && (this.entries[this.head] as IndexEntry<L>).gone) {
      this.head++
    }
    if (this.head > COMPACT_AFTER && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
  }

  /** Live entries with seq > afterSeq, in order, at most `limit`. */
  after(afterSeq: number, limit: number): IndexEntry<L>[] {
    const out: IndexEntry<L>[] = []
    for (let i = this.firstAfter(afterSeq); i < this.entries.length && out.length < limit; i++) {
      const e = this.entries[i] as IndexEntry<L>
      if (!e.gone) {
        out.push(e)
      }
    }
    return out
  }

  /** Every seq at or below this is acknowledged (given `lastSeq`, the highest seq ever assigned). */
  lowWater(lastSeq: number): number {
    const e = this.entries[this.head]
    return e ? e.seq - 1 : lastSeq
  }

  /** Seqs above the low-water mark that are already gone (what an ack log must still remember). */
  goneAboveLowWater(): number[] {
    const out: number[] = []
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as IndexEntry<L>
      if (e.gone) {
        out.push(e.seq)
      }
    }
    return out
  }

  private firstAfter(seq: number): number {
    let lo = this.head
    let hi = this.entries.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.entries[mid] as IndexEntry<L>).seq <= seq) {
        lo = mid + 1
      } else {
        hi = mid
      }
    }
    return lo
  }
}
