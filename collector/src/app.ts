import Fastify, { LogController, type FastifyError } from 'fastify'
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { isBackstopError } from '@backstop/shared'
import { copyRoutes } from './api/routes/copies.ts'
import { diskHealthRoutes } from './api/routes/disk-health.ts'
import { healthRoutes } from './api/routes/health.ts'
import { nodeRoutes } from './api/routes/nodes.ts'
import { runRoutes } from './api/routes/runs.ts'
import { alertRoutes } from './api/routes/alerts.ts'
import { assetRoutes } from './api/routes/assets.ts'
import { auditReadRoutes } from './api/routes/audit-read.ts'
import { channelRoutes } from './api/routes/channels.ts'
import { complianceRoutes } from './api/routes/compliance.ts'
import { registerDocs } from './api/routes/docs.ts'
import { expectationRoutes } from './api/routes/expectations.ts'
import { metricsRoutes } from './api/routes/metrics.ts'
import { reportRoutes } from './api/routes/reports.ts'
import { tokenRoutes } from './api/routes/tokens.ts'
import { commandRoutes } from './api/routes/commands.ts'
import { coverageRoutes } from './api/routes/coverage.ts'
import { mediaRoutes } from './api/routes/media.ts'
import { selfBackupRoutes } from './api/routes/self-backup.ts'
import { authPlugin } from './api/auth-guard.ts'
import type { App, AppDeps, RouteModule } from './api/deps.ts'
import { errorBody, validationField } from './api/errors.ts'

export type { App, AppDeps, LedgerControl } from './api/deps.ts'

/** Every route module, in one list: a new route module is one line here. */
const routes: readonly RouteModule[] = [
  healthRoutes,
  nodeRoutes,
  runRoutes,
  copyRoutes,
  assetRoutes,
  complianceRoutes,
  expectationRoutes,
  alertRoutes,
  channelRoutes,
  auditReadRoutes,
  reportRoutes,
  tokenRoutes,
  metricsRoutes,
  diskHealthRoutes,
  commandRoutes,
  coverageRoutes,
  mediaRoutes,
  selfBackupRoutes,
]

/** Root-level plugins that must see every route: OpenAPI collection (/docs) and the bearer-token guard. */
const plugins: readonly RouteModule[] = [registerDocs, authPlugin]

/**
 * The HTTP API as a Fastify instance that never listens (main.ts does; tests use `inject()`).
 * Errors always answer `{error: {code, message, field?}}` with a BK_ERR_* code; schema errors are 400s that name
 * the offending field, never 500s.
 */
export function buildApp(deps: AppDeps): App {
  const app = Fastify({
    ...(deps.https !== null
      ? { https: { key: deps.https.key, cert: deps.https.cert, minVersion: 'TLSv1.2' as const } }
      : {}),
    loggerInstance: deps.log,
    // Per-request info lines would drown the ingest logs; errors are still logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
  })
    .withTypeProvider<TypeBoxTypeProvider>()
    .setValidatorCompiler(TypeBoxValidatorCompiler) as unknown as App

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) {
      const field = validationField(err)
      return reply
        .code(400)
        .send(errorBody('BK_ERR_API_VALIDATION', `${field}: ${err.validation[0]?.message ?? 'invalid'}`, field))
    }
    if (isBackstopError(err)) {
      return reply.code(err.http).send(errorBody(err.code, err.message))
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send(errorBody('BK_ERR_API_VALIDATION', err.message))
    }
    req.log.error({ err, url: req.url }, 'API request failed')
    return reply.code(500).send(errorBody('BK_ERR_INTERNAL_ERROR', 'internal error; see the collector log'))
  })
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody('BK_ERR_API_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`))
  })
  for (const plugin of plugins) {
    plugin(app, deps)
  }
  // Routes live in a child context so they are declared after @fastify/swagger loaded (its onRoute hook sees them).
  void app.register(async (scoped) => {
    for (const register of routes) {
      register(scoped as unknown as App, deps)
    }
  })
  return app
}
