import { BackstopError } from '@backstop/shared'
import type { FastifyRequest } from 'fastify'
import { roleAllows, type ApiRole, type TokenInfo, type TokensRepo } from '../auth/tokens.ts'
import type { AuthMode } from '../config/schema.ts'
import type { App, AppDeps } from './deps.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Least role that may call the route; default viewer for GET/HEAD, operator otherwise. */
    role?: ApiRole
    /** Needs a token even where the config turned auth off (admin routes always do): it makes agents act. */
    alwaysAuthenticated?: boolean
  }
  interface FastifyRequest {
    token?: TokenInfo
  }
}

/** Paths that are never authenticated: liveness and the API documentation. */
const OPEN = [/^\/healthz$/, /^\/docs(\/|$)/]

/** How to get the first token: only the CLI on the collector host can mint one without a token. */
export const FIRST_TOKEN_HINT = 'backstop-collector apitoken create --name admin --role admin'

/**
 * Every /api and /metrics request needs a bearer token whose role allows the route. Where the config turned
 * authentication off (config/api-exposure.ts decides where that is allowed), the rest of the API opens, but admin
 * routes (tokens, notification channels) and node commands still need one: nothing done anonymously may outlive
 * switching auth back on (a minted token) or make an agent act. There is no "open until the first token" phase:
 * the first token comes from the CLI, which needs a shell on the collector host.
 */
export function registerAuthGuard(app: App, o: { tokens: TokensRepo; mode: AuthMode; now: () => number }): void {
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const path = req.url.split('?')[0] ?? ''
    const cfg = req.routeOptions.config
    const need: ApiRole = cfg.role ?? (req.method === 'GET' || req.method === 'HEAD' ? 'viewer' : 'operator')
    const always = need === 'admin' || cfg.alwaysAuthenticated === true
    if ((o.mode !== 'required' && !always) || OPEN.some((re) => re.test(path))) {
      return
    }
    const info = verifyBearer(req, path, o)
    if (!roleAllows(info.role, need)) {
      throw new BackstopError(
        'BK_ERR_API_FORBIDDEN',
        `${req.method} ${path} needs role ${need}; token ${info.id} (${info.name}) has ${info.role}`,
      )
    }
    req.token = info
  })
}

function verifyBearer(req: FastifyRequest, path: string, o: { tokens: TokensRepo; now: () => number }): TokenInfo {
  const h = req.headers.authorization
  if (h === undefined || !/^Bearer\s+\S+$/i.test(h)) {
    throw new BackstopError(
      'BK_ERR_API_UNAUTHORIZED',
      `${req.method} ${path} needs "Authorization: Bearer <token>"; on the collector host, ` +
        `create one with "${FIRST_TOKEN_HINT}"`,
    )
  }
  const info = o.tokens.verify(h.replace(/^Bearer\s+/i, ''), o.now())
  if (info === undefined) {
    throw new BackstopError(
      'BK_ERR_API_UNAUTHORIZED',
      `the bearer token sent to ${req.method} ${path} is unknown, revoked or malformed; ` +
        'list tokens with "backstop-collector apitoken list"',
    )
  }
  return info
}

/** Who did it, for the audit log: `token:<id>`, or `anonymous` where the config turned auth off. */
export function actorOf(req: FastifyRequest): string {
  return req.token ? `token:${req.token.id}` : 'anonymous'
}

/** The guard as a buildApp plugin: always mounted, so no route can be reached around it. */
export function authPlugin(app: App, deps: Pick<AppDeps, 'auth' | 'clock'>): void {
  registerAuthGuard(app, { tokens: deps.auth.tokens, mode: deps.auth.mode, now: () => deps.clock.now() })
}
