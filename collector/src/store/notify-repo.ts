import type { AlertFlip, Severity } from '@backstop/shared'
import type { ChannelKind, Credentials, MaskedCredentials } from './channel-types.ts'
import type { Db } from './db.ts'
import { createNotifySecrets, listedCredentials } from './notify-secrets.ts'

export type { ChannelKind }

export interface ChannelRow {
  readonly id: number
  readonly name: string
  readonly kind: ChannelKind
  readonly url: string
  readonly minSeverity: Severity
  readonly enabled: boolean
  readonly createdAt: number
  /** Type and user name only; the secret never leaves the repo through this list. */
  readonly credentials: MaskedCredentials | null
  /** Delivery health (Healthchecks keeps last_notify / last_error per channel the same way). */
  readonly health: {
    readonly lastOkAt: number | null
    readonly lastErrorAt: number | null
    readonly lastError: string | null
    readonly consecutiveFailures: number
    readonly deliveredTotal: number
    readonly failedTotal: number
    readonly pending: number
    readonly dead: number
  }
}

export interface QueuedDelivery {
  readonly id: number
  readonly channelId: number
  readonly flipId: number
  readonly flip: AlertFlip
  readonly attempts: number
}

/** A channel as the deliverer needs it: where to send and with which secret. */
export interface DeliveryTarget {
  readonly id: number
  readonly name: string
  readonly kind: ChannelKind
  readonly url: string
  readonly credentials: Credentials | null
}

const SEV = "CASE min_severity WHEN 'info' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"

export function createNotifyRepo(db: Db) {
  const channels = db.prepare(`SELECT c.*, s.type AS secret_type, s.username AS secret_username,
    (SELECT count(*) FROM notify_queue q WHERE q.channel_id = c.id AND q.state = 'pending') AS pending,
    (SELECT count(*) FROM notify_queue q WHERE q.channel_id = c.id AND q.state = 'dead') AS dead
    FROM notify_channels c LEFT JOIN notify_secrets s ON s.channel_id = c.id ORDER BY c.id`)
  const secrets = createNotifySecrets(db)
  const add = db.prepare(
    'INSERT INTO notify_channels (name, kind, url, min_severity, enabled, created_at) ' +
      'VALUES (@name, @kind, @url, @minSeverity, 1, @at)',
  )
  const enqueue =
    db.prepare(`INSERT OR IGNORE INTO notify_queue (channel_id, flip_id, payload, next_attempt_at, created_at)
    SELECT id, @flipId, @payload, @at, @at FROM notify_channels WHERE enabled = 1 AND ${SEV} <= @sev`)
  const due = db.prepare<
    [number, number],
    { id: number; channel_id: number; flip_id: number; payload: string; attempts: number }
  >(
    `SELECT id, channel_id, flip_id, payload, attempts FROM notify_queue WHERE state = 'pending' ` +
      'AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?',
  )
  const next = db.prepare<[], { t: number | null }>(
    `SELECT min(next_attempt_at) AS t FROM notify_queue WHERE state = 'pending'`,
  )
  const sent = db.prepare(
    `UPDATE notify_queue SET state = 'sent', attempts = attempts + 1, done_at = ?, last_error = NULL WHERE id = ?`,
  )
  const retry = db.prepare(
    `UPDATE notify_queue SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?`,
  )
  const dead = db.prepare(
    `UPDATE notify_queue SET state = 'dead', attempts = attempts + 1, done_at = ?, last_error = ? WHERE id = ?`,
  )
  const ok = db.prepare(
    'UPDATE notify_channels SET last_ok_at = ?, consecutive_failures = 0, ' +
      'delivered_total = delivered_total + 1 WHERE id = ?',
  )
  const fail = db.prepare(
    'UPDATE notify_channels SET last_error_at = ?, last_error = ?, ' +
      'consecutive_failures = consecutive_failures + 1, failed_total = failed_total + 1 WHERE id = ?',
  )
  const byId = db.prepare<[number], { id: number; kind: ChannelKind; url: string; name: string }>(
    'SELECT id, kind, url, name FROM notify_channels WHERE id = ?',
  )
  secrets.moveUrlCredentials()
  return {
    channels(): ChannelRow[] {
      return (channels.all() as Record<string, number | string | null>[]).map((r) => ({
        id: r.id as number,
        name: r.name as string,
        kind: r.kind as ChannelKind,
        url: r.url as string,
        minSeverity: r.min_severity as Severity,
        enabled: r.enabled === 1,
        createdAt: r.created_at as number,
        credentials: listedCredentials(r.secret_type as string | null, r.secret_username as string | null),
        health: {
          lastOkAt: r.last_ok_at as number | null,
          lastErrorAt: r.last_error_at as number | null,
          lastError: r.last_error as string | null,
          consecutiveFailures: r.consecutive_failures as number,
          deliveredTotal: r.delivered_total as number,
          failedTotal: r.failed_total as number,
          pending: r.pending as number,
          dead: r.dead as number,
        },
      }))
    },
    /** The channel and its credentials in one transaction (a webhook without a secret would go out unsigned). */
    addChannel(
      c: { name: string; kind: ChannelKind; url: string; minSeverity: Severity; credentials?: Credentials | null },
      at: number,
    ): number {
      const { credentials, ...row } = c
      return db.transaction(() => {
        const id = Number(add.run({ ...row, at }).lastInsertRowid)
        secrets.put(id, credentials ?? null, at)
        return id
      })()
    },
    /** Replaces (or with null removes) a channel's credentials; false when there is no such channel. */
    setCredentials(id: number, c: Credentials | null, at: number): boolean {
      return db.transaction(() => {
        if (byId.get(id) === undefined) {
          return false
        }
        secrets.put(id, c, at)
        return true
      })()
    },
    removeChannel(id: number): boolean {
      return db.prepare('DELETE FROM notify_channels WHERE id = ?').run(id).changes > 0
    },
    channel(id: number): DeliveryTarget | undefined {
      const ch = byId.get(id)
      return ch === undefined ? undefined : { ...ch, credentials: secrets.get(id) }
    },
    /** One queue row per eligible channel; call inside the transaction that recorded the flip. */
    enqueue(flipId: number, flip: AlertFlip, at: number): void {
      const sev = flip.severity === 'info' ? 0 : flip.severity === 'warning' ? 1 : 2
      enqueue.run({ flipId, payload: JSON.stringify(flip), at, sev })
    },
    due(now: number, limit: number): QueuedDelivery[] {
      return due.all(now, limit).map((r) => ({
        id: r.id,
        channelId: r.channel_id,
        flipId: r.flip_id,
        flip: JSON.parse(r.payload) as AlertFlip,
        attempts: r.attempts,
      }))
    },
    nextDue(): number | null {
      return next.get()?.t ?? null
    },
    delivered(d: QueuedDelivery, at: number): void {
      db.transaction(() => {
        sent.run(at, d.id)
        ok.run(at, d.channelId)
      })()
    },
    failed(d: QueuedDelivery, at: number, error: string, retryAt: number | null): void {
      db.transaction(() => {
        if (retryAt === null) {
          dead.run(at, error, d.id)
        } else {
          retry.run(retryAt, error, d.id)
        }
        fail.run(at, error, d.channelId)
      })()
    },
  }
}
export type NotifyRepo = ReturnType<typeof createNotifyRepo>
