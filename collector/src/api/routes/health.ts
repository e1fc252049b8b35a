import Type from 'typebox'
import type { App, AppDeps } from '../deps.ts'

const Health = Type.Object({ ok: Type.Boolean(), db: Type.Boolean(), broker: Type.Boolean() })

/** Liveness for systemd/monitoring: 200 when SQLite answers and the broker is up, 503 otherwise. */
export function healthRoutes(app: App, deps: AppDeps): void {
  app.get('/healthz', { schema: { response: { 200: Health, 503: Health } } }, async (_req, reply) => {
    const h = deps.health()
    const ok = h.db && h.broker
    return reply.code(ok ? 200 : 503).send({ ok, db: h.db, broker: h.broker })
  })
}
