/**
 * In-memory index of the records an outbox still stores, shared by every Outbox implementation. Records arrive in
 * seq order, so a sorted array with a moving head gives O(1) append, O(log n) positional reads and cheap
 * out-of-order removal (entries are flagged gone; the head skips them, the array is compacted now and then).
 * A record is pending (to send), kept (acknowledged, stored until a collector backup covers it) or gone.
 */
export interface IndexEntry<L> {
  readonly seq: number
  readonly msgId: string
  readonly bytes: number
  readonly loc: L
  /** When the event was made (its envelope ts, epoch ms): what the keep bound `maxAge` measures. */
  readonly at: number
  gone: boolean
  kept: boolean
}

const COMPACT_AFTER = 4096

export class PendingIndex<L> {
  private entries: IndexEntry<L>[] = []
  private head = 0
  private readonly byId = new Map<string, IndexEntry<L>>()
  /** Records to send (neither kept nor gone). */
  pending = 0
  bytes = 0
  /** Acknowledged records still stored. */
  kept = 0
  keptBytes = 0

  add(seq: number, msgId: string, bytes: number, loc: L, at = 0): IndexEntry<L> {
    const last = this.entries[this.entries.length - 1]
    if (last && last.seq >= seq) {
      throw new RangeError(`outbox index: seq ${seq} after ${last.seq}`)
    }
    const e: IndexEntry<L> = { seq, msgId, bytes, loc, at, gone: false, kept: false }
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

  /** Pending → kept (acknowledged, stored on). */
  keep(e: IndexEntry<L>): void {
    if (e.gone || e.kept) {
      return
    }
    e.kept = true
    this.pending--
    this.bytes -= e.bytes
    this.kept++
    this.keptBytes += e.bytes
  }

  /** Kept → pending again (the collector lost it: resend). */
  unkeep(e: IndexEntry<L>): void {
    if (e.gone || !e.kept) {
      return
    }
    e.kept = false
    this.kept--
    this.keptBytes -= e.bytes
    this.pending++
    this.bytes += e.bytes
  }

  remove(e: IndexEntry<L>): void {
    if (e.gone) {
      return
    }
    e.gone = true
    this.byId.delete(e.msgId)
    if (e.kept) {
      this.kept--
      this.keptBytes -= e.bytes
    } else {
      this.pending--
      this.bytes -= e.bytes
    }
    while (this.head < this.entries.length && (this.entries[this.head] as IndexEntry<L>).gone) {
      this.head++
    }
    if (this.head > COMPACT_AFTER && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
  }

  /** Pending entries with seq > afterSeq, in order, at most `limit`. */
  after(afterSeq: number, limit: number): IndexEntry<L>[] {
    const out: IndexEntry<L>[] = []
    for (let i = this.firstAfter(afterSeq); i < this.entries.length && out.length < limit; i++) {
      const e = this.entries[i] as IndexEntry<L>
      if (!e.gone && !e.kept) {
        out.push(e)
      }
    }
    return out
  }

  /** Kept entries in seq order (optionally only those with seq in (afterSeq, throughSeq]). */
  keptEntries(afterSeq = 0, throughSeq = Number.MAX_SAFE_INTEGER): IndexEntry<L>[] {
    const out: IndexEntry<L>[] = []
    for (let i = this.firstAfter(afterSeq); i < this.entries.length; i++) {
      const e = this.entries[i] as IndexEntry<L>
      if (e.seq > throughSeq) {
        break
      }
      if (!e.gone && e.kept) {
        out.push(e)
      }
    }
    return out
  }

  /** The kept entry with the lowest seq (the oldest), without listing them all. */
  firstKept(): IndexEntry<L> | undefined {
    for (let i = this.head; i < this.entries.length && this.kept > 0; i++) {
      const e = this.entries[i] as IndexEntry<L>
      if (!e.gone && e.kept) {
        return e
      }
    }
    return undefined
  }

  /** The kept entry with the highest seq. */
  lastKept(): IndexEntry<L> | undefined {
    for (let i = this.entries.length - 1; i >= this.head && this.kept > 0; i--) {
      const e = this.entries[i] as IndexEntry<L>
      if (!e.gone && e.kept) {
        return e
      }
    }
    return undefined
  }

  /** Every seq at or below this is gone (given `lastSeq`, the highest seq ever assigned). */
  lowWater(lastSeq: number): number {
    const e = this.entries[this.head]
    return e ? e.seq - 1 : lastSeq
  }

  /** Seqs above the low-water mark that are already gone (what an ack log must still remember). */
  goneAboveLowWater(): number[] {
    return this.entries
      .slice(this.head)
      .filter((e) => e.gone)
      .map((e) => e.seq)
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
