import Type from 'typebox'
import {
  BackstopError,
  classifyDisk,
  counterDeltas,
  DiskCounters,
  diskKey,
  NodeId,
  type DiskBaseline,
  type DiskHealth,
} from '@backstop/shared'
import { auditAction } from '../audit-action.ts'
import { actorOf } from '../auth-guard.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'
import { Nullable } from './schemas.ts'

const BaselineView = Type.Object({
  counters: DiskCounters,
  firstSeenAt: Type.String(),
  acknowledgedAt: Nullable(Type.String()),
})
const DiskView = Type.Object({
  key: Type.String({ description: 'serial:<serial> or name:<device>; the :disk of the acknowledge route' }),
  name: Type.String(),
  model: Nullable(Type.String()),
  serial: Nullable(Type.String()),
  protocol: Type.String(),
  smart: Type.String(),
  health: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('failed'), Type.Literal('unknown')], {
    description: 'failed and degraded devices do not count toward 3-2-1-1-0',
  }),
  temperatureC: Nullable(Type.Number()),
  powerOnHours: Nullable(Type.Integer()),
  counters: DiskCounters,
  grown: Type.Array(
    Type.Object({ counter: Type.String(), baseline: Type.Integer(), current: Type.Integer(), delta: Type.Integer() }),
    { description: 'counters above the baseline (news until acknowledged)' },
  ),
  baseline: Nullable(BaselineView),
})
const Params = Type.Object({ node: NodeId }, { additionalProperties: false })
// Fastify's router refuses path parameters over 100 characters (maxParamLength) before validation; disk keys are
// `serial:` + a serial of at most ~40 characters, so the schema says the same limit.
const DiskParams = Type.Object(
  { node: NodeId, disk: Type.String({ minLength: 1, maxLength: 100 }) },
  { additionalProperties: false },
)

const baselineView = (b: DiskBaseline | undefined) =>
  b === undefined ? null : { counters: b.counters, firstSeenAt: b.firstSeenAt, acknowledgedAt: b.acknowledgedAt }

function diskView(d: DiskHealth, b: DiskBaseline | undefined) {
  return {
    key: diskKey(d),
    name: d.name,
    model: d.model ?? null,
    serial: d.serial ?? null,
    protocol: d.protocol,
    smart: d.smart,
    health: classifyDisk(d, b),
    temperatureC: d.temperatureC ?? null,
    powerOnHours: d.powerOnHours ?? null,
    counters: d.counters,
    grown: b === undefined ? [] : counterDeltas(d, b),
    baseline: baselineView(b),
  }
}

/**
 * Disk health per node (docs/disk-health.md): the latest report judged against the baselines, and the operator's
 * "I know about these counters" acknowledgement, which makes a degraded disk's copies count again.
 */
export function diskHealthRoutes(
  app: App,
  deps: Pick<AppDeps, 'diskHealth' | 'nodes' | 'ledger' | 'audit' | 'clock'>,
): void {
  const store = deps.diskHealth
  const audit = auditAction(deps)
  const mustKnowNode = (node: string): void => {
    if (deps.nodes.get(node) === undefined && store.latest(node) === undefined) {
      throw new BackstopError('BK_ERR_API_NOT_FOUND', `no enrolled node "${node}" (GET /api/v1/nodes lists them)`)
    }
  }

  app.get(
    '/api/v1/nodes/:node/disks',
    {
      schema: {
        tags: ['disk-health'],
        summary: "A node's disks from its latest disk.health report, with health and counter growth",
        params: Params,
        response: {
          200: Type.Object({ node: Type.String(), at: Nullable(Type.String()), disks: Type.Array(DiskView) }),
          400: ErrorResponse,
          404: ErrorResponse,
        },
      },
    },
    async (req) => {
      const node = req.params.node
      mustKnowNode(node)
      const report = store.latest(node)
      const base = store.baselines(node)
      return {
        node,
        at: report?.at ?? null,
        disks: (report?.disks ?? []).map((d) => diskView(d, base.get(diskKey(d)))),
      }
    },
  )

  app.post(
    '/api/v1/nodes/:node/disks/:disk/acknowledge',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['disk-health'],
        summary: "Accept a disk's current counters as its baseline (growth so far is no longer news)",
        params: DiskParams,
        response: { 200: Type.Object({ node: Type.String(), disk: DiskView }), 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (req) => {
      const { node, disk } = req.params
      mustKnowNode(node)
      const at = new Date(deps.clock.now())
      const acked = store.acknowledge(node, disk, actorOf(req), at)
      const d = store.latest(node)?.disks.find((x) => diskKey(x) === disk)
      if (acked === undefined || d === undefined) {
        const keys = (store.latest(node)?.disks ?? []).map(diskKey)
        throw new BackstopError(
          'BK_ERR_API_NOT_FOUND',
          `node "${node}" has no disk "${disk}" in its latest report; known: ${keys.join(', ') || 'none'} ` +
            `(GET /api/v1/nodes/${node}/disks)`,
        )
      }
      audit(req, 'disk.acknowledge', `${node}/${disk}`, { counters: acked.counters })
      // A degraded disk may be ok now: the node's verdicts are recomputed on the next ledger pass.
      deps.ledger.requeueNode(node)
      deps.ledger.wake()
      return { node, disk: diskView(d, acked) }
    },
  )
}
