import Type from 'typebox'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'

const Entry = Type.Object({
  seq: Type.Integer(),
  ts: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.String(),
  detail: Type.Unknown(),
  hash: Type.String(),
})

/** Read side of the hash-chained audit log (identity changes, CLI actions and operator actions through the API). */
export function auditReadRoutes(app: App, deps: Pick<AppDeps, 'audit'>): void {
  const log = deps.audit
  app.get(
    '/api/v1/audit',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['audit'],
        summary: 'Audit log entries after a sequence number, oldest first',
        querystring: Type.Object(
          {
            afterSeq: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
            action: Type.Optional(Type.String({ maxLength: 64 })),
            target: Type.Optional(Type.String({ maxLength: 1200 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ entries: Type.Array(Entry), next: Type.Union([Type.Integer(), Type.Null()]) }),
          400: ErrorResponse,
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100
      const entries = log.list({
        limit,
        ...(req.query.afterSeq !== undefined ? { afterSeq: req.query.afterSeq } : {}),
        ...(req.query.action ? { action: req.query.action } : {}),
        ...(req.query.target ? { target: req.query.target } : {}),
      })
      const last = entries[entries.length - 1]
      return {
        entries: entries.map((e) => ({
          seq: e.seq,
          ts: e.ts,
          actor: e.actor,
          action: e.action,
          target: e.target,
          detail: e.detail,
          hash: e.hash,
        })),
        next: entries.length === limit && last ? last.seq : null,
      }
    },
  )
}
