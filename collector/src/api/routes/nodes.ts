import Type from 'typebox'
import { BackstopError, NodeId } from '@backstop/shared'
import type { NodeRow } from '../../store/nodes-repo.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'

const NodeView = Type.Object({
  node: Type.String(),
  fingerprint: Type.String(),
  enrolledAt: Type.String(),
  hostname: Type.Union([Type.String(), Type.Null()]),
  agentVersion: Type.Union([Type.String(), Type.Null()]),
  lastSeen: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  statusAt: Type.Union([Type.String(), Type.Null()]),
  /** Offline only: 'shutdown' | 'restart' (the agent stopped on purpose) or 'lost' (its Last Will). */
  statusReason: Type.Union([Type.String(), Type.Null()]),
  heartbeatAt: Type.Union([Type.String(), Type.Null()]),
})
const NodeDetail = Type.Object({
  ...NodeView.properties,
  publicKey: Type.String(),
  heartbeat: Type.Unknown(),
})

export function nodeRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/api/v1/nodes',
    { schema: { response: { 200: Type.Object({ nodes: Type.Array(NodeView) }) } } },
    async () => {
      return { nodes: deps.nodes.list().map(summary) }
    },
  )
  app.get(
    '/api/v1/nodes/:node',
    {
      schema: { params: Type.Object({ node: NodeId }), response: { 200: NodeDetail, 404: ErrorResponse } },
    },
    async (req) => {
      const n = deps.nodes.get(req.params.node)
      if (!n) {
        throw new BackstopError(
          'BK_ERR_API_NOT_FOUND',
          `no enrolled node "${req.params.node}" (GET /api/v1/nodes lists them)`,
        )
      }
      return { ...summary(n), publicKey: n.publicKey, heartbeat: n.heartbeat }
    },
  )
}

function summary(n: NodeRow) {
  return {
    node: n.node,
    fingerprint: n.fingerprint,
    enrolledAt: n.enrolledAt,
    hostname: n.hostname,
    agentVersion: n.agentVersion,
    lastSeen: n.lastSeen,
    status: n.status,
    statusAt: n.statusAt,
    statusReason: n.statusReason,
    heartbeatAt: n.heartbeatAt,
  }
}
