import { readdir, unlink, type FileHandle } from 'node:fs/promises'
import { openDataFile } from '@backstop/node-io'
import { join } from 'node:path'
import type { Log } from '../log.ts'
import { parseAckRecord } from './ack-record.ts'
import type { PendingIndex } from './pending-index.ts'
import { readCheckpoint, scanAndRepair } from './recovery.ts'
import { openSegment, SEGMENT_NAME, type Loc, type Segment } from './segment.ts'

export interface RecoveredFiles {
  readonly segments: Segment[]
  readonly ackFh: FileHandle
  readonly ackLogSize: number
  /** The highest seq ever assigned (the next append gets one more). */
  readonly lastSeq: number
}

/**
 * Rebuilds `index` from the files of an outbox directory: leftover temp files removed, torn tails truncated, every
 * record above the low-water mark indexed, then the ack log applied — gone records dropped, kept ones marked kept
 * (or dropped when `releasedThrough` already covers them), requeued ones pending again. The caller deletes
 * segments left without live records.
 */
export async function recoverFiles(
  dir: string,
  ackLogName: string,
  index: PendingIndex<Loc>,
  releasedThrough: number,
  log: Log,
): Promise<RecoveredFiles> {
  const names = await readdir(dir)
  for (const n of names.filter((n) => n.endsWith('.tmp'))) {
    await unlink(join(dir, n))
  }
  const lowWater = await readCheckpoint(dir)
  const segNames = names.filter((n) => SEGMENT_NAME.test(n)).sort()
  const segments: Segment[] = []
  for (const [i, name] of segNames.entries()) {
    const firstSeq = Number((SEGMENT_NAME.exec(name) as RegExpExecArray)[1])
    const isLast = i === segNames.length - 1
    const seg = await openSegment(dir, firstSeq, isLast)
    segments.push(seg)
    const metas: { seq: number; msgId: string; at: number }[] = []
    let prev = firstSeq - 1
    const scan = await scanAndRepair(
      seg.path,
      (payload) => {
        let v: { seq?: unknown; msgId?: unknown; ts?: unknown }
        try {
          v = JSON.parse(payload.toString('utf8')) as typeof v
        } catch {
          return 'record is not JSON'
        }
        if (typeof v.seq !== 'number' || v.seq <= prev || typeof v.msgId !== 'string') {
          return `record seq ${String(v.seq)} does not follow seq ${prev}`
        }
        prev = v.seq
        metas.push({ seq: v.seq, msgId: v.msgId, at: typeof v.ts === 'string' ? Date.parse(v.ts) || 0 : 0 })
        return null
      },
      isLast,
      log,
    )
    seg.size = scan.goodEnd
    scan.frames.forEach((f, k) => {
      const m = metas[k] as { seq: number; msgId: string; at: number }
      seg.lastSeq = m.seq
      if (m.seq > lowWater) {
        index.add(m.seq, m.msgId, f.length, { seg, offset: f.offset }, m.at)
        seg.live++
      }
    })
  }
  const ackPath = join(dir, ackLogName)
  const acks = await scanAndRepair(ackPath, (p) => parseAckRecord(p).problem ?? null, true, log)
  for (const f of acks.frames) {
    const rec = parseAckRecord(f.payload)
    for (const seq of rec.seqs) {
      const e = index.bySeq(seq)
      if (!e) {
        continue
      }
      if (rec.kind === 'requeued') {
        index.unkeep(e)
      } else if (rec.kind === 'kept' && seq > releasedThrough) {
        index.keep(e)
      } else {
        index.remove(e)
        e.loc.seg.live--
      }
    }
  }
  const last = segments[segments.length - 1]
  return {
    segments,
    ackFh: await openDataFile(ackPath, 'a'),
    ackLogSize: acks.goodEnd,
    lastSeq: Math.max(lowWater, last?.lastSeq ?? 0),
  }
}
