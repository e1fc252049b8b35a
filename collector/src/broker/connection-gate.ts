import type { Socket } from 'node:net'
import type { BrokerLimits } from './limits.ts'
import type { Refusals } from './refusals.ts'
import type { TokenBuckets } from './token-buckets.ts'

/**
 * Admission at TCP accept, before a TLS handshake costs anything: a global and a per-address connection cap, and
 * addresses whose refused-CONNECT bucket is empty are dropped. Counts live connections only, so its memory is
 * bounded by `maxConnections`.
 */
export interface ConnectionGate {
  /** False = the socket was destroyed. */
  admit(socket: Socket): boolean
  readonly open: number
}

export function createConnectionGate(limits: BrokerLimits, refusals: Refusals, failed: TokenBuckets): ConnectionGate {
  const perIp = new Map<string, number>()
  let open = 0
  const drop = (socket: Socket, reason: string, code: 'BK_ERR_MQTT_CONN_LIMIT' | 'BK_ERR_MQTT_RATE_LIMITED'): false => {
    refusals.refuse({
      counter: 'broker_refused_total',
      reason,
      code,
      msg:
        code === 'BK_ERR_MQTT_CONN_LIMIT'
          ? `MQTT connection dropped at accept: over ${limits.maxConnectionsPerIp} per address or ` +
            `${limits.maxConnections} in total (broker limits maxConnectionsPerIp / maxConnections)`
          : 'MQTT connection dropped at accept: too many refused CONNECTs from this address; retry in a minute',
      detail: { ip: socket.remoteAddress, open },
    })
    socket.destroy()
    return false
  }
  return {
    get open() {
      return open
    },
    admit: (socket) => {
      const ip = socket.remoteAddress ?? '?'
      const mine = perIp.get(ip) ?? 0
      if (open >= limits.maxConnections) {
        return drop(socket, 'conn-cap-global', 'BK_ERR_MQTT_CONN_LIMIT')
      }
      if (mine >= limits.maxConnectionsPerIp) {
        return drop(socket, 'conn-cap-ip', 'BK_ERR_MQTT_CONN_LIMIT')
      }
      if (failed.empty(ip)) {
        return drop(socket, 'connect-rate', 'BK_ERR_MQTT_RATE_LIMITED')
      }
      open++
      perIp.set(ip, mine + 1)
      socket.once('close', () => {
        open--
        const left = (perIp.get(ip) ?? 1) - 1
        if (left > 0) {
          perIp.set(ip, left)
        } else {
          perIp.delete(ip)
        }
      })
      return true
    },
  }
}
