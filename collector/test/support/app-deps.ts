import { keyPairFromSeed } from '@backstop/shared'
import pino from 'pino'
import type { InjectOptions } from 'fastify'
import type { App, AppDeps } from '../../src/app.ts'
import { createTokensRepo, type ApiRole, type TokensRepo } from '../../src/auth/tokens.ts'
import { createCommandService } from '../../src/commands/command-service.ts'
import { createPrometheus } from '../../src/export/prometheus.ts'
import { createCounters, type Counters } from '../../src/metrics/counters.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { createNodesRepo } from '../../src/store/nodes-repo.ts'
import { createRunsRepo } from '../../src/store/runs-repo.ts'
import { createSelfBackupsRepo } from '../../src/store/self-backups-repo.ts'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { composeLedger } from '../../src/compose/ledger.ts'
import { ledgerConfig } from '../../src/ledger/config.ts'
import type { Db } from '../../src/store/db.ts'
import { fakeClock } from '../ledger/fake-clock.ts'
import type { harness } from '../ledger/harness.ts'

/**
 * Every AppDeps field from the ledger harness: the real repos and services on its in-memory SQLite and fake clock,
 * as main.ts wires them. Authentication is required, as in production; `bearer()` mints a token of a role.
 */
export function appDepsOf(
  h: Pick<ReturnType<typeof harness>, 'db' | 'clock' | 'part' | 'ledger' | 'auditLog'>,
  over: Partial<AppDeps> & { counters?: Counters } = {},
): AppDeps & { tokens: TokensRepo; bearer(role: ApiRole): { authorization: string } } {
  const tokens = createTokensRepo(h.db)
  const counters = over.counters ?? createCounters()
  const prometheus = createPrometheus({
    db: h.db,
    assets: h.part.assets,
    alerts: h.part.alertsRepo,
    channels: h.part.channels,
    downNodes: h.ledger.downNodes,
    counters,
  })
  const deps: AppDeps = {
    https: null,
    log: pino({ level: 'silent' }),
    clock: h.clock,
    health: () => ({ db: true, broker: true }),
    auth: { tokens, mode: 'required' },
    nodes: createNodesRepo(h.db),
    runs: createRunsRepo(h.db),
    copies: createCopiesRepo(h.db),
    assets: h.part.assets,
    coverage: h.part.coverage,
    expectations: h.part.expectations,
    ledger: h.ledger,
    alerts: h.part.alerts,
    alertsRepo: h.part.alertsRepo,
    channels: h.part.channels,
    audit: h.auditLog,
    metrics: prometheus.render,
    diskHealth: h.part.diskHealth,
    commands: createCommandService({
      db: h.db,
      audit: h.auditLog,
      collectorSecretKey: keyPairFromSeed(new Uint8Array(32).fill(5)).secretKey,
      now: () => new Date(h.clock.now()),
      publish: () => undefined,
      nodeState: (n) => (n === 'pve1' ? 'active' : 'unknown'),
    }),
    selfBackups: createSelfBackupsRepo(h.db),
    ...over,
  }
  return {
    ...deps,
    tokens,
    bearer: (role) => ({ authorization: `Bearer ${tokens.create(`test-${role}`, role, h.clock.now()).token}` }),
  }
}

/** AppDeps over an existing database (e.g. one the ingest harness filled): the ledger side composed on it. */
export function appDepsOnDb(db: Db, over: Partial<AppDeps> = {}): ReturnType<typeof appDepsOf> {
  const clock = fakeClock(Date.now())
  const auditLog = createAuditLog(db)
  const part = composeLedger({
    db,
    clock,
    log: pino({ level: 'silent' }),
    config: ledgerConfig(),
    publish: () => undefined,
    audit: auditLog,
    telemetry: undefined,
    afterCommit: () => undefined,
    fetch: globalThis.fetch,
  })
  return appDepsOf({ db, clock, part, ledger: part.ledger, auditLog }, over)
}

/** `app.inject` with a bearer token on every request (a request's own headers win). */
export function injectAs(app: App, auth: { authorization: string }) {
  return (o: string | InjectOptions) =>
    app.inject(typeof o === 'string' ? { url: o, headers: auth } : { ...o, headers: { ...auth, ...o.headers } })
}

/** The audit actor a request with this bearer header is recorded as (`token:<id>`). */
export function actorOf(auth: { authorization: string }): string {
  const id = /^Bearer bkt_([0-9a-f]{16})_/.exec(auth.authorization)?.[1]
  if (id === undefined) {
    throw new Error(`not a bkt_ bearer header: ${auth.authorization.slice(0, 12)}…`)
  }
  return `token:${id}`
}

/**
 * `fetch` against a running collector (startCollector) with a bearer token of `role`, minted in its database the
 * way `backstop-collector apitoken create` does. Paths are relative to its apiUrl.
 */
export function apiFetch(c: { readonly apiUrl: string; readonly db: Db }, role: ApiRole = 'admin') {
  const token = createTokensRepo(c.db).create(`test-${role}`, role, Date.now()).token
  return (path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${c.apiUrl}${path}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } })
}
