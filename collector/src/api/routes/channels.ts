import Type from 'typebox'
import { BackstopError } from '@backstop/shared'
import {
  checkChannelUrl,
  checkCredentials,
  newWebhookSecret,
  type ChannelKind,
  type Credentials,
} from '../../notifiers/credentials.ts'
import { auditAction } from '../audit-action.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'
import { ChannelKindSchema, ChannelView, CredentialsInput, SecretOnce } from './channels-schemas.ts'
import { iso, Severity } from './schemas.ts'

/**
 * Notification channels (webhook, ntfy, gotify) with per-channel delivery health. Adding, removing and setting
 * credentials is admin-only; credentials are write-only (masked in GET, never in the audit log). A webhook always
 * signs: without a secret the collector generates one and returns it once.
 */
export function channelRoutes(app: App, deps: Pick<AppDeps, 'channels' | 'audit' | 'clock'>): void {
  const repo = deps.channels
  const audit = auditAction(deps)
  /** The credentials to store, and the generated webhook secret to show once (if one was generated). */
  const settle = (kind: ChannelKind, c: Credentials | undefined): { stored: Credentials | null; shown?: string } => {
    checkCredentials(kind, c)
    if (kind === 'webhook' && c === undefined) {
      const secret = newWebhookSecret()
      return { stored: { type: 'hmac', secret }, shown: secret }
    }
    return { stored: c ?? null }
  }
  app.get(
    '/api/v1/channels',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Notification channels and their delivery health (credentials masked)',
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
        summary: 'Add a webhook, ntfy or gotify channel',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64 }),
            kind: ChannelKindSchema,
            url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
            minSeverity: Type.Optional(Severity),
            credentials: Type.Optional(CredentialsInput),
          },
          { additionalProperties: false },
        ),
        response: { 201: SecretOnce, 400: ErrorResponse },
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
      checkChannelUrl(b.kind, b.url)
      const { stored, shown } = settle(b.kind, b.credentials)
      const minSeverity = (b.minSeverity ?? 'warning') as 'warning'
      const id = repo.addChannel(
        { name: b.name, kind: b.kind, url: b.url, minSeverity, credentials: stored },
        deps.clock.now(),
      )
      audit(req, 'channel.add', String(id), { name: b.name, kind: b.kind, credentials: stored?.type ?? null })
      return reply.code(201).send({ id, ...(shown === undefined ? {} : { webhookSecret: shown }) })
    },
  )
  app.put(
    '/api/v1/channels/:id/credentials',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['alerts'],
        summary: 'Replace (rotate) a channel credentials; a webhook without credentials gets a new generated secret',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        body: Type.Object({ credentials: Type.Optional(CredentialsInput) }, { additionalProperties: false }),
        response: { 200: SecretOnce, 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (req) => {
      const ch = repo.channel(req.params.id)
      if (ch === undefined) {
        throw new BackstopError('BK_ERR_API_NOT_FOUND', `no channel ${req.params.id}; see GET /api/v1/channels`)
      }
      const { stored, shown } = settle(ch.kind, req.body.credentials)
      repo.setCredentials(ch.id, stored, deps.clock.now())
      audit(req, 'channel.credentials', String(ch.id), { credentials: stored?.type ?? null })
      return { id: ch.id, ...(shown === undefined ? {} : { webhookSecret: shown }) }
    },
  )
  app.delete(
    '/api/v1/channels/:id',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['alerts'],
        summary: 'Remove a channel, its credentials and its queue',
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
