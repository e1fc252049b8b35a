import Type from 'typebox'
import { IsoTimestamp, JobName, NodeId } from '@backstop/shared'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'

const RunsQuery = Type.Object(
  {
    node: Type.Optional(NodeId),
    job: Type.Optional(JobName),
    status: Type.Optional(Type.Union(['running', 'success', 'partial', 'failed'].map((s) => Type.Literal(s)))),
    /** started at or after */
    since: Type.Optional(IsoTimestamp),
    /** started before */
    until: Type.Optional(IsoTimestamp),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
)

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
const RunView = Type.Object({
  node: Type.String(),
  runId: Type.String(),
  job: Type.String(),
  jobKind: Type.String(),
  trigger: Nullable(Type.String()),
  scheduledFor: Nullable(Type.String()),
  startedAt: Type.String(),
  finishedAt: Nullable(Type.String()),
  durationMs: Nullable(Type.Number()),
  status: Type.String(),
  bytes: Nullable(Type.Number()),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  progress: Nullable(Type.Object({ percent: Type.Number(), message: Nullable(Type.String()) })),
  warnings: Type.Array(Type.String()),
  copies: Nullable(Type.Number()),
  deleted: Nullable(Type.Number()),
  updatedAt: Type.String(),
})

/** Newest first; `next` is the offset of the following page, null on the last one. */
export function runRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/api/v1/runs',
    {
      schema: {
        querystring: RunsQuery,
        response: {
          200: Type.Object({
            runs: Type.Array(RunView),
            limit: Type.Integer(),
            offset: Type.Integer(),
            next: Nullable(Type.Integer()),
          }),
          400: ErrorResponse,
        },
      },
    },
    async (req) => {
      const q = req.query
      const limit = q.limit ?? 100
      const offset = q.offset ?? 0
      const runs = deps.runs.query({
        ...(q.node !== undefined ? { node: q.node } : {}),
        ...(q.job !== undefined ? { job: q.job } : {}),
        ...(q.status !== undefined ? { status: q.status as 'running' } : {}),
        ...(q.since !== undefined ? { since: new Date(q.since).toISOString() } : {}),
        ...(q.until !== undefined ? { until: new Date(q.until).toISOString() } : {}),
        limit: limit + 1,
        offset,
      })
      const more = runs.length > limit
      return { runs: more ? runs.slice(0, limit) : runs, limit, offset, next: more ? offset + limit : null }
    },
  )
}
