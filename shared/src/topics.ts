/**
 * The only place topic strings are built or parsed. Layout:
 *   backstop/v1/<node>/events    agent → collector, every signed envelope (QoS 1)
 *   backstop/v1/<node>/ack       collector → agent, application-level receipts, published after the commit
 *   backstop/v1/<node>/status    agent's retained online/offline (offline is the Last Will)
 *   backstop/v1/<node>/commands  collector → agent, signed commands
 *   backstop/v1/<node>/checkpoint  collector → agent, retained signed checkpoint (what a verified collector backup
 *                                  covers; docs/reliability.md)
 *   backstop/v1/alerts/state/<key>  retained current state per alert key
 *   backstop/v1/alerts/events       alert transitions as a stream
 *   backstop/v1/alerts/collector/status  the collector's own retained online/offline (under alerts/, which
 *                                         operator clients may read)
 */
export const TOPIC_ROOT = 'backstop/v1'

export const nodeChannels = ['events', 'ack', 'status', 'commands', 'checkpoint'] as const
export type NodeChannel = (typeof nodeChannels)[number]

/** Node ids are topic levels and file names: no wildcards, no separators, no leading dot. */
export const NODE_ID_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,62}$'
const nodeIdRe = new RegExp(NODE_ID_PATTERN)

export function isValidNodeId(node: string): boolean {
  return nodeIdRe.test(node)
}

export function nodeTopic(node: string, channel: NodeChannel): string {
  if (!isValidNodeId(node)) {
    throw new RangeError(`invalid node id ${JSON.stringify(node)}: use lowercase letters, digits, '.', '_' or '-'`)
  }
  return `${TOPIC_ROOT}/${node}/${channel}`
}

export interface ParsedNodeTopic {
  readonly node: string
  readonly channel: NodeChannel
}

export function parseNodeTopic(topic: string): ParsedNodeTopic | undefined {
  const parts = topic.split('/')
  if (parts.length !== 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) {
    return undefined
  }
  const node = parts[2] as string
  const channel = parts[3] as NodeChannel
  if (!isValidNodeId(node) || !nodeChannels.includes(channel)) {
    return undefined
  }
  return { node, channel }
}

export const alertTopics = {
  state: (key: string): string => `${TOPIC_ROOT}/alerts/state/${encodeAlertKey(key)}`,
  stateWildcard: `${TOPIC_ROOT}/alerts/state/#`,
  events: `${TOPIC_ROOT}/alerts/events`,
  collectorStatus: `${TOPIC_ROOT}/alerts/collector/status`,
} as const

/** Alert keys may contain '/', which is fine as topic levels, but never MQTT wildcards. */
function encodeAlertKey(key: string): string {
  return key.replace(/[#+]/g, '_').split(String.fromCharCode(0)).join('_')
}
