import Type from 'typebox'
import { alertKinds, BackstopError, IsoTimestamp, NodeId, type AlertKind } from '@backstop/shared'
import { auditAction } from '../audit-action.ts'
import { actorOf } from '../auth-guard.ts'
import type { StoredAlert } from '../../store/alerts-repo.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'
import { iso, nextOffset, Nullable, page, Page, Severity } from './schemas.ts'

const AlertView = Type.Object({
  key: Type.String(),
  kind: Type.String(),
  node: Nullable(Type.String()),
  state: Type.String(),
  severity: Type.String(),
  summary: Type.String(),
  since: Type.String(),
  ackedAt: Nullable(Type.String()),
  ackedBy: Nullable(Type.String()),
  silencedUntil: Nullable(Type.String()),
  suppressedBy: Nullable(Type.String()),
})
const FlipView = Type.Object({
  id: Type.Integer(),
  from: Type.String(),
  to: Type.String(),
  severity: Type.String(),
  summary: Type.String(),
  at: Type.String(),
  decision: Type.String(),
})
const KeyBody = Type.Object({ key: Type.String({ minLength: 1, maxLength: 1200 }) }, { additionalProperties: false })
const WindowView = Type.Object({
  id: Type.Integer(),
  start: Type.String(),
  end: Type.String(),
  node: Nullable(Type.String()),
  keyPrefix: Nullable(Type.String()),
  reason: Type.String(),
  createdBy: Type.String(),
})

const alertView = (a: StoredAlert) => ({
  key: a.key,
  kind: a.kind,
  node: a.node ?? null,
  state: a.state,
  severity: a.severity,
  summary: a.summary,
  since: new Date(a.since).toISOString(),
  ackedAt: iso(a.ackedAt),
  ackedBy: a.ackedBy,
  silencedUntil: iso(a.silencedUntil),
  suppressedBy: a.suppressedBy,
})

/** Alerts (current state per key), their flips, ack / silence, and maintenance windows. */
export function alertRoutes(app: App, deps: Pick<AppDeps, 'alerts' | 'alertsRepo' | 'audit' | 'clock'>): void {
  const repo = deps.alertsRepo
  const now = (): number => deps.clock.now()
  const audit = auditAction(deps)
  const mustGet = (key: string): StoredAlert => {
    const a = repo.get(key)
    if (a === undefined) {
      throw new BackstopError('BK_ERR_API_NOT_FOUND', `no alert with key "${key}"; list them with GET /api/v1/alerts`)
    }
    return a
  }

  app.get(
    '/api/v1/alerts',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Alerts, firing first',
        querystring: Type.Object(
          {
            state: Type.Optional(Type.Union([Type.Literal('firing'), Type.Literal('resolved')])),
            severity: Type.Optional(Severity),
            kind: Type.Optional(Type.Union(alertKinds.map((k) => Type.Literal(k)))),
            node: Type.Optional(NodeId),
            ...Page,
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            alerts: Type.Array(AlertView),
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
      const q = req.query
      const r = repo.list({
        state: q.state,
        severity: q.severity as 'info' | undefined,
        kind: q.kind as AlertKind | undefined,
        node: q.node,
        limit,
        offset,
      })
      return { alerts: r.items.map(alertView), total: r.total, limit, offset, next: nextOffset(r.total, limit, offset) }
    },
  )

  app.get(
    '/api/v1/alerts/flips',
    {
      schema: {
        tags: ['alerts'],
        summary: "One alert's history of transitions, newest first",
        querystring: Type.Object(
          {
            key: Type.String({ minLength: 1, maxLength: 1200 }),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ alert: AlertView, flips: Type.Array(FlipView) }), 404: ErrorResponse },
      },
    },
    async (req) => {
      const a = mustGet(req.query.key)
      const flips = repo.flips(a.key, req.query.limit ?? 100).map((f) => ({
        id: f.id,
        from: f.from,
        to: f.to,
        severity: f.severity,
        summary: f.summary,
        at: new Date(f.at).toISOString(),
        decision: f.decision,
      }))
      return { alert: alertView(a), flips }
    },
  )

  app.post(
    '/api/v1/alerts/ack',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['alerts'],
        summary: 'Acknowledge: no further notifications until it resolves or escalates',
        body: KeyBody,
        response: { 200: AlertView, 404: ErrorResponse, 400: ErrorResponse },
      },
    },
    async (req) => {
      mustGet(req.body.key)
      const a = deps.alerts.ack(req.body.key, actorOf(req), now())!
      deps.alerts.publishState(a.key)
      return alertView(a)
    },
  )

  app.post(
    '/api/v1/alerts/silence',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['alerts'],
        summary: 'Hold back notifications for this key until a time (state is still tracked)',
        body: Type.Object(
          { key: Type.String({ minLength: 1, maxLength: 1200 }), until: IsoTimestamp },
          { additionalProperties: false },
        ),
        response: { 200: AlertView, 404: ErrorResponse, 400: ErrorResponse },
      },
    },
    async (req) => {
      mustGet(req.body.key)
      const until = Date.parse(req.body.until)
      if (!(until > now())) {
        throw new BackstopError('BK_ERR_API_VALIDATION', `body.until ${req.body.until} is not in the future`)
      }
      const a = deps.alerts.silence(req.body.key, until, actorOf(req), now())!
      deps.alerts.publishState(a.key)
      return alertView(a)
    },
  )

  app.get(
    '/api/v1/maintenance',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Current and future maintenance windows',
        response: { 200: Type.Object({ windows: Type.Array(WindowView) }) },
      },
    },
    async () => ({
      windows: repo.activeWindows(now()).map((w) => ({
        id: w.id,
        start: new Date(w.start).toISOString(),
        end: new Date(w.end).toISOString(),
        node: w.node ?? null,
        keyPrefix: w.keyPrefix ?? null,
        reason: w.reason,
        createdBy: w.createdBy,
      })),
    }),
  )

  app.post(
    '/api/v1/maintenance',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['alerts'],
        summary: 'Add a window: flips inside it are recorded and published, not notified',
        body: Type.Object(
          {
            start: IsoTimestamp,
            end: IsoTimestamp,
            node: Type.Optional(NodeId),
            keyPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 1200 })),
            reason: Type.String({ minLength: 1, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ id: Type.Integer() }), 400: ErrorResponse },
      },
    },
    async (req, reply) => {
      const start = Date.parse(req.body.start)
      const end = Date.parse(req.body.end)
      if (!(end > start)) {
        throw new BackstopError(
          'BK_ERR_API_VALIDATION',
          `body.end ${req.body.end} must be after body.start ${req.body.start}`,
        )
      }
      const id = repo.addWindow({
        start,
        end,
        node: req.body.node,
        keyPrefix: req.body.keyPrefix,
        reason: req.body.reason,
        createdBy: actorOf(req),
        createdAt: now(),
      })
      audit(req, 'maintenance.add', String(id), { ...req.body })
      return reply.code(201).send({ id })
    },
  )

  app.delete(
    '/api/v1/maintenance/:id',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['alerts'],
        summary: 'End a maintenance window',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 204: Type.Null(), 404: ErrorResponse },
      },
    },
    async (req, reply) => {
      if (!repo.deleteWindow(req.params.id)) {
        throw new BackstopError('BK_ERR_API_NOT_FOUND', `no maintenance window ${req.params.id}`)
      }
      audit(req, 'maintenance.delete', String(req.params.id), {})
      return reply.code(204).send(null)
    },
  )
}
