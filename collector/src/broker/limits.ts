import { MAX_MESSAGE_BYTES, PUBLISH_FRAMING_BYTES } from '@backstop/shared'
import { DEFAULT_LOG_INTERVAL_MS } from '../logging/limited-log.ts'

/**
 * What one collector lets MQTT clients cost it (docs/security.md, "Unauthenticated MQTT clients"). Every number is
 * enforced before the work it bounds: packet sizes from the fixed header before the body is buffered, connection
 * caps at TCP accept before the TLS handshake, rate limits before signature checks and database writes.
 */
export interface BrokerLimits {
  /** Largest MQTT packet of an authenticated node (fixed header's remaining length). */
  readonly maxPacketBytes: number
  /** Largest packet before CONNACK (the CONNECT itself, its Will included). */
  readonly maxConnectPacketBytes: number
  /** Largest `enroll` payload of a pending client; its packets are capped at this plus topic framing. */
  readonly maxEnrollBytes: number
  /** Largest status payload (birth message or Last Will); node status is never retained. */
  readonly maxStatusBytes: number
  readonly tlsHandshakeTimeoutMs: number
  /** From TCP accept (after TLS) to a CONNECT packet. */
  readonly connectTimeoutMs: number
  readonly maxConnections: number
  readonly maxConnectionsPerIp: number
  /** Refused CONNECTs per address: `burst` tokens refilled at `perMinute`; empty = connections dropped at accept. */
  readonly failedConnects: RateLimit
  /** Enroll messages per address and in total (each one may write an enrollment request). */
  readonly enrollsPerIp: RateLimit
  readonly enrollsTotal: RateLimit
  /** A refusal reason logs at most one line per this interval; counters count every refusal. */
  readonly logIntervalMs: number
}

export interface RateLimit {
  readonly burst: number
  readonly perMinute: number
}

export const defaultBrokerLimits: BrokerLimits = {
  maxPacketBytes: MAX_MESSAGE_BYTES + PUBLISH_FRAMING_BYTES,
  maxConnectPacketBytes: 8 * 1024,
  maxEnrollBytes: 16 * 1024,
  maxStatusBytes: 1024,
  tlsHandshakeTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  maxConnections: 20_000,
  maxConnectionsPerIp: 64,
  failedConnects: { burst: 20, perMinute: 10 },
  enrollsPerIp: { burst: 10, perMinute: 10 },
  enrollsTotal: { burst: 500, perMinute: 600 },
  logIntervalMs: DEFAULT_LOG_INTERVAL_MS,
}

export function resolveBrokerLimits(over: Partial<BrokerLimits> | undefined): BrokerLimits {
  return { ...defaultBrokerLimits, ...over }
}
