import { BackstopError } from '@backstop/shared'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Db } from '../store/db.ts'
import { type CreatedToken, type TokenRow, type TokensRepo } from './enrollment-tokens.ts'
import type { AccessRepo, AccessState, RequestRow } from './node-access.ts'

/**
 * What an admin can do about node identity; the CLI (`token`, `node`) and the API call these. Every change is audited.
 */
export interface IdentityService {
  createToken(o: { ttlMs: number; requireApproval: boolean; note?: string | undefined; actor: string }): CreatedToken
  listTokens(): TokenRow[]
  revokeToken(id: string, actor: string): void
  listNodes(): NodeIdentity[]
  pendingRequests(): RequestRow[]
  approve(node: string, actor: string): void
  deny(node: string, actor: string): void
  /** Refuses the node's CONNECT and enrollment from now on and drops its live session (`onRevoked`). */
  revoke(node: string, actor: string, reason: string): void
  /** Allows the next enrollment of `node` with a new key (reinstall); also lifts a revocation. */
  allowReenroll(node: string, actor: string, reason?: string): void
}

export interface NodeIdentity {
  readonly node: string
  readonly fingerprint: string | null
  readonly enrolledAt: string | null
  readonly hostname: string | null
  readonly access: 'active' | 'pending' | AccessState
  readonly accessChangedAt: string | null
  readonly reason: string | null
}

export interface IdentityDeps {
  readonly db: Db
  readonly tokens: TokensRepo
  readonly access: AccessRepo
  readonly audit: AuditLog
  readonly now: () => Date
  /** In-process effects of a revocation: unpin the key, disconnect the MQTT session. */
  readonly onRevoked?: (node: string) => void
}

const MAX_TTL_MS = 30 * 24 * 60 * 60 * 1000

export function createIdentityService(d: IdentityDeps): IdentityService {
  const nodes = d.db.prepare<[], { node: string; fingerprint: string; enrolled_at: string; hostname: string | null }>(
    'SELECT node, fingerprint, enrolled_at, hostname FROM nodes ORDER BY node',
  )
  const known = d.db.prepare<[string, string], { n: number }>(
    'SELECT (SELECT count(*) FROM nodes WHERE node = ?) + ' +
      '(SELECT count(*) FROM enrollment_requests WHERE node = ?) AS n',
  )
  const tx = <T>(fn: () => T): T => d.db.transaction(fn).immediate()

  const requireKnown = (node: string): void => {
    if ((known.get(node, node)?.n ?? 0) === 0) {
      throw new BackstopError(
        'BK_ERR_API_NOT_FOUND',
        `no node "${node}" is enrolled or waiting; see: backstop-collector node list`,
      )
    }
  }

  return {
    createToken: (o) => {
      if (!(o.ttlMs > 0 && o.ttlMs <= MAX_TTL_MS)) {
        throw new BackstopError('BK_ERR_API_VALIDATION', `token ttl must be between 1 s and 30 days, got ${o.ttlMs} ms`)
      }
      const now = d.now()
      return tx(() => {
        const t = d.tokens.create({ ...o, createdBy: o.actor, now })
        d.audit.append(
          {
            actor: o.actor,
            action: 'token.create',
            target: t.id,
            detail: { expiresAt: t.expiresAt, requireApproval: o.requireApproval, note: o.note ?? null },
          },
          now,
        )
        return t
      })
    },
    listTokens: () => d.tokens.list(),
    revokeToken: (id, actor) => {
      const now = d.now()
      tx(() => {
        if (!d.tokens.revoke(id, now.toISOString())) {
          throw new BackstopError(
            'BK_ERR_API_NOT_FOUND',
            `no unrevoked token with id ${id}; see: backstop-collector token list`,
          )
        }
        d.audit.append({ actor, action: 'token.revoke', target: id, detail: {} }, now)
      })
    },
    listNodes: () => {
      const out: NodeIdentity[] = nodes.all().map((n) => {
        const a = d.access.get(n.node)
        return {
          node: n.node,
          fingerprint: n.fingerprint,
          enrolledAt: n.enrolled_at,
          hostname: n.hostname,
          access: a?.state ?? 'active',
          accessChangedAt: a?.changedAt ?? null,
          reason: a?.reason ?? null,
        }
      })
      for (const r of d.access.requests('pending')) {
        if (!out.some((n) => n.node === r.node)) {
          out.push({
            node: r.node,
            fingerprint: r.fingerprint,
            enrolledAt: null,
            hostname: r.hostname,
            access: 'pending',
            accessChangedAt: r.requestedAt,
            reason: r.reason,
          })
        }
      }
      return out.sort((a, b) => a.node.localeCompare(b.node))
    },
    pendingRequests: () => d.access.requests('pending'),
    approve: (node, actor) => decide(d, tx, node, 'approved', actor),
    deny: (node, actor) => decide(d, tx, node, 'denied', actor),
    revoke: (node, actor, reason) => {
      requireKnown(node)
      const now = d.now()
      tx(() => {
        d.access.set(node, 'revoked', actor, now.toISOString(), reason)
        d.audit.append({ actor, action: 'node.revoke', target: node, detail: { reason } }, now)
      })
      d.onRevoked?.(node)
    },
    allowReenroll: (node, actor, reason) => {
      requireKnown(node)
      const now = d.now()
      tx(() => {
        d.access.set(node, 'reenroll', actor, now.toISOString(), reason)
        d.audit.append({ actor, action: 'node.allow-reenroll', target: node, detail: { reason: reason ?? null } }, now)
      })
    },
  }
}

function decide(
  d: IdentityDeps,
  tx: <T>(fn: () => T) => T,
  node: string,
  state: 'approved' | 'denied',
  actor: string,
): void {
  const now = d.now()
  tx(() => {
    const rows = d.access.decide(node, state, actor, now.toISOString())
    if (rows.length === 0) {
      throw new BackstopError(
        'BK_ERR_API_NOT_FOUND',
        `node "${node}" has no pending enrollment request; see: backstop-collector node list`,
      )
    }
    for (const r of rows) {
      d.audit.append(
        {
          actor,
          action: state === 'approved' ? 'enroll.approve' : 'enroll.deny',
          target: node,
          detail: { fingerprint: r.fingerprint, hostname: r.hostname },
        },
        now,
      )
    }
  })
}
