import { connect as netConnect } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'

/**
 * Hand-made MQTT 3.1.1 packets for attack tests: what a hostile client writes byte by byte (mqtt.js would never
 * send a header that declares 256 MiB and then trickle the body).
 */
export function varint(n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) {
      b |= 0x80
    }
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

const str = (s: string | Buffer): Buffer => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8')
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}

export function connectPacket(o: { clientId: string; username?: string; password?: string; clean?: boolean }): Buffer {
  const flags = (o.username !== undefined ? 0x80 : 0) | (o.password !== undefined ? 0x40 : 0) | (o.clean ? 0x02 : 0)
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, flags, 0, 60]),
    str(o.clientId),
    ...(o.username !== undefined ? [str(o.username)] : []),
    ...(o.password !== undefined ? [str(o.password)] : []),
  ])
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body])
}

/** Only the fixed header and topic of a PUBLISH that declares `declared` bytes of remaining length. */
export function publishHeader(topic: string, declared: number, retain = false): Buffer {
  return Buffer.concat([Buffer.from([0x30 | (retain ? 1 : 0)]), varint(declared), str(topic)])
}

export function subscribePacket(filters: string[], packetId = 1): Buffer {
  const id = Buffer.alloc(2)
  id.writeUInt16BE(packetId)
  const body = Buffer.concat([id, ...filters.map((f) => Buffer.concat([str(f), Buffer.from([1])]))])
  return Buffer.concat([Buffer.from([0x82]), varint(body.length), body])
}

/** A TLS socket that does not check the certificate (the attacker does not care who answers). */
export function rawTls(port: number, localAddress = '127.0.0.1'): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tcp = netConnect({ host: '127.0.0.1', port, localAddress })
    tcp.once('error', reject)
    const s = tlsConnect({ socket: tcp, rejectUnauthorized: false }, () => resolve(s))
    s.once('error', reject)
  })
}

/**
 * Resolves when the socket is closed by the other side (or rejects after `ms`). It reads and discards what arrives:
 * a paused socket with unread bytes (a CONNACK nobody read) never sees the server's FIN, so it would look open
 * however promptly the server closed it.
 */
export function closedWithin(
  s: { once(e: 'close', l: () => void): unknown; destroyed?: boolean; resume?(): unknown },
  ms: number,
  what = 'socket',
) {
  return new Promise<number>((resolve, reject) => {
    const t0 = Date.now()
    if (s.destroyed) {
      resolve(0)
      return
    }
    s.resume?.()
    const timer = setTimeout(() => reject(new Error(`${what} still open after ${ms} ms`)), ms)
    s.once('close', () => {
      clearTimeout(timer)
      resolve(Date.now() - t0)
    })
  })
}

/** The next `n` bytes the socket receives (MQTT replies may arrive in several TLS records). */
export function readBytes(
  s: { on(e: 'data', l: (d: Buffer) => void): unknown; off(e: 'data', l: (d: Buffer) => void): unknown },
  n: number,
) {
  return new Promise<Buffer>((resolve) => {
    const got: Buffer[] = []
    const onData = (d: Buffer): void => {
      got.push(d)
      const all = Buffer.concat(got)
      if (all.length >= n) {
        s.off('data', onData)
        resolve(all)
      }
    }
    s.on('data', onData)
  })
}
