import type { App, AppDeps } from '../deps.ts'

/** Prometheus exposition (prom-client); behind the same bearer auth as the API (Prometheus supports bearer_token). */
export function metricsRoutes(app: App, deps: Pick<AppDeps, 'metrics'>): void {
  const m = deps.metrics
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const r = await m()
    return reply.type(r.contentType).send(r.body)
  })
}
