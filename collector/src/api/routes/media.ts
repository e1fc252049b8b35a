import Type from 'typebox'
import { actorOf } from '../auth-guard.ts'
import { auditAction } from '../audit-action.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'

const MediumSiteBody = Type.Object(
  {
    /** Filesystem UUID (or pool GUID) of the medium, as the agent reports it in `storage.fsUuid`. */
    fsUuid: Type.String({ minLength: 1, maxLength: 200 }),
    /** The site the medium is at now (e.g. the office it was carried to). */
    site: Type.String({ minLength: 1, maxLength: 200 }),
    note: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
)

/**
 * Rotation: an operator records that a removable medium is now at another site. The verdict then uses that site
 * for every copy on the medium (by fsUuid) — the agent cannot see where a detached disk was carried.
 */
export function mediaRoutes(app: App, deps: Pick<AppDeps, 'assets' | 'ledger' | 'audit' | 'clock'>): void {
  const audit = auditAction(deps)
  app.get(
    '/api/v1/media/sites',
    {
      schema: {
        tags: ['compliance'],
        summary: 'Recorded sites of rotated media (fsUuid → site)',
        response: { 200: Type.Object({ sites: Type.Record(Type.String(), Type.String()) }) },
      },
    },
    async () => ({
      sites: Object.fromEntries(Object.entries(deps.assets.mediumSites()).map(([fs, m]) => [fs, m.site])),
    }),
  )
  app.put(
    '/api/v1/media/site',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['compliance'],
        summary: 'Record that a medium (by fsUuid) is now at a site; re-evaluates the assets with copies on it',
        body: MediumSiteBody,
        response: {
          200: Type.Object({ fsUuid: Type.String(), site: Type.String(), assets: Type.Array(Type.String()) }),
          400: ErrorResponse,
        },
      },
    },
    async (req) => {
      const { fsUuid, site, note } = req.body
      const affected = deps.assets.setMediumSite(fsUuid, site, actorOf(req), deps.clock.now())
      audit(req, 'medium.site', fsUuid.toLowerCase(), { site, ...(note !== undefined ? { note } : {}) })
      for (const k of affected) {
        deps.ledger.refreshAsset(k.node, k.kind, k.id)
      }
      return { fsUuid: fsUuid.toLowerCase(), site, assets: affected.map((k) => `${k.node}/${k.kind}/${k.id}`) }
    },
  )
}
