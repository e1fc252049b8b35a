import Type from 'typebox'
import { BackstopError } from '@backstop/shared'
import { auditAction } from '../audit-action.ts'
import { apiRoles } from '../../auth/tokens.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'
import { iso, Nullable } from './schemas.ts'

const TokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
})
const Role = Type.Union(apiRoles.map((r) => Type.Literal(r)))

/** API tokens (admin). The secret is returned once, at creation. */
export function tokenRoutes(app: App, deps: Pick<AppDeps, 'auth' | 'audit' | 'clock'>): void {
  const { tokens } = deps.auth
  const now = (): number => deps.clock.now()
  const audit = auditAction(deps)
  app.get(
    '/api/v1/tokens',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['auth'],
        summary: 'List API tokens (never their secrets)',
        response: { 200: Type.Object({ tokens: Type.Array(TokenView) }) },
      },
    },
    async () => ({
      tokens: tokens.list().map((t) => ({
        ...t,
        createdAt: new Date(t.createdAt).toISOString(),
        lastUsedAt: iso(t.lastUsedAt),
        revokedAt: iso(t.revokedAt),
      })),
    }),
  )
  app.post(
    '/api/v1/tokens',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['auth'],
        summary: 'Create a token; the response is the only time the secret is shown',
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 64 }), role: Role },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ id: Type.String(), token: Type.String(), role: Type.String() }),
          400: ErrorResponse,
        },
      },
    },
    async (req, reply) => {
      const t = tokens.create(req.body.name, req.body.role, now())
      audit(req, 'token.create', t.info.id, { name: t.info.name, role: t.info.role })
      return reply.code(201).send({ id: t.info.id, token: t.token, role: t.info.role })
    },
  )
  app.delete(
    '/api/v1/tokens/:id',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['auth'],
        summary: 'Revoke a token',
        params: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{16}$' }) }),
        response: { 204: Type.Null(), 404: ErrorResponse },
      },
    },
    async (req, reply) => {
      if (!tokens.revoke(req.params.id, now())) {
        throw new BackstopError('BK_ERR_API_NOT_FOUND', `no active token ${req.params.id}`)
      }
      audit(req, 'token.revoke', req.params.id, {})
      return reply.code(204).send(null)
    },
  )
}
