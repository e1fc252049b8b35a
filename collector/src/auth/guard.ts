import { BackstopError } from '@backstop/shared'
import type { FastifyRequest } from 'fastify'
import type { App } from '../api/deps.ts'
import { roleAllows, type ApiRole, type TokenInfo, type TokensRepo } from './tokens.ts'

/**
 * `required`: every /api and /metrics request needs a bearer token. `off`: nothing is checked (a lab behind a
 * firewall). `auto` (the default): open until the first token is ever created — a fresh install and the
 * foundation's tests work without tokens, and `backstop-collector apitoken create` (the quick-start's second
 * step) locks it for good (revoking every token does not reopen it).
 */
export type AuthMode = 'auto' | 'required' | 'off'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Least role that may call the route; default viewer for GET/HEAD, operator otherwise. */
    role?: ApiRole
  }
  interface FastifyRequest {
    token?: TokenInfo
  }
}

/** Paths that are never authenticated: liveness and the API documentation. */
const OPEN = [/^\/healthz$/, /^\/docs(\/|$)/]

export function registerAuthGuard(app: App, o: { tokens: TokensRepo; mode: AuthMode; now: () => number }): void {
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const path = req.url.split('?')[0] ?? ''
    if (o.mode === 'off' || OPEN.some((re) => re.test(path))) {
      return
    }
    if (o.mode === 'auto' && !o.tokens.anyEverCreated()) {
      return
    }
    const h = req.headers.authorization
    if (h === undefined || !/^Bearer\s+\S+$/i.test(h)) {
      throw new BackstopError(
        'BK_ERR_API_UNAUTHORIZED',
        `${req.method} ${path} needs "Authorization: Bearer <token>"; create one with "backstop-collector apitoken create --role viewer"`,
      )
    }
    const info = o.tokens.verify(h.replace(/^Bearer\s+/i, ''), o.now())
    if (info === undefined) {
      throw new BackstopError('BK_ERR_API_UNAUTHORIZED', 'the bearer token is unknown, revoked or malformed')
    }
    const need: ApiRole =
      req.routeOptions.config.role ?? (req.method === 'GET' || req.method === 'HEAD' ? 'viewer' : 'operator')
    if (!roleAllows(info.role, need)) {
      throw new BackstopError(
        'BK_ERR_API_FORBIDDEN',
        `${req.method} ${path} needs role ${need}; token ${info.id} (${info.name}) has ${info.role}`,
      )
    }
    req.token = info
  })
}

/** Who did it, for the audit log: `token:<id>` or `anonymous` while auth is off. */
export function actorOf(req: FastifyRequest): string {
  return req.token ? `token:${req.token.id}` : 'anonymous'
}

/** The guard as a buildApp plugin: mounted only when the compliance deps (and so the token table) are present. */
export function authPlugin(
  app: App,
  deps: { compliance?: { tokens: TokensRepo; authMode: AuthMode; brain: { clock: { now(): number } } } | undefined },
): void {
  const c = deps.compliance
  if (c !== undefined) {
    registerAuthGuard(app, { tokens: c.tokens, mode: c.authMode, now: () => c.brain.clock.now() })
  }
}
