import Type from 'typebox'
import { BackstopError, mediaTypes, NodeId } from '@backstop/shared'
import { auditAction } from '../audit-action.ts'
import type { LedgerAssetRow } from '../../store/ledger-assets-repo.ts'
import { locationKeyOf } from '../../store/copies-repo.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'
import {
  AssetKindParam,
  AssetSelector,
  iso,
  Lifecycle,
  nextOffset,
  Nullable,
  page,
  Page,
  Tier,
  VerdictStatus,
} from './schemas.ts'

const Reason = Type.Object({
  code: Type.String(),
  message: Type.String(),
  actual: Type.Number(),
  required: Type.Number(),
  /** The places (location keys) the reason is about. */
  copies: Type.Optional(Type.Array(Type.String())),
})
/** A place holding live copies as the verdict judged it: a counted copy, an uncounted copy, or a version. */
const Place = Type.Object({
  locationKey: Type.String(),
  role: Type.Union([Type.Literal('copy'), Type.Literal('version')]),
  counted: Type.Boolean(),
  why: Type.String(),
  domain: Type.Array(Type.String()),
  media: Type.Array(Type.String()),
  site: Nullable(Type.String()),
  offsite: Type.Boolean(),
  offline: Type.Boolean(),
  /** A medium its host reports detached, plugged into this node (its inventory): online. */
  pluggedInto: Nullable(Type.String()),
  immutable: Type.Boolean(),
  /** Why a probed immutability does not hold (the source node holds a login to the puller). */
  immutabilityVoided: Nullable(Type.String()),
  protections: Type.Array(Type.String()),
  unprobed: Type.Boolean(),
  unprovenClaims: Type.Array(Type.String()),
  copyIds: Type.Array(Type.String()),
})
export const AssetView = Type.Object({
  node: Type.String(),
  kind: Type.String(),
  id: Type.String(),
  name: Nullable(Type.String()),
  tier: Type.String(),
  lifecycle: Type.String(),
  productionMedia: Nullable(Type.String()),
  productionLocation: Nullable(Type.String()),
  verdict: Type.String(),
  reasons: Type.Array(Reason),
  counts: Type.Record(Type.String(), Nullable(Type.Number())),
  evaluatedAt: Nullable(Type.String()),
  expiresAt: Nullable(Type.String()),
  lastSuccessAt: Nullable(Type.String()),
  places: Type.Array(Place),
  /** Marked intentionally unprotected (PUT /api/v1/asset/exemption): why, by whom, when; `verdict` is `exempt`. */
  exemption: Nullable(Type.Object({ reason: Type.String(), actor: Type.String(), at: Type.String() })),
})

export function assetView(a: LedgerAssetRow) {
  return {
    node: a.node,
    kind: a.kind,
    id: a.id,
    name: a.name,
    tier: a.tier,
    lifecycle: a.lifecycle,
    productionMedia: a.productionMedia,
    productionLocation: a.productionLocation,
    verdict: a.verdict,
    reasons: a.reasons.map(({ copies, ...r }) => (copies === undefined ? r : { ...r, copies: [...copies] })),
    counts: a.counts,
    evaluatedAt: iso(a.evaluatedAt || null),
    expiresAt: iso(a.expiresAt),
    lastSuccessAt: iso(a.lastSuccessAt),
    places: a.places.map((p) => ({
      locationKey: p.locationKey,
      role: p.role,
      counted: p.counted,
      why: p.why,
      domain: [...p.domain],
      media: [...p.media],
      site: p.site,
      offsite: p.offsite,
      offline: p.offline,
      // Verdicts stored before these facts existed lack them.
      pluggedInto: p.pluggedInto ?? null,
      immutable: p.immutable,
      immutabilityVoided: p.immutabilityVoided ?? null,
      protections: [...p.protections],
      unprobed: p.unprobed,
      unprovenClaims: [...p.unprovenClaims],
      copyIds: [...p.copyIds],
    })),
    exemption: a.exemption && { reason: a.exemption.reason, actor: a.exemption.actor, at: iso(a.exemption.at)! },
  }
}

const AssetsQuery = Type.Object(
  {
    node: Type.Optional(NodeId),
    kind: Type.Optional(AssetKindParam),
    verdict: Type.Optional(VerdictStatus),
    tier: Type.Optional(Tier),
    lifecycle: Type.Optional(Lifecycle),
    ...Page,
  },
  { additionalProperties: false },
)

const PolicyBody = Type.Object(
  {
    tier: Type.Optional(Tier),
    lifecycle: Type.Optional(Lifecycle),
    productionMedia: Type.Optional(Nullable(Type.Union(mediaTypes.map((m) => Type.Literal(m))))),
    /** `<node>/<location kind>/<target>`: copies there share the live data's failure domain. */
    productionLocation: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 1100 }))),
  },
  { additionalProperties: false },
)

/** Assets with their materialised 3-2-1-1-0 verdict. Asset ids contain '/', so the asset is chosen by query. */
export function assetRoutes(
  app: App,
  deps: Pick<AppDeps, 'assets' | 'expectations' | 'copies' | 'ledger' | 'audit' | 'clock'>,
): void {
  const { assets } = deps
  const audit = auditAction(deps)
  app.get(
    '/api/v1/assets',
    {
      schema: {
        tags: ['compliance'],
        summary: 'List assets with their verdict',
        querystring: AssetsQuery,
        response: {
          200: Type.Object({
            assets: Type.Array(AssetView),
            total: Type.Integer(),
            limit: Type.Integer(),
            offset: Type.Integer(),
            next: Nullable(Type.Integer()),
          }),
          400: ErrorResponse,
        },
      },
    },
    async (req) => {
      const { limit, offset } = page(req.query)
      const r = assets.list({
        node: req.query.node,
        kind: req.query.kind,
        verdict: req.query.verdict as LedgerAssetRow['verdict'] | undefined,
        tier: req.query.tier as LedgerAssetRow['tier'] | undefined,
        lifecycle: req.query.lifecycle as LedgerAssetRow['lifecycle'] | undefined,
        limit,
        offset,
      })
      return { assets: r.items.map(assetView), total: r.total, limit, offset, next: nextOffset(r.total, limit, offset) }
    },
  )

  app.get(
    '/api/v1/asset',
    {
      schema: {
        tags: ['compliance'],
        summary: 'One asset: verdict with reasons, expectations and live copies',
        querystring: AssetSelector,
        response: {
          200: Type.Object({
            asset: AssetView,
            copies: Type.Array(Type.Unknown()),
            expectations: Type.Array(Type.Unknown()),
          }),
          400: ErrorResponse,
          404: ErrorResponse,
        },
      },
    },
    async (req) => {
      const { node, kind, id } = req.query
      const a = assets.get({ node, kind, id })
      if (a === undefined) {
        throw new BackstopError(
          'BK_ERR_API_NOT_FOUND',
          `no asset ${kind} "${id}" on node "${node}" in the ledger; list them with GET /api/v1/assets?node=${node}`,
        )
      }
      const copies = deps.copies.query({
        node,
        assetKind: kind,
        assetId: id,
        includeDeleted: false,
        limit: 1000,
        offset: 0,
      })
      const expectations = deps.expectations
        .ofAsset(node, kind, id)
        .map((e) => ({ id: e.id, job: e.job, status: e.state.status, alertAfter: iso(e.alertAfter) }))
      // Each copy says what the verdict made of its place: counted copy, uncounted copy or version, and why.
      const places = new Map(a.places.map((p) => [p.locationKey, p]))
      const judged = copies.map((c) => {
        const p = places.get(locationKeyOf(c.heldBy ?? c.node, c.location.kind, c.location.target))
        return {
          ...c,
          role: p?.role ?? null,
          counted: p?.counted ?? false,
          failureDomain: [...(p?.domain ?? [])],
          why: p?.why ?? 'not judged yet (the verdict has not run since this copy arrived)',
        }
      })
      return { asset: assetView(a), copies: judged, expectations }
    },
  )

  app.patch(
    '/api/v1/asset',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['compliance'],
        summary: 'Set tier, lifecycle or production location; re-evaluates at once',
        querystring: AssetSelector,
        body: PolicyBody,
        response: { 200: Type.Object({ asset: AssetView }), 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (req) => {
      const { node, kind, id } = req.query
      const b = req.body
      const ok = assets.setPolicy(
        { node, kind, id },
        {
          tier: b.tier as LedgerAssetRow['tier'] | undefined,
          lifecycle: b.lifecycle as LedgerAssetRow['lifecycle'] | undefined,
          productionMedia: b.productionMedia as LedgerAssetRow['productionMedia'] | undefined,
          productionLocation: b.productionLocation,
        },
      )
      if (!ok) {
        throw new BackstopError('BK_ERR_API_NOT_FOUND', `no asset ${kind} "${id}" on node "${node}" in the ledger`)
      }
      audit(req, 'asset.policy', `${node}/${kind}/${id}`, { ...b })
      deps.ledger.refreshAsset(node, kind, id)
      return { asset: assetView(assets.get({ node, kind, id })!) }
    },
  )
}
