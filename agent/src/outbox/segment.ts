import { open, type FileHandle } from 'node:fs/promises'
import { openDataFile } from '@backstop/node-io'
import { join } from 'node:path'
import { BackstopError, type Envelope } from '@backstop/shared'
import { crc32 } from './crc32.ts'
import { FRAME_HEADER_BYTES } from './frame.ts'
import type { IndexEntry } from './pending-index.ts'

/** One append-only segment file `seg-<firstSeq, 16 digits>.log`. */
export interface Segment {
  readonly firstSeq: number
  readonly path: string
  readonly fh: FileHandle
  lastSeq: number
  size: number
  /** Records in it not yet acknowledged; a segment that is not the active one is deleted at 0. */
  live: number
}

/** Where a record lives: the index keeps only this, payloads stay on disk until they are read. */
export interface Loc {
  readonly seg: Segment
  readonly offset: number
}

export const SEGMENT_NAME = /^seg-(\d{16})\.log$/

export async function openSegment(dir: string, firstSeq: number, writable: boolean): Promise<Segment> {
  const path = join(dir, `seg-${String(firstSeq).padStart(16, '0')}.log`)
  const fh = writable ? await openDataFile(path, 'a+') : await open(path, 'r')
  return { firstSeq, path, fh, lastSeq: firstSeq - 1, size: 0, live: 0 }
}

/** Reads the envelopes of `entries` (in order), one positional read per run of adjacent records. */
export async function readEnvelopes(entries: readonly IndexEntry<Loc>[]): Promise<Envelope[]> {
  const out: Envelope[] = []
  let i = 0
  while (i < entries.length) {
    const first = entries[i] as IndexEntry<Loc>
    let j = i + 1
    let end = first.loc.offset + first.bytes
    while (j < entries.length) {
      const e = entries[j] as IndexEntry<Loc>
      if (e.loc.seg !== first.loc.seg || e.loc.offset !== end) {
        break
      }
      end += e.bytes
      j++
    }
    const buf = await readRange(first.loc.seg, first.loc.offset, end - first.loc.offset)
    for (let k = i, rel = 0; k < j; k++) {
      const e = entries[k] as IndexEntry<Loc>
      const start = rel + FRAME_HEADER_BYTES
      if (crc32(buf, start, rel + e.bytes) !== buf.readUInt32LE(rel + 4)) {
        throw new BackstopError(
          'BK_ERR_OUTBOX_CORRUPT',
          `seq ${e.seq} in ${e.loc.seg.path} at offset ${e.loc.offset} fails its checksum ` +
            '(disk error, or the file was changed outside the agent); move the segment aside to continue without it',
        )
      }
      out.push(JSON.parse(buf.toString('utf8', start, rel + e.bytes)) as Envelope)
      rel += e.bytes
    }
    i = j
  }
  return out
}

async function readRange(seg: Segment, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  let got = 0
  while (got < length) {
    const { bytesRead } = await seg.fh.read(buf, got, length - got, offset + got)
    if (bytesRead === 0) {
      throw new BackstopError(
        'BK_ERR_OUTBOX_CORRUPT',
        `${seg.path} ends at ${offset + got} bytes, before a record the outbox wrote there; ` +
          'the file was truncated outside the agent',
      )
    }
    got += bytesRead
  }
  return buf
}
