import type { AddressInfo, Server } from 'node:net'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Broker } from '../broker/broker.ts'
import { createMqttServer } from '../broker/listener.ts'
import type { ResolvedCollectorConfig } from '../config/schema.ts'
import { loadOrCreateTls } from '../tls/load-or-create.ts'
import { chooseTransportSecurity, serverTlsOptions, type TransportSecurity } from '../tls/transport-security.ts'
import type { Clock } from '../time/clock.ts'

export interface MqttListener {
  readonly server: Server
  readonly security: TransportSecurity
  readonly url: string
  /** HTTPS options for the API (same certificate); null with tls.plaintext. */
  readonly https: { readonly key: string; readonly cert: string } | null
}

/** Step of the composition root: TLS material (or plaintext, loudly), then the MQTT listener in front of the broker. */
export async function listenMqtt(
  config: ResolvedCollectorConfig,
  broker: Broker,
  o: { readonly log: Logger; readonly clock: Clock },
): Promise<MqttListener> {
  const security = chooseTransportSecurity({
    allowPlaintext: config.tls.plaintext,
    log: o.log,
    listenHost: config.mqtt.host,
    loadTls: () =>
      loadOrCreateTls({
        dir: join(config.dataDir, 'tls'),
        names: config.tls.names,
        files: { certFile: config.tls.certFile, keyFile: config.tls.keyFile, caFile: config.tls.caFile },
        now: new Date(o.clock.now()),
      }),
  })
  // Connection caps, TLS handshake timeout and the packet-size guard sit in front of aedes (broker/listener.ts).
  const server = createMqttServer(broker, security.mode === 'tls' ? serverTlsOptions(security.tls) : undefined)
  await listen(server, config.mqtt.port, config.mqtt.host)
  const port = (server.address() as AddressInfo).port
  return {
    server,
    security,
    url: `${security.mode === 'tls' ? 'mqtts' : 'mqtt'}://${urlHost(config.mqtt.host)}:${port}`,
    https: security.mode === 'tls' ? serverTlsOptions(security.tls) : null,
  }
}

export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** A wildcard bind is reachable on loopback; print a URL that works from this machine. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') {
    return '127.0.0.1'
  }
  return host.includes(':') ? `[${host}]` : host
}
