/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial). node:zlib has crc32 only from Node 22; this is the classic
 * table-driven form, a few lines and checked against the standard test vector in the tests.
 */
const TABLE = (() => {
  const t = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    }
    t[n] = c
  }
  return t
})()

export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = -1
  for (let i = start; i < end; i++) {
    c = (TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8)
  }
  return (c ^ -1) >>> 0
}
