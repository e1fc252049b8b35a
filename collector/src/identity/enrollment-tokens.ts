import { createHash, randomBytes } from 'node:crypto'
import type { Db } from '../store/db.ts'

/**
 * One-time enrollment tokens: `bk_<id>_<secret>`. Only sha256(secret-token) is stored; 32 random bytes make a
 * fast hash safe (nothing to brute-force). A token binds to the first node + key that uses it: the same agent
 * may retry with it (idempotent enrollment), nobody else can use it again.
 */
export interface TokenRow {
  readonly id: string
  readonly createdAt: string
  readonly createdBy: string
  readonly expiresAt: string
  readonly requireApproval: boolean
  readonly note: string | null
  readonly usedAt: string | null
  readonly usedByNode: string | null
  readonly usedByKey: string | null
  readonly revokedAt: string | null
}

export interface CreatedToken {
  readonly id: string
  /** Shown once; the collector keeps only its hash. */
  readonly token: string
  readonly expiresAt: string
}

export interface TokensRepo {
  create(o: {
    ttlMs: number
    requireApproval: boolean
    note?: string | undefined
    createdBy: string
    now: Date
  }): CreatedToken
  /** By secret: undefined when no such token exists (config tokens are checked elsewhere). */
  find(token: string): TokenRow | undefined
  get(id: string): TokenRow | undefined
  list(): TokenRow[]
  markUsed(id: string, node: string, publicKey: string, at: string): void
  revoke(id: string, at: string): boolean
}

const TOKEN_RE = /^bk_([a-z0-9]{8})_[A-Za-z0-9_-]{43}$/

export function isOneTimeShape(token: string): boolean {
  return TOKEN_RE.test(token)
}

export function hashToken(token: string): string {
  return createHash('sha256').update(`backstop-enroll\n${token}`, 'utf8').digest('hex')
}

interface Raw {
  id: string
  created_at: string
  created_by: string
  expires_at: string
  require_approval: number
  note: string | null
  used_at: string | null
  used_by_node: string | null
  used_by_key: string | null
  revoked_at: string | null
}

export function createTokensRepo(db: Db): TokensRepo {
  const ins = db.prepare(`INSERT INTO enrollment_tokens (id, token_hash, created_at, created_by,
      expires_at, require_approval, note)
    VALUES (?, ?, ?, ?, ?, ?, ?)`)
  const byHash = db.prepare<[string], Raw>('SELECT * FROM enrollment_tokens WHERE token_hash = ?')
  const byId = db.prepare<[string], Raw>('SELECT * FROM enrollment_tokens WHERE id = ?')
  const all = db.prepare<[], Raw>('SELECT * FROM enrollment_tokens ORDER BY created_at, id')
  const used = db.prepare(
    'UPDATE enrollment_tokens SET used_at = ?, used_by_node = ?, used_by_key = ? WHERE id = ? AND used_at IS NULL',
  )
  const rev = db.prepare('UPDATE enrollment_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
  return {
    create: (o) => {
      const id = randomBytes(5).toString('hex').slice(0, 8)
      const token = `bk_${id}_${randomBytes(32).toString('base64url')}`
      const expiresAt = new Date(o.now.getTime() + o.ttlMs).toISOString()
      ins.run(
        id,
        hashToken(token),
        o.now.toISOString(),
        o.createdBy,
        expiresAt,
        o.requireApproval ? 1 : 0,
        o.note ?? null,
      )
      return { id, token, expiresAt }
    },
    find: (token) => (TOKEN_RE.test(token) ? toRow(byHash.get(hashToken(token))) : undefined),
    get: (id) => toRow(byId.get(id)),
    list: () => all.all().map((r) => toRow(r) as TokenRow),
    markUsed: (id, node, publicKey, at) => {
      used.run(at, node, publicKey, id)
    },
    revoke: (id, at) => rev.run(at, id).changes === 1,
  }
}

function toRow(r: Raw | undefined): TokenRow | undefined {
  return (
    r && {
      id: r.id,
      createdAt: r.created_at,
      createdBy: r.created_by,
      expiresAt: r.expires_at,
      requireApproval: r.require_approval === 1,
      note: r.note,
      usedAt: r.used_at,
      usedByNode: r.used_by_node,
      usedByKey: r.used_by_key,
      revokedAt: r.revoked_at,
    }
  )
}
