import Type from 'typebox'
import {
  alertKey,
  BackstopError,
  JobName,
  NodeId,
  pause,
  resume,
  statusAt,
  validateExpectation,
  alertAfter,
  type ExpectationSchedule,
} from '@backstop/shared'
import { auditAction } from '../audit-action.ts'
import { actorOf } from '../auth-guard.ts'
import type { ExpectationRow } from '../../store/expectations-repo.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'
import { iso, nextOffset, Nullable, page, Page } from './schemas.ts'

const ExpectationView = Type.Object({
  id: Type.Integer(),
  node: Type.String(),
  job: Type.String(),
  assetKind: Type.String(),
  assetId: Type.String(),
  schedule: Type.Unknown(),
  graceS: Type.Integer(),
  /** new | up | grace | down | paused, as of now */
  status: Type.String(),
  lastFinishAt: Nullable(Type.String()),
  runningSince: Nullable(Type.String()),
  alertAfter: Nullable(Type.String()),
  source: Type.String(),
})

const ScheduleBody = Type.Object(
  {
    schedule: Type.Union([
      Type.Object(
        { kind: Type.Literal('period'), periodS: Type.Integer({ minimum: 60, maximum: 31_536_000 }) },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          kind: Type.Literal('cron'),
          cron: Type.String({ minLength: 1, maxLength: 128 }),
          timezone: Type.String({ minLength: 1, maxLength: 64 }),
        },
        { additionalProperties: false },
      ),
    ]),
    graceS: Type.Integer({ minimum: 60, maximum: 31_536_000 }),
  },
  { additionalProperties: false },
)

const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) })

export function expectationRoutes(
  app: App,
  deps: Pick<AppDeps, 'expectations' | 'alerts' | 'alertsRepo' | 'ledger' | 'audit' | 'clock'>,
): void {
  const repo = deps.expectations
  const now = (): number => deps.clock.now()
  const audit = auditAction(deps)
  const view = (e: ExpectationRow) => ({
    id: e.id,
    node: e.node,
    job: e.job,
    assetKind: e.assetKind,
    assetId: e.assetId,
    schedule: e.state.schedule,
    graceS: e.state.graceS,
    status: statusAt(e.state, now()),
    lastFinishAt: iso(e.state.lastFinishAt ?? null),
    runningSince: iso(e.state.runningSince ?? null),
    alertAfter: iso(e.alertAfter),
    source: e.source,
  })
  const get = (id: number): ExpectationRow => {
    const e = repo.byId(id)
    if (e === undefined) {
      throw new BackstopError('BK_ERR_API_NOT_FOUND', `no expectation ${id}; list them with GET /api/v1/expectations`)
    }
    return e
  }
  /** Every state change re-arms the single deadline timer. */
  const save = (e: ExpectationRow, t: { state: ExpectationRow['state']; alertAfter: number | null }): void => {
    repo.save(e.id, t.state, t.alertAfter, null)
    deps.ledger.runNow()
  }

  app.get(
    '/api/v1/expectations',
    {
      schema: {
        tags: ['expectations'],
        summary: 'Missed-backup expectations (Healthchecks semantics)',
        querystring: Type.Object(
          {
            node: Type.Optional(NodeId),
            job: Type.Optional(JobName),
            status: Type.Optional(Type.Union(['new', 'up', 'down', 'paused'].map((s) => Type.Literal(s)))),
            ...Page,
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            expectations: Type.Array(ExpectationView),
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
      const r = repo.list({
        node: req.query.node,
        job: req.query.job,
        status: req.query.status as 'up' | undefined,
        limit,
        offset,
      })
      return {
        expectations: r.items.map(view),
        total: r.total,
        limit,
        offset,
        next: nextOffset(r.total, limit, offset),
      }
    },
  )

  app.put(
    '/api/v1/expectations/:id',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['expectations'],
        summary: 'Set the schedule (period or cron + IANA zone) and grace',
        params: IdParams,
        body: ScheduleBody,
        response: { 200: ExpectationView, 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (req) => {
      const e = get(req.params.id)
      const schedule = req.body.schedule as ExpectationSchedule
      validateExpectation(schedule, req.body.graceS)
      repo.setSchedule(e.id, schedule, req.body.graceS)
      const updated = get(e.id)
      save(updated, { state: updated.state, alertAfter: alertAfter(updated.state) })
      audit(req, 'expectation.schedule', String(e.id), { ...req.body })
      return view(get(e.id))
    },
  )

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/api/v1/expectations/:id/${action}`,
      {
        config: { role: 'operator' },
        schema: {
          tags: ['expectations'],
          summary: `${action === 'pause' ? 'Pause (never goes down)' : 'Resume with a fresh period'}`,
          params: IdParams,
          response: { 200: ExpectationView, 404: ErrorResponse },
        },
      },
      async (req) => {
        const e = get(req.params.id)
        const t = (action === 'pause' ? pause : resume)(e.state, now())
        save(e, t)
        if (action === 'pause') {
          // A paused check never alerts (Healthchecks): a firing missed-backup alert for it resolves now.
          const key = alertKey('missed-backup', e.node, `${e.job}/${e.assetKind}/${e.assetId}`)
          const a = deps.alertsRepo.get(key)
          if (a?.state === 'firing') {
            const what = `${e.assetKind} ${e.assetId} on ${e.node}, job ${e.job}`
            deps.alerts.raise(
              {
                key,
                kind: 'missed-backup',
                node: e.node,
                severity: a.severity,
                firing: false,
                summary: `${what}: expectation paused by ${actorOf(req)}`,
              },
              now(),
            )
            deps.alerts.publishPending()
          }
        }
        audit(req, `expectation.${action}`, String(e.id), {})
        return view(get(e.id))
      },
    )
  }
}
