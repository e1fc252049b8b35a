import { maskCredentials, splitUrlCredentials, type Credentials, type MaskedCredentials } from './channel-types.ts'
import type { Db } from './db.ts'

interface SecretRow {
  type: Credentials['type']
  username: string | null
  secret: string
}

function credentialsOf(r: SecretRow | undefined): Credentials | null {
  if (r === undefined) {
    return null
  }
  if (r.type === 'basic') {
    return { type: 'basic', username: r.username ?? '', password: r.secret }
  }
  return r.type === 'token' ? { type: 'token', token: r.secret } : { type: 'hmac', secret: r.secret }
}

/** A listed channel's credentials from its row's type and user name: the secret is never read for a list. */
export function listedCredentials(type: string | null, username: string | null): MaskedCredentials | null {
  return type === null
    ? null
    : maskCredentials(credentialsOf({ type: type as Credentials['type'], username, secret: '' }))
}

/** notify_secrets (migration 0024): one credential per channel, read only by the deliverer. */
export function createNotifySecrets(db: Db) {
  const get = db.prepare<[number], SecretRow>('SELECT type, username, secret FROM notify_secrets WHERE channel_id = ?')
  const put = db.prepare(`INSERT INTO notify_secrets (channel_id, type, username, secret, set_at)
    VALUES (@id, @type, @username, @secret, @at) ON CONFLICT (channel_id) DO UPDATE SET type = excluded.type,
    username = excluded.username, secret = excluded.secret, set_at = excluded.set_at`)
  const drop = db.prepare('DELETE FROM notify_secrets WHERE channel_id = ?')
  const setUrl = db.prepare('UPDATE notify_channels SET url = ? WHERE id = ?')
  const self = {
    get: (id: number): Credentials | null => credentialsOf(get.get(id)),
    /** Stores (or with null removes) a channel's credentials; call inside the caller's transaction. */
    put(id: number, c: Credentials | null, at: number): void {
      if (c === null) {
        drop.run(id)
        return
      }
      const [username, secret] =
        c.type === 'basic' ? [c.username, c.password] : [null, c.type === 'token' ? c.token : c.secret]
      put.run({ id, type: c.type, username, secret, at })
    },
    /**
     * ntfy channels stored with user:pass@ in the URL (accepted before credentials existed; fetch refuses such a
     * URL, so they never delivered): user and password move here and the URL keeps neither. Idempotent.
     */
    moveUrlCredentials(): void {
      const rows = db
        .prepare<[], { id: number; url: string; created_at: number }>(
          "SELECT id, url, created_at FROM notify_channels WHERE kind = 'ntfy' AND instr(url, '@') > 0",
        )
        .all()
      for (const r of rows) {
        const split = splitUrlCredentials(r.url)
        if (split !== null) {
          db.transaction(() => {
            self.put(r.id, split.credentials, r.created_at)
            setUrl.run(split.url, r.id)
          })()
        }
      }
    },
  }
  return self
}
