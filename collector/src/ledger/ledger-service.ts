import type { AlertService } from '../alerts/alert-service.ts'
import { createRunApplier } from '../expectations/apply-runs.ts'
import type { LedgerClock } from './clock.ts'
import type { LedgerContext } from './context.ts'
import { refreshVerdict } from './evaluate-asset.ts'
import { createNodeLiveness } from './node-liveness.ts'

interface Change {
  kind: 'asset' | 'run-started' | 'run-finished' | 'inventory' | 'node'
  node: string
  a: string
  b: string
}

const BATCH = 1000

/**
 * The collector brain's loop, without a loop: ingest commits leave rows in `ledger_changes` (triggers), `wake()`
 * drains them; deadlines (expectation alert_after, verdict expiry, heartbeat timeout) live in three indexed
 * columns and ONE timer is armed for the earliest of them. Nothing scans the fleet periodically: when idle, the
 * process sleeps until the next deadline.
 */
export function createLedger(ctx: Omit<LedgerContext, 'alerts'> & { alerts: AlertService }, clock: LedgerClock) {
  const { db } = ctx
  const runs = createRunApplier(ctx)
  const liveness = createNodeLiveness(ctx)
  const changes = db.prepare<[number], Change & { seq: number }>(
    'SELECT kind, node, a, b, seq FROM ledger_changes ORDER BY seq LIMIT ?',
  )
  const done = db.prepare('DELETE FROM ledger_changes WHERE kind = ? AND node = ? AND a = ? AND b = ?')
  const inventoryRow = db.prepare<
    [string, string, string],
    { name: string | null; covered_by: string; present: number }
  >('SELECT name, covered_by, present FROM assets WHERE node = ? AND asset_kind = ? AND asset_id = ?')
  const requeue = db.prepare(`INSERT OR IGNORE INTO ledger_changes (kind, node, a, b, seq)
    SELECT 'asset', node, asset_kind, asset_id, (SELECT coalesce(max(seq), 0) FROM ledger_changes) + row_number() OVER () FROM ledger_assets WHERE node = ?`)
  let timer: unknown = null
  let armedFor: number | null = null
  let stopped = true
  let wakeScheduled = false

  const applyChange = (c: Change, now: number): void => {
    switch (c.kind) {
      case 'asset':
        refreshVerdict(ctx, { node: c.node, kind: c.a, id: c.b }, now)
        return
      case 'run-started':
        runs.started(c.node, c.a, now)
        return
      case 'run-finished':
        runs.finished(c.node, c.a, now)
        return
      case 'inventory':
        inventory(c.node, c.a, c.b, now)
        return
      case 'node':
        liveness.update(c.node, now)
        return
      default: {
        const never: never = c.kind
        throw new Error(`unknown ledger change ${String(never)}`)
      }
    }
  }

  /** Coverage gaps: an asset the node has that no job covers. Covered assets get a verdict and expectations. */
  const inventory = (node: string, kind: string, id: string, now: number): void => {
    const row = inventoryRow.get(node, kind, id)
    if (row === undefined) {
      return
    }
    const coveredBy = JSON.parse(row.covered_by) as string[]
    const gap = row.present === 1 && coveredBy.length === 0
    ctx.alerts.raise(
      {
        key: `coverage-gap/${node}/${kind}/${id}`,
        kind: 'coverage-gap',
        node,
        severity: 'warning',
        firing: gap,
        summary: gap
          ? `${kind} ${id} on ${node} is not covered by any backup job`
          : `${kind} ${id} on ${node} is covered or gone`,
      },
      now,
    )
    if (row.present === 1 && coveredBy.length > 0) {
      ctx.assets.ensure({ node, kind, id }, row.name, ctx.config.defaultTier, now)
      for (const job of coveredBy) {
        runs.ensureExpectation(node, job, kind, id, now)
      }
      refreshVerdict(ctx, { node, kind, id }, now)
    }
  }

  const drainOnce = (now: number): number =>
    db.transaction(() => {
      const rows = changes.all(BATCH)
      for (const c of rows) {
        applyChange(c, now)
        done.run(c.kind, c.node, c.a, c.b)
      }
      return rows.length
    })()

  const deadlinesOnce = (now: number): number =>
    db.transaction(() => {
      let n = 0
      for (const node of liveness.due(now, BATCH)) {
        liveness.update(node, now)
        n++
      }
      for (const e of ctx.expectations.due(now, BATCH)) {
        runs.deadline(e, now)
        n++
      }
      for (const k of ctx.assets.dueForExpiry(now, BATCH)) {
        refreshVerdict(ctx, k, now)
        n++
      }
      return n
    })()

  const nextDeadline = (): number | null => {
    const ts = [ctx.expectations.nextDeadline(), ctx.assets.nextExpiry(), liveness.nextDeadline()].filter(
      (t): t is number => t !== null,
    )
    return ts.length === 0 ? null : Math.min(...ts)
  }

  const arm = (): void => {
    if (stopped) {
      return
    }
    const next = nextDeadline()
    if (next === armedFor && timer !== null) {
      return
    }
    if (timer !== null) {
      clock.clearTimer(timer)
      timer = null
    }
    armedFor = next
    if (next !== null) {
      timer = clock.setTimer(onTimer, next - clock.now())
    }
  }

  const onTimer = (): void => {
    timer = null
    armedFor = null
    run()
  }

  /** Drain changes, process due deadlines, publish, re-arm. Loops while batches come back full. */
  const run = (): void => {
    try {
      for (;;) {
        const now = clock.now()
        const n = drainOnce(now) + deadlinesOnce(now)
        ctx.alerts.publishPending()
        ctx.afterCommit?.()
        if (n < BATCH) {
          break
        }
      }
    } catch (e) {
      ctx.log.error({ err: e }, 'ledger evaluation failed; changes stay queued and are retried on the next wake')
    }
    arm()
  }

  return {
    start(): void {
      stopped = false
      run()
    },
    stop(): void {
      stopped = true
      if (timer !== null) {
        clock.clearTimer(timer)
        timer = null
      }
    },
    /** After an ingest commit (or a node status change): coalesced, runs on the next macrotask. */
    wake(): void {
      if (stopped || wakeScheduled) {
        return
      }
      wakeScheduled = true
      clock.setTimer(() => {
        wakeScheduled = false
        run()
      }, 0)
    },
    /**
     * Re-evaluate every asset of a node on the next pass (e.g. its disk health changed, so copies on a failed
     * device stop counting). Safe inside the ingest transaction: it only queues ledger_changes rows.
     */
    requeueNode(node: string): void {
      requeue.run(node)
    },
    /** Synchronous drain for tests and the CLI. */
    runNow: run,
    nextDeadline,
    armedFor: (): number | null => armedFor,
    downNodes: liveness.downNodes,
    refreshAsset: (node: string, kind: string, id: string): void => {
      db.transaction(() => refreshVerdict(ctx, { node, kind, id }, clock.now()))()
      ctx.alerts.publishPending()
      arm()
    },
  }
}
export type Ledger = ReturnType<typeof createLedger>
