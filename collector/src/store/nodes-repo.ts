import type { Db } from './db.ts'
import { isoOf, type EpochMs } from './iso-time.ts'

export type NodeStatus = 'online' | 'offline' | 'unknown'

export interface NodeRow {
  readonly node: string
  readonly publicKey: string
  readonly fingerprint: string
  readonly enrolledAt: string
  readonly hostname: string | null
  readonly agentVersion: string | null
  readonly lastSeen: string | null
  readonly status: NodeStatus
  readonly statusAt: string | null
  /** Why the node is offline (migration 0015): 'shutdown' | 'restart' (graceful) | 'lost' (Last Will); else null. */
  readonly statusReason: string | null
  readonly heartbeat: unknown
  readonly heartbeatAt: string | null
}

interface RawNode {
  node: string
  public_key: string
  fingerprint: string
  enrolled_at: string
  hostname: string | null
  agent_version: string | null
  last_seen: string | null
  status: NodeStatus
  status_at: string | null
  status_reason: string | null
  heartbeat: string | null
  heartbeat_at: string | null
}

const COLUMNS =
  'node, public_key, fingerprint, enrolled_at, hostname, agent_version, last_seen, status, status_at, ' +
  'status_reason, heartbeat, heartbeat_at'

export interface NodesRepo {
  get(node: string): NodeRow | undefined
  list(): NodeRow[]
  /** Pins the key of a new node (enrollment). */
  insert(n: {
    node: string
    publicKey: string
    fingerprint: string
    enrolledAt: EpochMs
    hostname: string
    agentVersion: string
  }): void
  updateIdentity(node: string, hostname: string, agentVersion: string, seenAt: EpochMs): void
  touch(node: string, seenAt: EpochMs): void
  /** false when the node is not enrolled (nothing for the ledger to learn). */
  setHeartbeat(node: string, body: unknown, at: EpochMs, hostname: string, agentVersion: string): boolean
  /**
   * From the retained status topic; an older status (by ts) never overwrites a newer one. true when the row
   * changed (the ledger re-judges the node's liveness). `reason` is kept for `offline` only.
   */
  setStatus(
    node: string,
    status: NodeStatus,
    at: EpochMs,
    seenAt: EpochMs,
    agentVersion?: string,
    reason?: string,
  ): boolean
  /**
   * An event that proves the node is up (its enrollment) marks it online at the event's arrival, unless a status
   * message arrived at or after it. true when the row changed.
   */
  setOnlineFromEvent(node: string, at: EpochMs, agentVersion: string): boolean
}

export function createNodesRepo(db: Db): NodesRepo {
  const get = db.prepare<[string], RawNode>(`SELECT ${COLUMNS} FROM nodes WHERE node = ?`)
  const list = db.prepare<[], RawNode>(`SELECT ${COLUMNS} FROM nodes ORDER BY node`)
  const insert =
    db.prepare(`INSERT INTO nodes (node, public_key, fingerprint, enrolled_at, hostname, agent_version, last_seen)
    VALUES (@node, @publicKey, @fingerprint, @enrolledAt, @hostname, @agentVersion, @enrolledAt)`)
  const identity = db.prepare(
    "UPDATE nodes SET hostname = ?, agent_version = ?, last_seen = max(coalesce(last_seen, ''), ?) WHERE node = ?",
  )
  const touch = db.prepare('UPDATE nodes SET last_seen = ? WHERE node = ? AND (last_seen IS NULL OR last_seen < ?)')
  // A heartbeat proves the node is up: it also marks it online unless a newer status message says otherwise
  // (so a stale Last Will from a previous connection cannot keep a live node "offline"). Strictly newer: a status
  // that arrived in the same millisecond is applied at once while the heartbeat waited for its batch, so it is the
  // later fact (an `offline` from a stop right after a heartbeat must stand).
  const heartbeat = db.prepare(`UPDATE nodes SET heartbeat = @body, heartbeat_at = @at, hostname = @hostname,
    agent_version = @agentVersion, last_seen = max(coalesce(last_seen, ''), @at),
    status = CASE WHEN status_at IS NULL OR status_at < @at THEN 'online' ELSE status END,
    status_reason = CASE WHEN status_at IS NULL OR status_at < @at THEN NULL ELSE status_reason END,
    status_at = max(coalesce(status_at, ''), @at)
    WHERE node = @node`)
  const status = db.prepare(`UPDATE nodes SET status = ?, status_at = ?, status_reason = ?,
    agent_version = coalesce(?, agent_version),
    last_seen = max(coalesce(last_seen, ''), ?) WHERE node = ? AND (status_at IS NULL OR status_at <= ?)`)
  // As the heartbeat: an event's arrival time loses a tie to a status message.
  const onlineFromEvent = db.prepare(`UPDATE nodes SET status = 'online', status_at = @at, status_reason = NULL,
    agent_version = @agentVersion, last_seen = max(coalesce(last_seen, ''), @at)
    WHERE node = @node AND (status_at IS NULL OR status_at < @at)`)
  return {
    get: (node) => toRow(get.get(node)),
    list: () => list.all().map((r) => toRow(r) as NodeRow),
    insert: (n) => {
      insert.run({ ...n, enrolledAt: isoOf(n.enrolledAt) })
    },
    updateIdentity: (node, hostname, agentVersion, seenAt) => {
      identity.run(hostname, agentVersion, isoOf(seenAt), node)
    },
    touch: (node, seenAt) => {
      const at = isoOf(seenAt)
      touch.run(at, node, at)
    },
    setHeartbeat: (node, body, at, hostname, agentVersion) => {
      return heartbeat.run({ body: JSON.stringify(body), at: isoOf(at), hostname, agentVersion, node }).changes > 0
    },
    setStatus: (node, s, at, seenAt, agentVersion, reason) => {
      const t = isoOf(at)
      const why = s === 'offline' ? (reason ?? 'lost') : null
      return status.run(s, t, why, agentVersion ?? null, isoOf(seenAt), node, t).changes > 0
    },
    setOnlineFromEvent: (node, at, agentVersion) =>
      onlineFromEvent.run({ node, at: isoOf(at), agentVersion }).changes > 0,
  }
}

function toRow(r: RawNode | undefined): NodeRow | undefined {
  if (!r) {
    return undefined
  }
  return {
    node: r.node,
    publicKey: r.public_key,
    fingerprint: r.fingerprint,
    enrolledAt: r.enrolled_at,
    hostname: r.hostname,
    agentVersion: r.agent_version,
    lastSeen: r.last_seen,
    status: r.status,
    statusAt: r.status_at,
    statusReason: r.status_reason,
    heartbeat: r.heartbeat === null ? null : JSON.parse(r.heartbeat),
    heartbeatAt: r.heartbeat_at,
  }
}
