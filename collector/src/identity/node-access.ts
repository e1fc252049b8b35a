import type { Db } from '../store/db.ts'

export type AccessState = 'revoked' | 'reenroll'

export interface AccessRow {
  readonly node: string
  readonly state: AccessState
  readonly changedAt: string
  readonly changedBy: string
  readonly reason: string | null
}

export type RequestReason = 'approval-required' | 'key-changed'
export type RequestState = 'pending' | 'approved' | 'denied'

export interface RequestRow {
  readonly id: number
  readonly node: string
  readonly publicKey: string
  readonly fingerprint: string
  readonly tokenId: string | null
  readonly hostname: string | null
  readonly reason: RequestReason
  readonly state: RequestState
  readonly requestedAt: string
  readonly decidedAt: string | null
  readonly decidedBy: string | null
}

/** node_access (revoked / re-enroll allowed) and enrollment_requests (awaiting an admin). */
export interface AccessRepo {
  get(node: string): AccessRow | undefined
  set(node: string, state: AccessState, by: string, at: string, reason?: string): void
  clear(node: string): void
  revokedSince(at: string): AccessRow[]
  request(node: string, publicKey: string): RequestRow | undefined
  addRequest(r: Omit<RequestRow, 'id' | 'state' | 'decidedAt' | 'decidedBy'>): void
  decide(node: string, state: 'approved' | 'denied', by: string, at: string): RequestRow[]
  requests(state?: RequestState): RequestRow[]
}

interface RawReq {
  id: number
  node: string
  public_key: string
  fingerprint: string
  token_id: string | null
  hostname: string | null
  reason: RequestReason
  state: RequestState
  requested_at: string
  decided_at: string | null
  decided_by: string | null
}

export function createAccessRepo(db: Db): AccessRepo {
  const get = db.prepare<
    [string],
    { node: string; state: AccessState; changed_at: string; changed_by: string; reason: string | null }
  >('SELECT * FROM node_access WHERE node = ?')
  const set = db.prepare(`INSERT INTO node_access (node, state, changed_at, changed_by, reason) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (node) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at,
      changed_by = excluded.changed_by, reason = excluded.reason`)
  const clear = db.prepare('DELETE FROM node_access WHERE node = ?')
  const revoked = db.prepare<
    [string],
    { node: string; state: AccessState; changed_at: string; changed_by: string; reason: string | null }
  >("SELECT * FROM node_access WHERE state = 'revoked' AND changed_at >= ? ORDER BY changed_at")
  const req = db.prepare<[string, string], RawReq>(
    'SELECT * FROM enrollment_requests WHERE node = ? AND public_key = ?',
  )
  const addReq = db.prepare(`INSERT INTO enrollment_requests (node, public_key, fingerprint, token_id,
      hostname, reason, requested_at)
    VALUES (@node, @publicKey, @fingerprint, @tokenId, @hostname, @reason, @requestedAt)
    ON CONFLICT (node, public_key) DO UPDATE SET requested_at = excluded.requested_at, hostname = excluded.hostname
    WHERE enrollment_requests.state = 'pending'`)
  const decide = db.prepare<
    [string, string, string, string],
    RawReq
  >(`UPDATE enrollment_requests SET state = ?, decided_by = ?, decided_at = ?
    WHERE node = ? AND state = 'pending' RETURNING *`)
  const listAll = db.prepare<[], RawReq>('SELECT * FROM enrollment_requests ORDER BY requested_at, id')
  const listState = db.prepare<[string], RawReq>(
    'SELECT * FROM enrollment_requests WHERE state = ? ORDER BY requested_at, id',
  )
  const access = (
    r: { node: string; state: AccessState; changed_at: string; changed_by: string; reason: string | null } | undefined,
  ): AccessRow | undefined =>
    r && { node: r.node, state: r.state, changedAt: r.changed_at, changedBy: r.changed_by, reason: r.reason }
  return {
    get: (node) => access(get.get(node)),
    set: (node, state, by, at, reason) => {
      set.run(node, state, at, by, reason ?? null)
    },
    clear: (node) => {
      clear.run(node)
    },
    revokedSince: (at) => revoked.all(at).map((r) => access(r) as AccessRow),
    request: (node, publicKey) => toReq(req.get(node, publicKey)),
    addRequest: (r) => {
      addReq.run(r)
    },
    decide: (node, state, by, at) => decide.all(state, by, at, node).map((r) => toReq(r) as RequestRow),
    requests: (state) => (state ? listState.all(state) : listAll.all()).map((r) => toReq(r) as RequestRow),
  }
}

function toReq(r: RawReq | undefined): RequestRow | undefined {
  return (
    r && {
      id: r.id,
      node: r.node,
      publicKey: r.public_key,
      fingerprint: r.fingerprint,
      tokenId: r.token_id,
      hostname: r.hostname,
      reason: r.reason,
      state: r.state,
      requestedAt: r.requested_at,
      decidedAt: r.decided_at,
      decidedBy: r.decided_by,
    }
  )
}
