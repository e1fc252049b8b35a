import Type, { type Static } from 'typebox'
import { NODE_ID_PATTERN } from '@backstop/shared'
import type { ResolvedJob } from '../jobs/kinds.ts'

/** The agent's YAML config (deploy/config/agent.example.yaml documents every field). Jobs are checked per kind. */
export const AgentConfigInput = Type.Object({
  /** Node id: a topic level. Default: the hostname, lowercased. */
  node: Type.Optional(Type.String({ pattern: NODE_ID_PATTERN })),
  /** Keys, outbox, job state. Default /var/lib/backstop-agent. */
  stateDir: Type.Optional(Type.String({ minLength: 1, pattern: '^/' })),
  /** Default IANA zone for schedules and calendar retention. Default UTC. */
  timezone: Type.Optional(Type.String({ minLength: 1 })),
  collector: Type.Object({
    /** mqtt://host:port or mqtts://host:port */
    url: Type.String({ pattern: '^mqtts?://' }),
    /** One-time enrollment token; or put it in a file (`enrollmentTokenFile`, mode 0600). */
    enrollmentToken: Type.Optional(Type.String({ minLength: 1 })),
    enrollmentTokenFile: Type.Optional(Type.String({ pattern: '^/' })),
  }, { additionalProperties: false }),
  outbox: Type.Optional(Type.Object({
    /** Upper bound for unacknowledged events on disk. Default 256 MiB. */
    maxBytes: Type.Optional(Type.Integer({ minimum: 64 * 1024 })),
  }, { additionalProperties: false })),
  heartbeatSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  log: Type.Optional(Type.Object({
    level: Type.Optional(Type.Union(['trace', 'debug', 'info', 'warn', 'error'].map((l) => Type.Literal(l)))),
  }, { additionalProperties: false })),
  /** Each job is an object with `kind`; its fields are checked against that kind's schema. */
  jobs: Type.Array(Type.Object({ kind: Type.String(), name: Type.String() }), { maxItems: 500 }),
}, { additionalProperties: false })
export type AgentConfigInput = Static<typeof AgentConfigInput>

export interface ResolvedAgentConfig {
  readonly file: string
  readonly node: string
  readonly stateDir: string
  readonly timezone: string
  readonly collector: { readonly url: string, readonly enrollmentToken: string | null, readonly enrollmentTokenFile: string | null }
  readonly outbox: { readonly dir: string, readonly maxBytes: number }
  readonly heartbeatMs: number
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error'
  readonly jobs: readonly ResolvedJob[]
}
