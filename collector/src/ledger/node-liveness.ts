import { alertAfter, alertKey, defaultFoldedKinds } from '@backstop/shared'
import type { LedgerContext } from './context.ts'

/**
 * A node is down when its retained status says offline (the Last Will) or its last heartbeat is older than
 * `nodeTimeoutS` (a half-open session never triggers the will). The heartbeat deadline joins the single-timer
 * index via node_liveness.deadline_at. While a node is down, its missed-backup and compliance alerts are folded
 * under its node-down alert (recorded, published with suppressedBy, not notified).
 */
export function createNodeLiveness(ctx: LedgerContext) {
  const { db } = ctx
  const nodeRow = db.prepare<
    [string],
    { status: string; heartbeat_at: string | null; status_at: string | null; heartbeat: string | null }
  >('SELECT status, heartbeat_at, status_at, heartbeat FROM nodes WHERE node = ?')

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
  const prev = db.prepare<[string], { down: number }>('SELECT down FROM node_liveness WHERE node = ?')
  const put = db.prepare(`INSERT INTO node_liveness (node, down, reason, deadline_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (node) DO UPDATE SET down = excluded.down, reason = excluded.reason, deadline_at = excluded.deadline_at`)
  const allDown = db.prepare<[], { node: string }>('SELECT node FROM node_liveness WHERE down = 1')
  const due = db.prepare<[number, number], { node: string }>(
    'SELECT node FROM node_liveness WHERE deadline_at IS NOT NULL AND deadline_at <= ? ORDER BY deadline_at LIMIT ?',
  )
  const next = db.prepare<[], { t: number | null }>(
    'SELECT min(deadline_at) AS t FROM node_liveness WHERE deadline_at IS NOT NULL',
  )
  const down = new Set(allDown.all().map((r) => r.node))

  return {
    downNodes: (): ReadonlySet<string> => down,
    due: (now: number, limit: number): string[] => due.all(now, limit).map((r) => r.node),
    nextDeadline: (): number | null => next.get()?.t ?? null,

    update(node: string, now: number): void {
      const n = nodeRow.get(node)
      if (n === undefined) {
        return
      }
      learnPeriods(node, n.heartbeat)
      const hb = n.heartbeat_at ? Date.parse(n.heartbeat_at) : null
      const timeoutMs = ctx.config.nodeTimeoutS * 1000
      const offline = n.status === 'offline'
      const silent = hb !== null && now >= hb + timeoutMs
      const isDown = offline || silent
      const reason = offline
        ? `offline since ${n.status_at ?? 'unknown'} (last will)`
        : silent
          ? `no heartbeat since ${n.heartbeat_at}`
          : null
      const wasDown = (prev.get(node)?.down ?? 0) === 1
      put.run(node, isDown ? 1 : 0, reason, !isDown && hb !== null ? hb + timeoutMs : null)
      if (isDown) {
        down.add(node)
      } else {
        down.delete(node)
      }
      const folded = ctx.alerts.firingOfNode(node).filter((a) => defaultFoldedKinds.includes(a.kind))
      ctx.alerts.raise(
        {
          key: alertKey('node-down', node),
          kind: 'node-down',
          node,
          severity: 'critical',
          firing: isDown,
          summary: isDown
            ? `node ${node} is down: ${reason}; ${folded.length} backup alerts folded under this one`
            : `node ${node} is up`,
        },
        isDown && silent && !offline && hb !== null ? hb + timeoutMs : now,
      )
      if (wasDown && !isDown) {
        // Conditions that still hold after the node came back speak for themselves again.
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
