import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Db } from '../store/db.ts'

export const apiRoles = ['viewer', 'operator', 'admin'] as const
export type ApiRole = (typeof apiRoles)[number]

export function roleAllows(have: ApiRole, need: ApiRole): boolean {
  return apiRoles.indexOf(have) >= apiRoles.indexOf(need)
}

export interface TokenInfo {
  readonly id: string
  readonly name: string
  readonly role: ApiRole
  readonly createdAt: number
  readonly lastUsedAt: number | null
  readonly revokedAt: number | null
}

/**
 * Bearer tokens `bkt_<id>_<secret>`: the id is public (lists, logs, audit), the 256-bit secret is shown once and
 * stored only as its SHA-256 (a fast hash is enough for a random secret; there is nothing to brute-force).
 */
const TOKEN_RE = /^bkt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

export function createTokensRepo(db: Db) {
  const insert = db.prepare('INSERT INTO api_tokens (id, name, role, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)')
  const byId = db.prepare<
    [string],
    {
      id: string
      name: string
      role: ApiRole
      secret_hash: string
      created_at: number
      last_used_at: number | null
      revoked_at: number | null
    }
  >('SELECT * FROM api_tokens WHERE id = ?')
  const used = db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?')
  const toInfo = (r: NonNullable<ReturnType<typeof byId.get>>): TokenInfo => ({
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  })
  return {
    create(name: string, role: ApiRole, now: number): { token: string; info: TokenInfo } {
      const id = randomBytes(8).toString('hex')
      const secret = randomBytes(32).toString('base64url')
      insert.run(id, name, role, sha256(secret).toString('hex'), now)
      return { token: `bkt_${id}_${secret}`, info: toInfo(byId.get(id)!) }
    },
    /**
     * The token's identity, or undefined for anything malformed, unknown, revoked or wrong (constant time on the
     * secret).
     */
    verify(token: string, now: number): TokenInfo | undefined {
      const m = TOKEN_RE.exec(token)
      if (!m) {
        return undefined
      }
      const row = byId.get(m[1]!)
      if (row === undefined || row.revoked_at !== null) {
        return undefined
      }
      if (!timingSafeEqual(sha256(m[2]!), Buffer.from(row.secret_hash, 'hex'))) {
        return undefined
      }
      // Coarse last-use stamp: one write per token per minute at most.
      if (row.last_used_at === null || now - row.last_used_at > 60_000) {
        used.run(now, row.id)
      }
      return toInfo(row)
    },
    list(): TokenInfo[] {
      return (db.prepare('SELECT * FROM api_tokens ORDER BY created_at').all() as Parameters<typeof toInfo>[0][]).map(
        toInfo,
      )
    },
    revoke(id: string, now: number): boolean {
      return (
        db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, id).changes > 0
      )
    },
  }
}
export type TokensRepo = ReturnType<typeof createTokensRepo>
