import Type from 'typebox'
import { BackstopError, NodeId } from '@backstop/shared'
import { judgeCoverage } from '../../ledger/coverage-rules.ts'
import type { Exemption } from '../../store/coverage-repo.ts'
import { auditAction } from '../audit-action.ts'
import { actorOf } from '../auth-guard.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'
import { AssetSelector, iso, Nullable } from './schemas.ts'

const ExemptionView = Type.Object({ reason: Type.String(), actor: Type.String(), at: Type.String() })
const CoverageAsset = Type.Object({
  kind: Type.String(),
  id: Type.String(),
  name: Nullable(Type.String()),
  present: Type.Boolean(),
  coveredBy: Type.Array(Type.String()),
  status: Type.Union([
    Type.Literal('covered'),
    Type.Literal('gap'),
    Type.Literal('exempt'),
    Type.Literal('not-required'),
    Type.Literal('gone'),
  ]),
  summary: Type.String(),
  exemption: Nullable(ExemptionView),
})
const CoverageView = Type.Object({
  node: Type.String(),
  role: Nullable(Type.String()),
  reportedAt: Nullable(Type.String()),
  assets: Type.Array(CoverageAsset),
  mounts: Type.Array(Type.Unknown()),
  blockDevices: Type.Array(Type.Unknown()),
  incomplete: Type.Array(Type.Object({ part: Type.String(), reason: Type.String() }), {
    description: 'parts the last inventory could not list (their tool failed): shown as last known',
  }),
})
const ExemptBody = Type.Object(
  { reason: Type.String({ minLength: 3, maxLength: 1000, description: 'why this asset needs no backup' }) },
  { additionalProperties: false },
)

const exemptionView = (e: Exemption | null | undefined) =>
  e ? { reason: e.reason, actor: e.actor, at: iso(e.at)! } : null

/**
 * Coverage per node from its inventory (what no job covers, whether a bare-metal image is required), and
 * marking an asset intentionally unprotected: audited, with a reason, shown here, and its coverage alert resolved.
 */
export function coverageRoutes(
  app: App,
  deps: Pick<AppDeps, 'coverage' | 'ledger' | 'assets' | 'audit' | 'clock'>,
): void {
  const { coverage } = deps
  const audit = auditAction(deps)
  // An asset in the ledger shows the mark in its verdict at once, covered by a job or not (the coverage pass
  // only re-judges covered inventory assets).
  const rejudge = (a: { node: string; kind: string; id: string }): void => {
    if (deps.assets.get(a) !== undefined) {
      deps.ledger.refreshAsset(a.node, a.kind, a.id)
    }
  }

  app.get(
    '/api/v1/coverage',
    {
      schema: {
        tags: ['compliance'],
        summary: "One node's inventory: each asset's coverage (covered, gap, exempt …), mounts and block devices",
        querystring: Type.Object({ node: NodeId }, { additionalProperties: false }),
        response: { 200: CoverageView, 400: ErrorResponse },
      },
    },
    async (req) => {
      const { node } = req.query
      const inv = coverage.node(node)
      const role = inv?.role ?? null
      return {
        node,
        role,
        reportedAt: inv?.reportedAt ?? null,
        assets: coverage.assets(node).map((a) => {
          const f = judgeCoverage({
            node,
            kind: a.kind,
            id: a.id,
            present: a.present,
            coveredBy: a.coveredBy,
            role,
            exemptReason: a.exemption?.reason ?? null,
            bareMetalImageRoles: coverage.bareMetalImageRoles,
          })
          return { ...a, status: f.status, summary: f.summary, exemption: exemptionView(a.exemption) }
        }),
        mounts: inv?.mounts ?? [],
        blockDevices: inv?.blockDevices ?? [],
        incomplete: inv?.incomplete ?? [],
      }
    },
  )

  app.put(
    '/api/v1/asset/exemption',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['compliance'],
        summary: 'Mark an asset intentionally unprotected (with a reason); its coverage alert resolves',
        querystring: AssetSelector,
        body: ExemptBody,
        response: { 200: Type.Object({ exemption: ExemptionView }), 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (req) => {
      const a = req.query
      if (!coverage.listed(a) && deps.assets.get(a) === undefined) {
        throw new BackstopError(
          'BK_ERR_API_NOT_FOUND',
          `no asset ${a.kind} "${a.id}" on node "${a.node}" in its inventory or the ledger; ` +
            `list them with GET /api/v1/coverage?node=${a.node}`,
        )
      }
      const e = { reason: req.body.reason, actor: actorOf(req), at: deps.clock.now() }
      coverage.exempt(a, e)
      audit(req, 'asset.exempt', `${a.node}/${a.kind}/${a.id}`, { reason: e.reason })
      deps.ledger.runNow()
      rejudge(a)
      return { exemption: exemptionView(e)! }
    },
  )

  app.delete(
    '/api/v1/asset/exemption',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['compliance'],
        summary: 'Remove the intentionally-unprotected mark; an uncovered asset raises its coverage alert again',
        querystring: AssetSelector,
        response: { 200: Type.Object({ removed: Type.Boolean() }), 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (req) => {
      const a = req.query
      const before = coverage.exemption(a)
      if (!coverage.unexempt(a)) {
        throw new BackstopError('BK_ERR_API_NOT_FOUND', `${a.kind} "${a.id}" on "${a.node}" is not marked unprotected`)
      }
      audit(req, 'asset.unexempt', `${a.node}/${a.kind}/${a.id}`, { reason: before?.reason ?? null })
      deps.ledger.runNow()
      rejudge(a)
      return { removed: true }
    },
  )
}
