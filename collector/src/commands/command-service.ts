import { randomBytes } from 'node:crypto'
import {
  BackstopError,
  type CommandKind,
  type CommandOutcome,
  type CommandResultBody,
  nodeTopic,
  signCommand,
  type SignedCommand,
  type UnsignedCommand,
} from '@backstop/shared'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Db } from '../store/db.ts'
import { createCopyResults } from './copy-results.ts'

/**
 * Operator → node commands (run a job now, re-verify a copy, restore test). Each is signed with the collector key,
 * bound to one node, carries a random 128-bit nonce and a short expiry, is stored and audited before it is
 * published on backstop/v1/<node>/commands (QoS 1: the node's persistent session queues it while offline).
 */
export interface CommandArgs {
  'run-job': { job: string }
  'reverify-copy': { job: string; copyId: string }
  'restore-test': { job: string; copyId?: string }
}

export interface IssueRequest<K extends CommandKind = CommandKind> {
  readonly node: string
  readonly kind: K
  readonly args: CommandArgs[K]
  readonly requestedBy: string
  /** Default 5 minutes, at most 1 hour (the agent refuses longer windows). */
  readonly ttlMs?: number
}

export interface CommandRow {
  readonly id: string
  readonly node: string
  readonly kind: CommandKind
  readonly args: unknown
  readonly requestedBy: string
  readonly issuedAt: string
  readonly expiresAt: string
  readonly status: 'sent' | CommandResultBody['status']
  readonly resultCode: string | null
  readonly resultMessage: string | null
  readonly runId: string | null
  /** reverify-copy / restore-test: what the agent checked and found (null for run-job and before a result). */
  readonly outcome: CommandOutcome | null
  readonly updatedAt: string
}

export interface CommandService {
  issue(r: IssueRequest): SignedCommand
  get(id: string): CommandRow | undefined
  list(node?: string, limit?: number): CommandRow[]
  /** From a `command.result` envelope, inside the ingest batch. false = unknown command id (counted, not applied). */
  recordResult(node: string, body: CommandResultBody, receivedAt: string): boolean
}

export interface CommandDeps {
  readonly db: Db
  readonly audit: AuditLog
  readonly collectorSecretKey: string
  readonly now: () => Date
  readonly publish: (topic: string, payload: Buffer) => void
  /** Refuse commands to unknown or revoked nodes before signing anything. */
  readonly nodeState: (node: string) => 'active' | 'revoked' | 'reenroll' | 'unknown'
}

/** Results only move forward: a late `accepted` never overwrites `succeeded`. */
const RANK: Record<CommandRow['status'], number> = { sent: 0, accepted: 1, rejected: 2, succeeded: 2, failed: 2 }

interface Raw {
  id: string
  node: string
  kind: CommandKind
  args: string
  requested_by: string
  issued_at: string
  expires_at: string
  status: CommandRow['status']
  result_code: string | null
  result_msg: string | null
  run_id: string | null
  updated_at: string
  outcome: string | null
}

export function createCommandService(d: CommandDeps): CommandService {
  const ins = d.db
    .prepare(`INSERT INTO commands (id, node, kind, args, requested_by, issued_at, expires_at, signed, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  const get = d.db.prepare<[string], Raw>('SELECT * FROM commands WHERE id = ?')
  const byNode = d.db.prepare<[string, number], Raw>(
    'SELECT * FROM commands WHERE node = ? ORDER BY issued_at DESC LIMIT ?',
  )
  const all = d.db.prepare<[number], Raw>('SELECT * FROM commands ORDER BY issued_at DESC LIMIT ?')
  const upd = d.db.prepare(
    'UPDATE commands SET status = ?, result_code = ?, result_msg = ?, run_id = coalesce(?, run_id), ' +
      'outcome = coalesce(?, outcome), updated_at = ? WHERE id = ?',
  )
  const copyResults = createCopyResults(d.db)

  return {
    issue: (r) => {
      const state = d.nodeState(r.node)
      if (state === 'unknown') {
        throw new BackstopError('BK_ERR_API_NOT_FOUND', `no enrolled node "${r.node}"`)
      }
      if (state === 'revoked') {
        throw new BackstopError('BK_ERR_NODE_REVOKED', `node "${r.node}" is revoked; commands are not sent to it`)
      }
      const ttl = r.ttlMs ?? 5 * 60_000
      if (!(ttl >= 1000 && ttl <= 60 * 60_000)) {
        throw new BackstopError('BK_ERR_API_VALIDATION', `command ttl must be between 1 s and 1 h, got ${ttl} ms`)
      }
      const now = d.now()
      const unsigned = {
        v: 1,
        type: 'command',
        id: randomBytes(16).toString('base64url'),
        node: r.node,
        kind: r.kind,
        args: r.args,
        issuedAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ttl).toISOString(),
        requestedBy: r.requestedBy,
      } as UnsignedCommand
      const signed = signCommand(unsigned, d.collectorSecretKey)
      const json = JSON.stringify(signed)
      d.db
        .transaction(() => {
          ins.run(
            signed.id,
            r.node,
            r.kind,
            JSON.stringify(r.args),
            r.requestedBy,
            signed.issuedAt,
            signed.expiresAt,
            json,
            signed.issuedAt,
          )
          d.audit.append(
            {
              actor: r.requestedBy,
              action: 'command.issue',
              target: r.node,
              detail: { id: signed.id, kind: r.kind, args: r.args, expiresAt: signed.expiresAt },
            },
            now,
          )
        })
        .immediate()
      // Published only after the commit: a command the ledger does not know about never reaches a node.
      d.publish(nodeTopic(r.node, 'commands'), Buffer.from(json))
      return signed
    },
    get: (id) => toRow(get.get(id)),
    list: (node, limit = 100) => (node ? byNode.all(node, limit) : all.all(limit)).map((r) => toRow(r) as CommandRow),
    recordResult: (node, body, receivedAt) => {
      const row = get.get(body.commandId)
      if (!row || row.node !== node) {
        return false
      }
      if (RANK[body.status] > RANK[row.status]) {
        upd.run(
          body.status,
          body.code ?? null,
          body.message ?? null,
          body.runId ?? null,
          body.outcome ? JSON.stringify(body.outcome) : null,
          receivedAt,
          body.commandId,
        )
        // The copy's ledger row follows the finding (same transaction; the ledger trigger re-judges the asset).
        if (body.outcome && (body.status === 'succeeded' || body.status === 'failed') && row.kind === body.kind) {
          copyResults.apply(node, body.commandId, row.kind, JSON.parse(row.args) as { copyId?: string }, body.outcome)
        }
      }
      d.audit.append(
        {
          actor: `node:${node}`,
          action: `command.${body.status}`,
          target: node,
          detail: {
            id: body.commandId,
            kind: body.kind,
            code: body.code ?? null,
            runId: body.runId ?? null,
            ...(body.outcome ? { result: body.outcome.result, copyId: body.outcome.copyId ?? null } : {}),
          },
        },
        new Date(receivedAt),
      )
      return true
    },
  }
}

function toRow(r: Raw | undefined): CommandRow | undefined {
  return (
    r && {
      id: r.id,
      node: r.node,
      kind: r.kind,
      args: JSON.parse(r.args) as unknown,
      requestedBy: r.requested_by,
      issuedAt: r.issued_at,
      expiresAt: r.expires_at,
      status: r.status,
      resultCode: r.result_code,
      resultMessage: r.result_msg,
      runId: r.run_id,
      outcome: r.outcome ? (JSON.parse(r.outcome) as CommandOutcome) : null,
      updatedAt: r.updated_at,
    }
  )
}
