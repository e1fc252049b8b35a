import { crc32 } from './crc32.ts'

/** Every record on disk: `[u32 LE length][u32 LE crc32(payload)][payload]`. */
export const FRAME_HEADER_BYTES = 8
/** Sanity ceiling for a length read back from disk: anything larger is a torn or garbage header. */
export const MAX_FRAME_PAYLOAD = 16 * 1024 * 1024

export function encodeFrame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length)
  out.writeUInt32LE(payload.length, 0)
  out.writeUInt32LE(crc32(payload), 4)
  payload.copy(out, FRAME_HEADER_BYTES)
  return out
}

export interface ScannedFrame {
  readonly offset: number
  readonly length: number
  readonly payload: Buffer
}

export interface ScanResult {
  readonly frames: ScannedFrame[]
  /** Offset just past the last intact frame; < buf.length means a torn or corrupt tail starts here. */
  readonly goodEnd: number
  /** Why scanning stopped early (undefined when the whole buffer was intact). */
  readonly problem?: string
}

/**
 * Reads frames until the buffer ends or a frame is incomplete / fails its checksum / is rejected by `accept`.
 * Nothing after the first bad frame is trusted: with append-only writes and fsync before acknowledging,
 * only the tail can be torn.
 */
export function scanFrames(buf: Buffer, accept: (payload: Buffer) => string | null = () => null): ScanResult {
  const frames: ScannedFrame[] = []
  let off = 0
  while (off < buf.length) {
    if (buf.length - off < FRAME_HEADER_BYTES) {
      return { frames, goodEnd: off, problem: `partial header (${buf.length - off} of ${FRAME_HEADER_BYTES} bytes)` }
    }
    const length = buf.readUInt32LE(off)
    const crc = buf.readUInt32LE(off + 4)
    if (length > MAX_FRAME_PAYLOAD) {
      return { frames, goodEnd: off, problem: `implausible record length ${length}` }
    }
    const start = off + FRAME_HEADER_BYTES
    if (buf.length - start < length) {
      return { frames, goodEnd: off, problem: `partial payload (${buf.length - start} of ${length} bytes)` }
    }
    if (crc32(buf, start, start + length) !== crc) {
      return { frames, goodEnd: off, problem: 'checksum mismatch' }
    }
    const payload = buf.subarray(start, start + length)
    const rejected = accept(payload)
    if (rejected) {
      return { frames, goodEnd: off, problem: rejected }
    }
    frames.push({ offset: off, length: FRAME_HEADER_BYTES + length, payload })
    off = start + length
  }
  return { frames, goodEnd: off }
}
