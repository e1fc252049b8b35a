import { createServer, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls'
import type { Broker } from './broker.ts'

/**
 * The MQTT listener: plain TCP (loopback development) or TLS. Every accepted socket passes the broker's admission
 * first (connection caps, refused-CONNECT rate) — on the raw socket, before the handshake — and a handshake that
 * does not finish within `tlsHandshakeTimeoutMs` is closed.
 */
export function createMqttServer(broker: Broker, tls: TlsOptions | undefined): Server {
  const server = tls
    ? createTlsServer({ ...tls, handshakeTimeout: broker.limits.tlsHandshakeTimeoutMs }, (s) => broker.handle(s))
    : createServer((s) => broker.handle(s))
  // Node runs the TLS server's own 'connection' listener first; destroying the raw socket here ends the handshake.
  server.on('connection', (socket: Socket) => {
    // An ack is one small write answering the client's publish: Nagle would hold it until the client's delayed ACK
    // of the previous segment (~40 ms on Linux), a floor under every ack's latency.
    socket.setNoDelay(true)
    broker.admit(socket)
  })
  if (tls) {
    // Node reports a handshake timeout or failure here but leaves the socket open: close it.
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      broker.tlsFailed(err)
      socket.destroy()
    })
  }
  return server
}
