import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseAckRecord } from './ack-record.ts'
import { scanFrames } from './frame.ts'
import { readCheckpoint } from './recovery.ts'
import { SEGMENT_NAME } from './segment.ts'

export interface OutboxInspection {
  readonly pending: number
  readonly bytes: number
  readonly segments: number
  /** Oldest unacknowledged seq, or null when nothing is pending. */
  readonly oldestSeq: number | null
  /** Bytes after the last intact record (a torn tail the owner will truncate on its next start). */
  readonly tornBytes: number
}

/**
 * Read-only numbers for `status` while an agent may own the outbox: no lock, no repair, no writes. A record
 * being written right now may show up as `tornBytes`; the count is a snapshot, exact once the writer is idle.
 */
export async function inspectOutbox(dir: string): Promise<OutboxInspection> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return { pending: 0, bytes: 0, segments: 0, oldestSeq: null, tornBytes: 0 }
    }
    throw e
  }
  const lowWater = await readCheckpoint(dir)
  const acked = new Set<number>()
  const ackBuf = await readFile(join(dir, 'acks.log')).catch(() => Buffer.alloc(0))
  for (const f of scanFrames(ackBuf).frames) {
    // Kept records are acknowledged too: not pending, whether or not a checkpoint released them yet.
    const rec = parseAckRecord(f.payload)
    if (rec.problem !== undefined) {
      break
    }
    rec.seqs.forEach((seq) => (rec.kind === 'requeued' ? acked.delete(seq) : acked.add(seq)))
  }
  let pending = 0
  let bytes = 0
  let oldestSeq: number | null = null
  let tornBytes = 0
  const segs = names.filter((n) => SEGMENT_NAME.test(n)).sort()
  for (const name of segs) {
    const buf = await readFile(join(dir, name)).catch(() => Buffer.alloc(0))
    const scan = scanFrames(buf)
    tornBytes += buf.length - scan.goodEnd
    for (const f of scan.frames) {
      let seq: number
      try {
        seq = (JSON.parse(f.payload.toString('utf8')) as { seq: number }).seq
      } catch {
        continue
      }
      if (seq > lowWater && !acked.has(seq)) {
        pending++
        bytes += f.length
        oldestSeq ??= seq
      }
    }
  }
  return { pending, bytes, segments: segs.length, oldestSeq, tornBytes }
}
