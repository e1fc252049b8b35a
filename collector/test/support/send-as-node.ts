import mqtt from 'mqtt'
import { nodeTopic, type AckBody, type Envelope } from '@backstop/shared'
import { waitFor } from '../../../test/support/wait-for.ts'
import { payload } from './harness.ts'

/**
 * Publishes envelopes as the node's agent does (persistent session, QoS 1 on its events topic) over real MQTT and
 * waits until the collector acked every one of them; `password` is 'pending' for the enroll envelope.
 */
export async function sendAsNode(
  mqttUrl: string,
  node: string,
  password: string,
  envs: readonly Envelope[],
): Promise<AckBody[]> {
  const client = await mqtt.connectAsync(mqttUrl, {
    clientId: `backstop-agent-${node}`,
    username: node,
    password,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 0,
  })
  const acks: AckBody[] = []
  client.on('message', (_t, p) => acks.push((JSON.parse(p.toString()) as Envelope<'ack'>).body))
  await client.subscribeAsync(nodeTopic(node, 'ack'), { qos: 1 })
  for (const e of envs) {
    await client.publishAsync(nodeTopic(node, 'events'), payload(e), { qos: 1 })
  }
  await waitFor(() => envs.every((e) => acks.some((a) => a.acked.includes(e.msgId))), {
    what: `acks for ${envs.map((e) => e.kind).join(', ')}`,
    timeoutMs: 10_000,
  })
  await client.endAsync()
  return acks
}
