import { alertKey, alertAfter, defaultFoldedKinds, judgeNodePresence, type OfflineCause } from '@backstop/shared'
import type { LedgerContext } from './context.ts'

/**
 * Node liveness (shared judgeNodePresence): a node is away when its status says offline (its Last Will, or a
 * graceful stop with its reason) or its last heartbeat is older than `nodeTimeoutS` (a half-open session never
 * triggers the will). node-down fires only when an offline node is not back after `nodeDownAfterS` — critical
 * when it was lost, warning when it was stopped on purpose. While a node is away and for `catchUpGraceS` after
 * it returned, its missed-backup and compliance alerts are folded (recorded, published with suppressedBy, not
 * notified); those still firing after that speak for themselves. The next time the judgement changes by time
 * alone joins the single-timer index via node_liveness.deadline_at.
 */
export function createNodeLiveness(ctx: LedgerContext) {
  const { db } = ctx
  const nodeRow = db.prepare<
    [string],
    {
      status: 'online' | 'offline' | 'unknown'
      status_reason: string | null
      heartbeat_at: string | null
      status_at: string | null
      heartbeat: string | null
    }
  >('SELECT status, status_reason, heartbeat_at, status_at, heartbeat FROM nodes WHERE node = ?')

  /** Learn each auto expectation's period from the agent's announced next run (see migration 0012). */
  const learnPeriods = (node: string, heartbeat: string | null): void => {
    let jobs: { job?: unknown; nextRunAt?: unknown }[] = []
    try {
      jobs = (JSON.parse(heartbeat ?? '{}') as { jobs?: typeof jobs }).jobs ?? []
    } catch {
      return
    }
    for (const j of jobs) {
      const next = typeof j.nextRunAt === 'string' ? Date.parse(j.nextRunAt) : NaN
      if (typeof j.job !== 'string' || !Number.isFinite(next)) {
        continue
      }
      for (const e of ctx.expectations.toLearn(node, j.job)) {
        const last = e.state.lastFinishAt as number
        const periodS = Math.ceil((next - last) / 1000)
        if (periodS < 60 || periodS > 365 * 86400) {
          continue
        }
        const state = { ...e.state, schedule: { kind: 'period' as const, periodS } }
        ctx.expectations.learned(e.id, periodS, last, alertAfter(state))
      }
    }
  }
  const prev = db.prepare<[string], { away_since: number | null; back_at: number | null; folding: number }>(
    'SELECT away_since, back_at, folding FROM node_liveness WHERE node = ?',
  )
  const put = db.prepare(`INSERT INTO node_liveness (node, down, reason, deadline_at, away_since, back_at, folding)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (node) DO UPDATE SET down = excluded.down, reason = excluded.reason, deadline_at = excluded.deadline_at,
      away_since = excluded.away_since, back_at = excluded.back_at, folding = excluded.folding`)
  const allOf = db.prepare<[], { node: string; down: number; folding: number; away_since: number | null }>(
    'SELECT node, down, folding, away_since FROM node_liveness WHERE down = 1 OR folding = 1',
  )
  const due = db.prepare<[number, number], { node: string }>(
    'SELECT node FROM node_liveness WHERE deadline_at IS NOT NULL AND deadline_at <= ? ORDER BY deadline_at LIMIT ?',
  )
  const next = db.prepare<[], { t: number | null }>(
    'SELECT min(deadline_at) AS t FROM node_liveness WHERE deadline_at IS NOT NULL',
  )
  const rows = allOf.all()
  const down = new Set(rows.filter((r) => r.down === 1).map((r) => r.node))
  const folding = new Map<string, string>()
  const toggle = (set: Set<string>, node: string, on: boolean): void => {
    if (on) {
      set.add(node)
    } else {
      set.delete(node)
    }
  }
  /**
   * What folds a node's alerts, as `suppressedBy` names it: its node-down alert while that fires, `node-away/<node>`
   * while it is away but not yet down (nodeDownAfterS), `catch-up/<node>` after its return (catchUpGraceS) — never
   * an alert that does not exist.
   */
  const setFolding = (node: string, on: boolean, isDown: boolean, away: boolean): void => {
    if (!on) {
      folding.delete(node)
      return
    }
    folding.set(node, isDown ? alertKey('node-down', node) : away ? `node-away/${node}` : `catch-up/${node}`)
  }
  for (const r of rows.filter((x) => x.folding === 1)) {
    setFolding(r.node, true, r.down === 1, r.away_since !== null)
  }

  return {
    /** Nodes whose node-down alert fires. */
    downNodes: (): ReadonlySet<string> => down,
    /** Nodes whose asset alerts are folded now (away, or back within their catch-up grace) → what folds them. */
    foldingNodes: (): ReadonlyMap<string, string> => folding,
    due: (now: number, limit: number): string[] => due.all(now, limit).map((r) => r.node),
    nextDeadline: (): number | null => next.get()?.t ?? null,

    update(node: string, now: number): void {
      const n = nodeRow.get(node)
      if (n === undefined) {
        return
      }
      learnPeriods(node, n.heartbeat)
      const before = prev.get(node)
      const j = judgeNodePresence(
        {
          status: n.status,
          offlineCause: n.status === 'offline' ? (n.status_reason as OfflineCause | null) : null,
          statusAt: n.status_at ? Date.parse(n.status_at) : null,
          heartbeatAt: n.heartbeat_at ? Date.parse(n.heartbeat_at) : null,
          wasAway: before !== undefined && before.away_since !== null,
          backAt: before?.back_at ?? null,
        },
        ctx.config,
        now,
      )
      put.run(node, j.down ? 1 : 0, j.reason, j.nextAt, j.awaySince, j.backAt, j.folding ? 1 : 0)
      toggle(down, node, j.down)
      setFolding(node, j.folding, j.down, j.awaySince !== null)
      if (j.folding) {
        ctx.alerts.refold(node, folding.get(node)!, now)
      }
      const folded = ctx.alerts.firingOfNode(node).filter((a) => defaultFoldedKinds.includes(a.kind))
      ctx.alerts.raise(
        {
          key: alertKey('node-down', node),
          kind: 'node-down',
          node,
          severity: j.severity,
          firing: j.down,
          summary: j.down
            ? `node ${node} is down: ${j.reason}; ${folded.length} backup alerts folded under this one`
            : `node ${node} is up`,
        },
        j.down && j.downAt !== null ? j.downAt : now,
      )
      if (before?.folding === 1 && !j.folding) {
        // The node is back and its catch-up runs had their grace: conditions that still hold speak for themselves.
        for (const a of folded) {
          ctx.alerts.raise(
            { key: a.key, kind: a.kind, node: a.node, severity: a.severity, summary: a.summary, firing: true },
            now,
          )
        }
      }
    },
  }
}
export type NodeLiveness = ReturnType<typeof createNodeLiveness>
