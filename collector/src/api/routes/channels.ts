import Type from 'typebox'
import { BackstopError } from '@backstop/shared'
import { auditAction } from '../audit-action.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'
import { iso, Nullable, Severity } from './schemas.ts'

const ChannelView = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  kind: Type.String(),
  url: Type.String(),
  minSeverity: Type.String(),
  enabled: Type.Boolean(),
  health: Type.Object({
    lastOkAt: Nullable(Type.String()),
    lastErrorAt: Nullable(Type.String()),
    lastError: Nullable(Type.String()),
    consecutiveFailures: Type.Integer(),
    deliveredTotal: Type.Integer(),
    failedTotal: Type.Integer(),
    pending: Type.Integer(),
    dead: Type.Integer(),
  }),
})

/** Notification channels (webhook, ntfy) with per-channel delivery health. Adding or removing one is admin-only. */
export function channelRoutes(app: App, deps: Pick<AppDeps, 'channels' | 'audit' | 'clock'>): void {
  const repo = deps.channels
  const audit = auditAction(deps)
  app.get(
    '/api/v1/channels',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Notification channels and their delivery health',
        response: { 200: Type.Object({ channels: Type.Array(ChannelView) }) },
      },
    },
    async () => ({
      channels: repo.channels().map((ch) => ({
        ...ch,
        health: { ...ch.health, lastOkAt: iso(ch.health.lastOkAt), lastErrorAt: iso(ch.health.lastErrorAt) },
      })),
    }),
  )
  app.post(
    '/api/v1/channels',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['alerts'],
        summary: 'Add a webhook or ntfy channel',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64 }),
            kind: Type.Union([Type.Literal('webhook'), Type.Literal('ntfy')]),
            url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
            minSeverity: Type.Optional(Severity),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ id: Type.Integer() }), 400: ErrorResponse },
      },
    },
    async (req, reply) => {
      const b = req.body
      if (repo.channels().some((ch) => ch.name === b.name)) {
        throw new BackstopError(
          'BK_ERR_API_VALIDATION',
          `body.name: a channel named "${b.name}" exists; pick another name or DELETE it first`,
        )
      }
      const id = repo.addChannel(
        { name: b.name, kind: b.kind, url: b.url, minSeverity: (b.minSeverity ?? 'warning') as 'warning' },
        deps.clock.now(),
      )
      audit(req, 'channel.add', String(id), { name: b.name, kind: b.kind })
      return reply.code(201).send({ id })
    },
  )
  app.delete(
    '/api/v1/channels/:id',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['alerts'],
        summary: 'Remove a channel and its queue',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 204: Type.Null(), 404: ErrorResponse },
      },
    },
    async (req, reply) => {
      if (!repo.removeChannel(req.params.id)) {
        throw new BackstopError('BK_ERR_API_NOT_FOUND', `no channel ${req.params.id}`)
      }
      audit(req, 'channel.delete', String(req.params.id), {})
      return reply.code(204).send(null)
    },
  )
}
