import { brotliCompressSync, brotliDecompressSync, constants, inflateRawSync } from 'node:zlib'

/**
 * How `events.raw` holds an envelope: below this size as the TEXT received, so the smallest kinds (job.started,
 * acks of commands) stay readable with sqlite3 and json_extract; from it on compressed in a BLOB. A `disk.health`
 * of four disks is ~2 KB and shrinks ~3×; a job.finished that lists every live copy with its storage is ~500 KB
 * of repetitive JSON and shrinks ~100× (bench/collector-growth.ts: `events` is the largest table).
 */
export const RAW_COMPRESS_FROM_BYTES = 1024

/**
 * The first byte of a Brotli BLOB. A BLOB without it is raw DEFLATE (RFC 1951), as written before Brotli (migration
 * 0044): 0xFF can never start a DEFLATE stream, whose first block header would then have BTYPE 11, which RFC 1951
 * 3.2.3 reserves as an error — so the two are told apart without a second column.
 */
export const BROTLI_MARK = 0xff

/**
 * Brotli quality 5 with a 4 MiB window (RFC 7932): the window spans a whole job.finished, so each copy's storage and
 * name match the previous copy's however far back it is, where DEFLATE's 32 KiB window cannot reach. Measured on the
 * growth bench's hourly job.finished (547 KB): DEFLATE level 6 15.4 KB, this 4.8 KB in a few ms; quality 11 saves
 * another fifth at ~100× the time.
 */
const BROTLI_PARAMS = {
  [constants.BROTLI_PARAM_QUALITY]: 5,
  [constants.BROTLI_PARAM_LGWIN]: 22,
  [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
}

export type StoredRaw = string | Buffer

export function encodeRaw(raw: string): StoredRaw {
  const text = Buffer.from(raw, 'utf8')
  if (text.length < RAW_COMPRESS_FROM_BYTES) {
    return raw
  }
  const packed = brotliCompressSync(text, {
    params: { ...BROTLI_PARAMS, [constants.BROTLI_PARAM_SIZE_HINT]: text.length },
  })
  return Buffer.concat([Buffer.of(BROTLI_MARK), packed])
}

/** The envelope exactly as received, whichever way it was stored. */
export function decodeRaw(stored: StoredRaw): string {
  if (typeof stored === 'string') {
    return stored
  }
  const text = stored[0] === BROTLI_MARK ? brotliDecompressSync(stored.subarray(1)) : inflateRawSync(stored)
  return text.toString('utf8')
}
