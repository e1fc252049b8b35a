import Type from 'typebox'
import { commandKinds, CommandId, JobName, NodeId } from '@backstop/shared'
import type { CommandArgs } from '../../commands/command-service.ts'
import { actorOf } from '../auth-guard.ts'
import type { App, AppDeps } from '../deps.ts'
import { ErrorResponse } from '../errors.ts'

const CommandView = Type.Object({
  id: Type.String(),
  node: Type.String(),
  kind: Type.String(),
  args: Type.Unknown(),
  requestedBy: Type.String(),
  issuedAt: Type.String(),
  expiresAt: Type.String(),
  status: Type.String(),
  resultCode: Type.Union([Type.String(), Type.Null()]),
  resultMessage: Type.Union([Type.String(), Type.Null()]),
  runId: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.String(),
  /** reverify-copy / restore-test: the agent's CommandOutcome (result, checks, bytes, duration, coded error). */
  outcome: Type.Union([Type.Unknown(), Type.Null()]),
})

/**
 * POST /api/v1/nodes/:node/commands (operator): sign, store, audit and publish a command; the outcome arrives as
 * `command.result` and shows in GET /api/v1/commands/:id. Arguments are typed per kind — never a command line.
 */
export function commandRoutes(app: App, deps: Pick<AppDeps, 'commands'>): void {
  const { commands } = deps
  app.post(
    '/api/v1/nodes/:node/commands',
    {
      config: { role: 'operator', alwaysAuthenticated: true },
      schema: {
        tags: ['commands'],
        summary: 'Ask a node to run a job now, re-verify a copy or run a restore test (signed, expiring, one-time)',
        params: Type.Object({ node: NodeId }),
        body: Type.Object(
          {
            kind: Type.Union(commandKinds.map((k) => Type.Literal(k))),
            job: JobName,
            copyId: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
            ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
          },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({
            command: Type.Object({
              id: Type.String(),
              node: Type.String(),
              kind: Type.String(),
              expiresAt: Type.String(),
            }),
          }),
          400: ErrorResponse,
          404: ErrorResponse,
        },
      },
    },
    async (req, reply) => {
      const { kind, job, copyId, ttlSeconds } = req.body as {
        kind: keyof CommandArgs
        job: string
        copyId?: string
        ttlSeconds?: number
      }
      const args =
        kind === 'run-job'
          ? { job }
          : kind === 'reverify-copy'
            ? { job, copyId: copyId ?? '' }
            : { job, ...(copyId ? { copyId } : {}) }
      if (kind === 'reverify-copy' && !copyId) {
        return reply.code(400).send({
          error: {
            code: 'BK_ERR_API_VALIDATION',
            message: 'body.copyId: reverify-copy needs the copy to re-verify',
            field: 'body.copyId',
          },
        })
      }
      const cmd = commands.issue({
        node: (req.params as { node: string }).node,
        kind,
        args,
        requestedBy: actorOf(req),
        ...(ttlSeconds ? { ttlMs: ttlSeconds * 1000 } : {}),
      })
      return reply.code(202).send({ command: { id: cmd.id, node: cmd.node, kind: cmd.kind, expiresAt: cmd.expiresAt } })
    },
  )
  app.get(
    '/api/v1/commands',
    {
      schema: {
        tags: ['commands'],
        summary: 'Recent commands, newest first',
        querystring: Type.Object(
          { node: Type.Optional(NodeId), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ commands: Type.Array(CommandView) }), 400: ErrorResponse },
      },
    },
    async (req) => {
      const q = req.query as { node?: string; limit?: number }
      return { commands: commands.list(q.node, q.limit ?? 100) }
    },
  )
  app.get(
    '/api/v1/commands/:id',
    {
      schema: {
        tags: ['commands'],
        summary: 'One command and its reported outcome',
        params: Type.Object({ id: CommandId }),
        response: { 200: Type.Object({ command: CommandView }), 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (req, reply) => {
      const c = commands.get((req.params as { id: string }).id)
      if (!c) {
        return reply
          .code(404)
          .send({ error: { code: 'BK_ERR_API_NOT_FOUND', message: `no command ${(req.params as { id: string }).id}` } })
      }
      return { command: c }
    },
  )
}
