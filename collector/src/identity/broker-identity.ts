import { TOPIC_ROOT } from '@backstop/shared'
import type { AccessRepo } from './node-access.ts'
import type { Operators } from './operators.ts'

/** What the broker's auth hooks ask about identities (collector/src/broker/broker.ts). */
export interface BrokerIdentity {
  /** 'revoked': refuse CONNECT; 'reenroll': a signature by another key is admitted as pending (enroll only). */
  nodeAccess(node: string): 'active' | 'revoked' | 'reenroll'
  /** `operator:<name>` + secret → name; undefined = not an operator (or wrong secret). */
  operator(username: string, password: Buffer | undefined): string | undefined
  /** Operators read alerts only. */
  operatorMaySubscribe(topicFilter: string): boolean
}

const ALERTS = `${TOPIC_ROOT}/alerts`

export function createBrokerIdentity(access: AccessRepo, operators: Operators): BrokerIdentity {
  return {
    nodeAccess: (node) => access.get(node)?.state ?? 'active',
    operator: (u, p) => operators.authenticate(u, p),
    operatorMaySubscribe: (f) =>
      f === `${ALERTS}/#` ||
      (f.startsWith(`${ALERTS}/`) && !f.includes('+') && !f.slice(ALERTS.length).includes('#')) ||
      /^backstop\/v1\/alerts\/(state|events)(\/.*)?$/.test(f),
  }
}
