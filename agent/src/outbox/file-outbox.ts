import { unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { fsyncDir, mkdirData, openDataFile, writeFileDurable } from '@backstop/node-io'
import { BackstopError, type Envelope } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { Log } from '../log.ts'
import { goneRecord, keptRecord, requeuedRecord } from './ack-record.ts'
import { encodeFrame } from './frame.ts'
import { appendDeadLetters, DEAD_LETTER_FILE } from './dead-letter.ts'
import { appendDurably, ioError } from './fs-util.ts'
import type { KeepBounds } from './keep-bounds.ts'
import { KeepLedger } from './keep-ledger.ts'
import { EMPTY_KEEP_STATE, KEEP_STATE_FILE, readKeepState, writeKeepState } from './keep-state.ts'
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
import { recoverFiles } from './recover-files.ts'
import { acquireLock, CHECKPOINT_FILE } from './recovery.ts'
import { openSegment, readEnvelopes, SEGMENT_NAME, type Loc, type Segment } from './segment.ts'

export interface FileOutboxOptions {
  /** `<stateDir>/outbox` (config.outbox.dir). Created 0700. */
  readonly dir: string
  /** config.outbox.maxBytes: bound on unacknowledged records. */
  readonly maxBytes: number
  readonly log: Log
  /** Timestamps in the dead-letter file. */
  readonly clock: Clock
  /** A new segment starts once the active one is this big. Default 8 MiB. */
  readonly segmentBytes?: number
  /** The ack log is rewritten (and the low-water checkpoint saved) past this size. Default 1 MiB. */
  readonly ackLogCompactBytes?: number
  /**
   * Keep acknowledged records until a collector checkpoint covers them, within these bounds (agent config
   * `outbox.keep`, docs/reliability.md). Absent: acknowledged records are removed at once.
   */
  readonly keep?: KeepBounds
  /** After the kept records or the keep state changed (the runtime reports `outbox.retention`). */
  readonly onKeepChange?: () => void
}

interface Queued {
  readonly seq: number
  readonly envelope: Envelope
  readonly frame: Buffer
  readonly resolve: (r: OutboxRecord) => void
  readonly reject: (e: unknown) => void
}

const ACK_LOG = 'acks.log'

/**
 * Durable outbox on plain files (the Kafka/NATS-JetStream log shape, tiny):
 *   seg-<firstSeq>.log  append-only records `[u32 len][u32 crc32][envelope JSON]`, fdatasync'd before append resolves
 *   acks.log            append-only records of acknowledged seqs (same framing), so out-of-order acks survive a restart
 *   acks.log            …also `{"kept":[seqs]}`: acknowledged, kept until a collector checkpoint covers them,
 *                       and `{"requeued":[seqs]}`: kept, pending again because a restored collector lacks them
 *   checkpoint.json     low-water mark (every seq ≤ it is gone), written atomically when acks.log is compacted
 *   keep.json           the collector checkpoint applied and how far kept records are released (keep-state.ts)
 *   dead-letter.jsonl   permanently rejected events with the collector's reason
 * Appends that arrive in the same tick share one write + fdatasync (group commit). Every file operation runs on
 * one serial chain, so a read never sees a segment that an ack is deleting.
 */
export class FileOutbox implements Outbox {
  private readonly index = new PendingIndex<Loc>()
  private readonly segments: Segment[] = []
  private readonly segmentBytes: number
  private readonly ackLogCompactBytes: number
  private ackFh: FileHandle | undefined
  private ackLogSize = 0
  private nextSeq = 1
  private lastDurableSeq = 0
  private queue: Queued[] = []
  private queuedBytes = 0
  private flushScheduled = false
  private chain: Promise<unknown> = Promise.resolve()
  private closed = false
  private flushes = 0
  private unlock: () => Promise<void> = async () => undefined
  private poisoned: BackstopError | undefined
  /** Set when `keep` is configured (after recovery read keep.json). */
  private keeper: KeepLedger<Loc> | undefined

  private constructor(private readonly opts: FileOutboxOptions) {
    this.segmentBytes = opts.segmentBytes ?? 8 * 1024 * 1024
    this.ackLogCompactBytes = opts.ackLogCompactBytes ?? 1024 * 1024
  }

  /** Opens (creating if needed) and recovers: torn tails are truncated, unacknowledged records re-indexed. */
  static async open(opts: FileOutboxOptions): Promise<FileOutbox> {
    const o = new FileOutbox(opts)
    await mkdirData(opts.dir)
    o.unlock = await acquireLock(opts.dir, opts.log)
    try {
      await o.recover()
    } catch (e) {
      await o.unlock()
      throw e
    }
    return o
  }

  append(build: (seq: number) => Envelope): Promise<OutboxRecord> {
    if (this.closed) {
      return Promise.reject(new Error(`outbox ${this.opts.dir} is closed`))
    }
    const seq = this.nextSeq
    let p
    try {
      p = prepareAppend(build, seq, {
        pending: this.index.pending + this.queue.length,
        bytes: this.index.bytes + this.queuedBytes,
        maxBytes: this.opts.maxBytes,
        where: `the outbox ${this.opts.dir}`,
      })
    } catch (e) {
      return Promise.reject(e)
    }
    this.nextSeq++
    this.queuedBytes += p.bytes
    const envelope = p.envelope
    const frame = encodeFrame(p.payload)
    const done = new Promise<OutboxRecord>((resolve, reject) => {
      this.queue.push({ seq, envelope, frame, resolve, reject })
    })
    if (!this.flushScheduled) {
      this.flushScheduled = true
      // Group commit: everything appended until the event loop turns goes out in one write + fdatasync.
      setImmediate(() => {
        this.flushScheduled = false
        void this.serial(() => this.flush())
      })
    }
    return done
  }

  readPending(afterSeq: number, limit: number): Promise<OutboxRecord[]> {
    return this.serial(async () => {
      this.assertOpen()
      const entries = this.index.after(afterSeq, limit)
      const envelopes = await readEnvelopes(entries)
      return entries.map((e, i) => ({ seq: e.seq, msgId: e.msgId, bytes: e.bytes, envelope: envelopes[i] as Envelope }))
    })
  }

  ack(msgIds: Iterable<string>): Promise<number> {
    const ids = [...msgIds]
    return this.serial(async () => {
      this.assertOpen()
      const found = this.lookup(ids).filter((e) => !e.kept)
      const keeper = this.keeper
      if (!keeper) {
        return this.removeDurably(found)
      }
      // Covered already (a checkpoint passed them before their ack arrived): nothing to keep them for.
      await this.removeDurably(found.filter((e) => e.seq <= keeper.releasedThrough))
      await this.markDurably(
        found.filter((e) => e.seq > keeper.releasedThrough),
        true,
      )
      await keeper.releaseBeyondBounds()
      this.keepChanged()
      return found.length
    })
  }

  applyCheckpoint(cp: Checkpoint, ackedBefore?: number): Promise<CheckpointApplied> {
    return this.serial(async () => {
      this.assertOpen()
      if (!this.keeper) {
        return { released: 0, requeued: 0, lost: null }
      }
      const r = await this.keeper.applyCheckpoint(cp, ackedBefore)
      this.keepChanged()
      return r
    })
  }

  enforceKeepBounds(): Promise<number> {
    return this.serial(async () => {
      this.assertOpen()
      const n = (await this.keeper?.releaseBeyondBounds()) ?? 0
      if (n > 0) {
        this.keepChanged()
      }
      return n
    })
  }

  keptStats(): KeptStats {
    return this.keeper?.stats() ?? { ...EMPTY_KEEP_STATE, kept: 0, keptBytes: 0, oldestKeptAt: null, ackedThrough: 0 }
  }

  deadLetter(entries: Iterable<DeadLetterEntry>): Promise<number> {
    const list = [...entries]
    return this.serial(async () => {
      this.assertOpen()
      const found = this.lookup(list.map((d) => d.msgId))
      if (found.length === 0) {
        return 0
      }
      const byId = new Map(list.map((d) => [d.msgId, d]))
      const envelopes = await readEnvelopes(found)
      await appendDeadLetters(
        this.opts.dir,
        this.opts.clock.now(),
        found.map((e, i) => {
          const d = byId.get(e.msgId) as DeadLetterEntry
          this.opts.log.error(
            { msgId: e.msgId, seq: e.seq, code: d.code, reason: d.reason },
            'collector rejected event permanently; moved to dead-letter',
          )
          return { ...d, seq: e.seq, envelope: envelopes[i] as Envelope }
        }),
      )
      return this.removeDurably(found)
    })
  }

  stats(): OutboxStats {
    return { pending: this.index.pending, bytes: this.index.bytes }
  }

  /** Internals for tests and `status`: how many segment files, group-commit flushes, ack-log bytes. */
  diagnostics(): { segments: number; flushes: number; ackLogBytes: number; nextSeq: number } {
    return {
      segments: this.segments.length,
      flushes: this.flushes,
      ackLogBytes: this.ackLogSize,
      nextSeq: this.nextSeq,
    }
  }

  close(): Promise<void> {
    if (this.closed) {
      return this.chain.then(() => undefined)
    }
    this.closed = true
    return this.serial(async () => {
      await this.flush()
      for (const s of this.segments) {
        await s.fh.close()
      }
      await this.ackFh?.close()
      await this.unlock()
    })
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn)
    this.chain = p.catch(() => undefined)
    return p
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new Error(`outbox ${this.opts.dir} is closed`)
    }
  }

  private lookup(ids: string[]): IndexEntry<Loc>[] {
    const out = new Map<string, IndexEntry<Loc>>()
    for (const id of ids) {
      const e = this.index.get(id)
      if (e) {
        out.set(id, e)
      }
    }
    return [...out.values()]
  }

  private async flush(): Promise<void> {
    const batch = this.queue
    this.queue = []
    if (batch.length === 0) {
      return
    }
    const buf = Buffer.concat(batch.map((b) => b.frame))
    this.queuedBytes -= buf.length
    if (this.poisoned) {
      const err = this.poisoned
      batch.forEach((b) => b.reject(err))
      return
    }
    let seg: Segment
    try {
      seg = await this.activeSegmentFor((batch[0] as Queued).seq)
    } catch (e) {
      const err = ioError(e, `starting a new outbox segment for seq ${(batch[0] as Queued).seq}`, this.opts.dir)
      batch.forEach((b) => b.reject(err))
      return
    }
    const offset = seg.size
    try {
      await appendDurably(seg.fh, buf)
    } catch (e) {
      // Roll back a partial write so the file still ends on a complete record.
      await seg.fh
        .truncate(offset)
        .then(() => seg.fh.datasync())
        .catch((te: unknown) => {
          // Appending after a partial record would put every later record behind a tail that recovery cuts off.
          this.poisoned = new BackstopError(
            'BK_ERR_OUTBOX_CORRUPT',
            `${seg.path} could not be rolled back to ${offset} bytes after a failed write ` +
              `(${(te as Error).message}); restart the agent: recovery truncates the partial record and ` +
              'keeps everything before it',
          )
          this.opts.log.error(
            { err: te, file: seg.path },
            'outbox: rolling back a failed write failed; refusing appends until restart',
          )
        })
      const err = ioError(e, `appending ${batch.length} event(s) (${buf.length} bytes) to ${seg.path}`, this.opts.dir)
      batch.forEach((b) => b.reject(err))
      return
    }
    this.flushes++
    seg.size += buf.length
    let off = offset
    for (const b of batch) {
      this.index.add(b.seq, b.envelope.msgId, b.frame.length, { seg, offset: off }, Date.parse(b.envelope.ts) || 0)
      off += b.frame.length
      seg.live++
      seg.lastSeq = b.seq
      this.lastDurableSeq = b.seq
      b.resolve({ seq: b.seq, msgId: b.envelope.msgId, bytes: b.frame.length, envelope: b.envelope })
    }
  }

  private async activeSegmentFor(firstSeq: number): Promise<Segment> {
    const active = this.segments[this.segments.length - 1]
    if (active && active.size < this.segmentBytes) {
      return active
    }
    const seg = await openSegment(this.opts.dir, firstSeq, true)
    this.segments.push(seg)
    await fsyncDir(this.opts.dir)
    if (active && active.live === 0) {
      await this.deleteSegments([active])
    }
    return seg
  }

  /** Persists the removal in the ack log first, then drops the records and deletes emptied segments. */
  private async removeDurably(entries: IndexEntry<Loc>[]): Promise<number> {
    if (entries.length === 0) {
      return 0
    }
    await this.appendAckRecord(goneRecord(entries.map((e) => e.seq)), entries.length)
    await this.drop(entries)
    await this.compactIfDue()
    return entries.length
  }

  /** One record at the end of acks.log, fdatasync'd; a failed write is cut off again so the log ends whole. */
  private async appendAckRecord(frame: Buffer, count: number): Promise<void> {
    const fh = this.ackFh as FileHandle
    try {
      await appendDurably(fh, frame)
    } catch (e) {
      await fh.truncate(this.ackLogSize).catch(() => undefined)
      throw ioError(e, `recording ${count} acknowledgement(s) in ${ACK_LOG}`, this.opts.dir)
    }
    this.ackLogSize += frame.length
  }

  private async compactIfDue(): Promise<void> {
    if (this.ackLogSize > this.ackLogCompactBytes) {
      await this.compactAckLog()
    }
  }

  /** Drops records from the index and deletes the segments this empties (their removal is already durable). */
  private async drop(entries: readonly IndexEntry<Loc>[]): Promise<void> {
    const emptied: Segment[] = []
    for (const e of entries) {
      this.index.remove(e)
      const seg = e.loc.seg
      if (--seg.live === 0 && seg !== this.segments[this.segments.length - 1]) {
        emptied.push(seg)
      }
    }
    await this.deleteSegments(emptied)
  }

  /**
   * Records `{"kept":[…]}` (acknowledged) or `{"requeued":[…]}` (a restored collector lacks them) in the ack log,
   * then marks the records kept or pending again.
   */
  private async markDurably(entries: readonly IndexEntry<Loc>[], kept: boolean): Promise<void> {
    if (entries.length === 0) {
      return
    }
    const seqs = entries.map((e) => e.seq)
    await this.appendAckRecord(kept ? keptRecord(seqs) : requeuedRecord(seqs), entries.length)
    entries.forEach((e) => (kept ? this.index.keep(e) : this.index.unkeep(e)))
    await this.compactIfDue()
  }

  private keepChanged(): void {
    const cb = this.opts.onKeepChange
    if (cb) {
      // Not inside the serial chain: the callback appends an event, whose flush queues behind this step.
      setImmediate(cb)
    }
  }

  private async deleteSegments(segs: Segment[]): Promise<void> {
    if (segs.length === 0) {
      return
    }
    for (const s of segs) {
      await s.fh.close()
      await unlink(s.path)
      this.segments.splice(this.segments.indexOf(s), 1)
    }
    await fsyncDir(this.opts.dir)
  }

  /** Checkpoint the low-water mark atomically, then rewrite acks.log with only the acks above it. */
  private async compactAckLog(): Promise<void> {
    const lowWater = this.index.lowWater(this.lastDurableSeq)
    await writeFileDurable(join(this.opts.dir, CHECKPOINT_FILE), `${JSON.stringify({ lowWater })}\n`)
    const above = this.index.goneAboveLowWater()
    const kept = this.index.keptEntries().map((e) => e.seq)
    const content = Buffer.concat([
      above.length > 0 ? goneRecord(above) : Buffer.alloc(0),
      kept.length > 0 ? keptRecord(kept) : Buffer.alloc(0),
    ])
    await writeFileDurable(join(this.opts.dir, ACK_LOG), content)
    await this.ackFh?.close()
    this.ackFh = await openDataFile(join(this.opts.dir, ACK_LOG), 'a')
    this.ackLogSize = content.length
  }

  private async recover(): Promise<void> {
    const { dir, log } = this.opts
    const keep = this.opts.keep
    const state = keep ? await readKeepState(dir) : EMPTY_KEEP_STATE
    // Without keep, records kept while it was on are released: nothing would ever release them otherwise.
    const releasedThrough = keep ? state.releasedThrough : Number.MAX_SAFE_INTEGER
    const r = await recoverFiles(dir, ACK_LOG, this.index, releasedThrough, log)
    this.segments.push(...r.segments)
    this.ackFh = r.ackFh
    this.ackLogSize = r.ackLogSize
    this.nextSeq = r.lastSeq + 1
    this.lastDurableSeq = r.lastSeq
    if (keep) {
      this.keeper = new KeepLedger<Loc>(
        {
          index: this.index,
          bounds: keep,
          persist: (s) => writeKeepState(dir, s),
          requeue: (entries) => this.markDurably(entries, false),
          drop: (entries) => this.drop(entries),
          now: () => this.opts.clock.now().getTime(),
          log,
        },
        state,
      )
    }
    const last = this.segments[this.segments.length - 1]
    await this.deleteSegments(this.segments.filter((s) => s.live === 0 && s !== last))
    if (!last) {
      this.segments.push(await openSegment(this.opts.dir, this.nextSeq, true))
      await fsyncDir(dir)
    }
    log.info(
      {
        dir,
        pending: this.index.pending,
        bytes: this.index.bytes,
        kept: this.index.kept,
        segments: this.segments.length,
        nextSeq: this.nextSeq,
      },
      'outbox opened',
    )
  }
}

// Re-exported for tests that corrupt files on purpose.
export const outboxFiles = {
  ackLog: ACK_LOG,
  checkpoint: CHECKPOINT_FILE,
  keepState: KEEP_STATE_FILE,
  deadLetter: DEAD_LETTER_FILE,
  segmentPattern: SEGMENT_NAME,
}
