import Type, { type Static } from 'typebox'
import { MAX_MESSAGE_BYTES, PUBLISH_FRAMING_BYTES } from '@backstop/shared'

const Int = (minimum: number, maximum: number, description: string) =>
  Type.Optional(Type.Integer({ minimum, maximum, description }))
const Rate = (what: string) =>
  Type.Optional(
    Type.Object(
      {
        burst: Type.Integer({ minimum: 1, maximum: 100_000, description: `${what}: tokens at once` }),
        perMinute: Type.Integer({ minimum: 1, maximum: 1_000_000, description: `${what}: tokens refilled per minute` }),
      },
      { additionalProperties: false },
    ),
  )

/**
 * `mqtt.limits:` — what MQTT clients may cost the collector (broker/limits.ts; docs/security.md "Unauthenticated
 * MQTT clients"). Every field is optional and keeps its default. A node's packets must fit a whole message
 * (MAX_MESSAGE_BYTES plus framing), so `maxPacketBytes` cannot go below that.
 */
export const MqttLimitsInput = Type.Object(
  {
    maxPacketBytes: Int(MAX_MESSAGE_BYTES + PUBLISH_FRAMING_BYTES, 64 << 20, 'largest packet of an enrolled node'),
    maxConnectPacketBytes: Int(1024, 64 << 10, 'largest packet before CONNACK (CONNECT and its Will)'),
    maxEnrollBytes: Int(4096, 64 << 10, 'largest enroll payload of a pending client'),
    maxStatusBytes: Int(256, 16 << 10, 'largest status payload (birth message or Last Will)'),
    tlsHandshakeTimeoutMs: Int(1000, 120_000, 'TLS handshake deadline from TCP accept'),
    connectTimeoutMs: Int(1000, 120_000, 'deadline from TCP accept (after TLS) to the CONNECT packet'),
    maxConnections: Int(1, 1_000_000, 'open connections in total'),
    maxConnectionsPerIp: Int(1, 100_000, 'open connections per remote address'),
    failedConnects: Rate('refused CONNECTs per address'),
    enrollsPerIp: Rate('enroll messages per address'),
    enrollsTotal: Rate('enroll messages in total'),
    logIntervalMs: Int(1000, 3_600_000, 'one log line per refusal reason or ingest rejection code at most this often'),
  },
  { additionalProperties: false },
)
export type MqttLimitsInput = Static<typeof MqttLimitsInput>

/** Only what the YAML sets; the broker fills the rest from its defaults (broker/limits.ts resolveBrokerLimits). */
export type MqttLimits = Readonly<MqttLimitsInput>

export function resolveMqttLimits(input: MqttLimitsInput | undefined): MqttLimits {
  return { ...input }
}
