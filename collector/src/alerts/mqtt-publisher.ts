import type { Aedes, PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import type { MqttPublish } from './alert-service.ts'

/**
 * Alert publishing through the collector's embedded broker: QoS 1, retained state per key. Subscribers are
 * operator clients (identity/operators.ts: read-only on backstop/v1/alerts/#), e.g. Home Assistant or mosquitto_sub.
 *
 * Publishes are strictly serialised (the next starts when aedes called back for the previous one). aedes 1.2
 * stores a retained message before forwarding it, so a non-retained publish issued right after it overtakes it;
 * the per-client dedupe (brokerCounter must grow) then silently drops the retained one — the state update
 * would never reach live subscribers. Found by test/alerts/mqtt-alerts.test.ts.
 */
export function aedesPublisher(aedes: Aedes, log: Logger): MqttPublish & { idle(): Promise<void> } {
  let tail: Promise<void> = Promise.resolve()
  const publish: MqttPublish = (topic, payload, opts) => {
    const packet: PublishPacket = {
      cmd: 'publish',
      topic,
      payload: Buffer.from(payload),
      qos: 1,
      retain: opts.retain,
      dup: false,
    }
    tail = tail.then(
      () =>
        new Promise<void>((resolve) => {
          aedes.publish(packet, (err) => {
            if (err) {
              log.error({ topic, err }, 'could not publish alert to MQTT')
            }
            resolve()
          })
        }),
    )
  }
  /** Resolves once aedes called back for everything published so far (the shutdown waits for its `offline`). */
  return Object.assign(publish, { idle: () => tail })
}
