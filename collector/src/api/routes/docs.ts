import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { App, AppDeps } from '../deps.ts'

/**
 * OpenAPI document (GET /docs/json) and interactive docs at /docs. @fastify/swagger collects routes through an
 * onRoute hook, so this must be registered before the route modules (buildApp mounts those in a child plugin).
 */
export function registerDocs(app: App, _deps: AppDeps): void {
  void app.register(swagger, {
    openapi: {
      info: {
        title: 'Backstop collector API',
        version: '1',
        description: 'Fleet 3-2-1-1-0 compliance, copies, runs, missed-backup alerts.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'bkt_<id>_<secret> from `backstop-collector apitoken create`',
          },
        },
      },
      security: [{ bearer: [] }],
    },
  })
  void app.register(swaggerUi, { routePrefix: '/docs' })
}
