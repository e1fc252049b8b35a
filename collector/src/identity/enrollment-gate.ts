import { BackstopError, keyFingerprint } from '@backstop/shared'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Db } from '../store/db.ts'
import { createEventsRepo } from '../store/events-repo.ts'
import type { AccessRepo } from './node-access.ts'
import { isOneTimeShape, type TokensRepo } from './enrollment-tokens.ts'

export interface EnrollRequest {
  readonly node: string
  readonly publicKey: string
  readonly token: string
  readonly hostname: string
  readonly now: Date
}

export type Admission = 'new' | 'same-key' | 'key-replaced'

export interface EnrollmentGate {
  /**
   * Decides an enrollment before the ingest batch applies it (the pinning itself stays in ingest/enroll.ts).
   * Throws BK_ERR_ENROLL_TOKEN / BK_ERR_NODE_REVOKED / BK_ERR_ENROLL_PENDING / BK_ERR_NODE_KEY_MISMATCH.
   * Its writes (token binding, approval requests, a key replacement an admin allowed) commit on their own:
   * a pending request must survive the rejection it causes.
   */
  admit(r: EnrollRequest): Admission
}

export interface GateDeps {
  readonly db: Db
  readonly tokens: TokensRepo
  readonly access: AccessRepo
  readonly audit: AuditLog
  /**
   * Static tokens from the collector config (`enrollment.tokens`): reusable until their expiresAt. The check
   * (identity/static-tokens.ts) throws BK_ERR_ENROLL_TOKEN for an expired one, which refuses the enrollment.
   */
  readonly staticTokens: (token: string) => boolean
  /** Whether static tokens need an admin approval too (config `enrollment.requireApproval`). */
  readonly staticRequireApproval?: boolean
}

export function createEnrollmentGate(d: GateDeps): EnrollmentGate {
  const pinned = d.db.prepare<[string], { public_key: string; fingerprint: string }>(
    'SELECT public_key, fingerprint FROM nodes WHERE node = ?',
  )
  const replaceKey = d.db.prepare('UPDATE nodes SET public_key = ?, fingerprint = ? WHERE node = ?')
  // A new key starts a new agent epoch: its seqs start again at 1, and no envelope of the old key verifies any more,
  // so the old high-water mark (docs/reliability.md "Duplicates") would only hide the new epoch's events.
  const events = createEventsRepo(d.db)
  // Nor does any backup cover the new epoch: an old checkpoint would let its agent release uncovered events.
  const dropCheckpoint = d.db.prepare('DELETE FROM node_checkpoints WHERE node = ?')

  const admit = (r: EnrollRequest): Admission => {
    const at = r.now.toISOString()
    const access = d.access.get(r.node)
    if (access?.state === 'revoked') {
      throw new BackstopError(
        'BK_ERR_NODE_REVOKED',
        `node "${r.node}" was revoked at ${access.changedAt} by ${access.changedBy}` +
          `${access.reason ? ` (${access.reason})` : ''}; ` +
          `to let it back in: backstop-collector node reenroll ${r.node}`,
      )
    }
    const row = d.tokens.find(r.token)
    // A token shaped like a one-time token is decided by the table alone, never by the static list: the ingest's
    // stateless token check lets that shape through (to reach this gate), so it must not count as a static match.
    const staticOk = !isOneTimeShape(r.token) && d.staticTokens(r.token)
    if (!row && !staticOk) {
      throw new BackstopError(
        'BK_ERR_ENROLL_TOKEN',
        `node "${r.node}" presented a token that matches no one-time token and none of enrollment.tokens; ` +
          'create one with: backstop-collector token create',
      )
    }
    if (row) {
      if (row.revokedAt) {
        throw new BackstopError(
          'BK_ERR_ENROLL_TOKEN',
          `token ${row.id} was revoked at ${row.revokedAt}; create a new one`,
        )
      }
      if (row.usedAt && (row.usedByNode !== r.node || row.usedByKey !== r.publicKey)) {
        throw new BackstopError(
          'BK_ERR_ENROLL_TOKEN',
          `token ${row.id} was already used by node "${row.usedByNode}" at ${row.usedAt}; ` +
            'tokens are one-time, create a new one',
        )
      }
      if (!row.usedAt && Date.parse(row.expiresAt) <= r.now.getTime()) {
        throw new BackstopError(
          'BK_ERR_ENROLL_TOKEN',
          `token ${row.id} expired at ${row.expiresAt}; create a new one (token create --ttl)`,
        )
      }
    }
    const bind = (): void => {
      if (row && !row.usedAt) {
        d.tokens.markUsed(row.id, r.node, r.publicKey, at)
      }
    }
    const tokenRef = row ? row.id : 'static'
    const fp = keyFingerprint(r.publicKey)
    const current = pinned.get(r.node)

    if (current && current.public_key === r.publicKey) {
      bind()
      return 'same-key'
    }
    if (current) {
      if (access?.state !== 'reenroll') {
        throw new BackstopError(
          'BK_ERR_NODE_KEY_MISMATCH',
          `node "${r.node}" is pinned to key ${current.fingerprint} but enrolled with ${fp}; ` +
            `if it was reinstalled, allow it with: backstop-collector node reenroll ${r.node}`,
        )
      }
      d.db.transaction(() => {
        bind()
        replaceKey.run(r.publicKey, fp, r.node)
        events.resetHighWater(r.node, r.now.getTime())
        dropCheckpoint.run(r.node)
        d.access.clear(r.node)
        d.audit.append(
          {
            actor: `node:${r.node}`,
            action: 'node.reenroll',
            target: r.node,
            detail: {
              oldFingerprint: current.fingerprint,
              newFingerprint: fp,
              token: tokenRef,
              hostname: r.hostname,
              allowedBy: access.changedBy,
            },
          },
          r.now,
        )
      })()
      return 'key-replaced'
    }
    const needsApproval = row ? row.requireApproval : (d.staticRequireApproval ?? false)
    if (needsApproval) {
      const req = d.access.request(r.node, r.publicKey)
      if (req?.state === 'denied') {
        throw new BackstopError(
          'BK_ERR_ENROLL_TOKEN',
          `enrollment of node "${r.node}" (key ${fp}) was denied by ${req.decidedBy} at ${req.decidedAt}`,
        )
      }
      if (req?.state !== 'approved') {
        d.db.transaction(() => {
          bind()
          if (!req) {
            d.access.addRequest({
              node: r.node,
              publicKey: r.publicKey,
              fingerprint: fp,
              tokenId: row?.id ?? null,
              hostname: r.hostname,
              reason: 'approval-required',
              requestedAt: at,
            })
            d.audit.append(
              {
                actor: `node:${r.node}`,
                action: 'enroll.request',
                target: r.node,
                detail: { fingerprint: fp, token: tokenRef, hostname: r.hostname },
              },
              r.now,
            )
          }
        })()
        throw new BackstopError(
          'BK_ERR_ENROLL_PENDING',
          `node "${r.node}" (key ${fp}, host ${r.hostname}) waits for an admin: ` +
            `backstop-collector node approve ${r.node}; the agent keeps retrying`,
        )
      }
    }
    d.db.transaction(() => {
      bind()
      d.audit.append(
        {
          actor: `node:${r.node}`,
          action: 'enroll.admit',
          target: r.node,
          detail: { fingerprint: fp, token: tokenRef, hostname: r.hostname, approved: needsApproval },
        },
        r.now,
      )
    })()
    return 'new'
  }
  return { admit }
}
