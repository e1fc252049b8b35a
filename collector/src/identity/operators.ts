import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { BackstopError } from '@backstop/shared'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Db } from '../store/db.ts'

/**
 * Read-only MQTT clients (dashboards, a Home Assistant bridge): username `operator:<name>`, password a random
 * secret shown once. They may subscribe to the alert topics and nothing else, and publish nothing.
 */
export const OPERATOR_PREFIX = 'operator:'
const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/

export interface Operators {
  create(name: string, actor: string): { username: string; password: string }
  revoke(name: string, actor: string): void
  /** Username + password → operator name, or undefined. Constant-time compare of fixed-length digests. */
  authenticate(username: string, password: Buffer | undefined): string | undefined
  list(): { name: string; createdAt: string; revokedAt: string | null }[]
}

function digest(secret: Buffer | string): Buffer {
  return createHash('sha256').update('backstop-mqtt-operator\n').update(secret).digest()
}

export function createOperators(db: Db, audit: AuditLog, now: () => Date): Operators {
  const ins = db.prepare('INSERT INTO mqtt_operators (name, secret_hash, created_at, created_by) VALUES (?, ?, ?, ?)')
  const get = db.prepare<[string], { secret_hash: string; revoked_at: string | null }>(
    'SELECT secret_hash, revoked_at FROM mqtt_operators WHERE name = ?',
  )
  const rev = db.prepare('UPDATE mqtt_operators SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL')
  const list = db.prepare<[], { name: string; created_at: string; revoked_at: string | null }>(
    'SELECT name, created_at, revoked_at FROM mqtt_operators ORDER BY name',
  )
  const dummy = digest('no such operator')
  return {
    create: (name, actor) => {
      if (!NAME_RE.test(name)) {
        throw new BackstopError(
          'BK_ERR_API_VALIDATION',
          `operator name ${JSON.stringify(name)}: use lowercase letters, digits, '.', '_' or '-'`,
        )
      }
      const password = randomBytes(32).toString('base64url')
      const at = now()
      db.transaction(() => {
        ins.run(name, digest(password).toString('hex'), at.toISOString(), actor)
        audit.append({ actor, action: 'mqtt-operator.create', target: name, detail: {} }, at)
      }).immediate()
      return { username: `${OPERATOR_PREFIX}${name}`, password }
    },
    revoke: (name, actor) => {
      const at = now()
      db.transaction(() => {
        if (rev.run(at.toISOString(), name).changes !== 1) {
          throw new BackstopError('BK_ERR_API_NOT_FOUND', `no active MQTT operator "${name}"`)
        }
        audit.append({ actor, action: 'mqtt-operator.revoke', target: name, detail: {} }, at)
      }).immediate()
    },
    authenticate: (username, password) => {
      if (!username.startsWith(OPERATOR_PREFIX) || !password) {
        return undefined
      }
      const name = username.slice(OPERATOR_PREFIX.length)
      const row = NAME_RE.test(name) ? get.get(name) : undefined
      const stored = row ? Buffer.from(row.secret_hash, 'hex') : dummy
      const ok = timingSafeEqual(stored, digest(password))
      return ok && row && !row.revoked_at ? name : undefined
    },
    list: () => list.all().map((r) => ({ name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at })),
  }
}
