import { Duplex } from 'node:stream'
import type { Socket } from 'node:net'

/**
 * A thin stream between a client socket and `aedes.handle`. It reads each MQTT fixed header as the bytes pass
 * (type byte, then the 1–4 byte remaining-length varint) and closes the connection the moment a packet declares
 * more than `limit()` bytes, before any of that body is buffered: aedes and mqtt-packet have no maximum packet
 * size and would buffer a declared 256 MiB while it trickles in. Bytes are passed through unchanged, never copied.
 */
export class PacketGuard extends Duplex {
  /** Where in the current packet the scanner is: 0 = type byte, 1 = length varint, 2 = body. */
  private state: 0 | 1 | 2 = 0
  private length = 0
  private multiplier = 1
  private bodyLeft = 0
  readonly remoteAddress: string | undefined

  constructor(
    private readonly socket: Socket,
    /** Current cap for this connection (it grows once the client authenticates). */
    public limit: number,
    private readonly onOversize: (declared: number, limit: number) => void,
  ) {
    super({ allowHalfOpen: false })
    this.remoteAddress = socket.remoteAddress
    socket.on('data', (chunk: Buffer) => this.pass(chunk))
    socket.on('end', () => this.push(null))
    socket.on('error', (e) => this.destroy(e))
    socket.on('close', () => this.destroy())
  }

  override _read(): void {
    this.socket.resume()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.socket.write(chunk)) {
      cb()
    } else {
      this.socket.once('drain', () => cb())
    }
  }

  /** aedes (mqtt-packet) writes a packet in pieces under cork(): one socket write, one TLS record. */
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this._write(Buffer.concat(chunks.map((c) => c.chunk)), 'binary', cb)
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(() => cb())
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy()
    cb(err)
  }

  private pass(chunk: Buffer): void {
    if (!this.scan(chunk)) {
      return
    }
    if (!this.push(chunk)) {
      this.socket.pause()
    }
  }

  /** False when a header declared too much (or a malformed length): the connection is closed. */
  private scan(chunk: Buffer): boolean {
    let i = 0
    while (i < chunk.length) {
      if (this.state === 2) {
        const skip = Math.min(this.bodyLeft, chunk.length - i)
        this.bodyLeft -= skip
        i += skip
        if (this.bodyLeft === 0) {
          this.state = 0
        }
        continue
      }
      if (this.state === 0) {
        this.state = 1
        this.length = 0
        this.multiplier = 1
        i++
        continue
      }
      const byte = chunk[i++] as number
      this.length += (byte & 0x7f) * this.multiplier
      this.multiplier *= 128
      if (byte & 0x80) {
        if (this.multiplier > 128 ** 3) {
          return this.oversize(this.length)
        }
        continue
      }
      if (this.length > this.limit) {
        return this.oversize(this.length)
      }
      this.bodyLeft = this.length
      this.state = this.length === 0 ? 0 : 2
    }
    return true
  }

  private oversize(declared: number): false {
    this.onOversize(declared, this.limit)
    this.socket.destroy()
    this.destroy()
    return false
  }
}
