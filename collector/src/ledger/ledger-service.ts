import type { AlertService } from '../alerts/alert-service.ts'
import { createLedgerChangesRepo } from '../store/ledger-changes-repo.ts'
import { createChangeApplier } from './apply-change.ts'
import type { LedgerClock } from './clock.ts'
import type { LedgerContext } from './context.ts'
import { createDeadlineTimer } from './deadline-timer.ts'
import { refreshVerdict } from './evaluate-asset.ts'
import { createNodeLiveness, type NodeLiveness } from './node-liveness.ts'

const BATCH = 1000

type Ctx = Omit<LedgerContext, 'alerts'> & { alerts: AlertService }

/**
 * The collector brain's loop, without a loop: the ingest marks `ledger_changes` in its batch transaction and
 * signals `onCommitted`, which calls `wake()`; a pass drains the changes. Deadlines (expectation alert_after,
 * verdict expiry, heartbeat timeout) live in three indexed columns and ONE timer is armed for the earliest of them.
 * Nothing scans the fleet periodically: when idle, the process sleeps until the next deadline.
 */
export function createLedger(ctx: Ctx, clock: LedgerClock) {
  const liveness = createNodeLiveness(ctx)
  const pass = createPass(ctx, liveness)
  const timer = createDeadlineTimer(clock, pass.nextDeadline, () => run())
  let wakeScheduled = false

  /** Drain changes, process due deadlines, publish, re-arm. Loops while batches come back full. */
  const run = (): void => {
    try {
      for (;;) {
        const n = pass.once(clock.now())
        ctx.alerts.publishPending()
        ctx.afterCommit?.()
        if (n < BATCH) {
          break
        }
      }
    } catch (e) {
      ctx.log.error({ err: e }, 'ledger evaluation failed; changes stay queued and are retried on the next wake')
    }
    timer.arm()
  }

  return {
    start(): void {
      timer.start()
      run()
    },
    stop: timer.stop,
    /** Subscribed to the ingest's `onCommitted`: coalesced, runs on the next macrotask. */
    wake(): void {
      if (timer.stopped() || wakeScheduled) {
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
    requeueNode: pass.changes.requeueNode,
    /** Synchronous drain for tests and the CLI. */
    runNow: run,
    nextDeadline: pass.nextDeadline,
    armedFor: timer.armedFor,
    downNodes: liveness.downNodes,
    foldingNodes: liveness.foldingNodes,
    refreshAsset: (node: string, kind: string, id: string): void => {
      ctx.db.transaction(() => refreshVerdict(ctx, { node, kind, id }, clock.now()))()
      ctx.alerts.publishPending()
      timer.arm()
    },
  }
}
export type Ledger = ReturnType<typeof createLedger>

/** One evaluation pass in one transaction each: the queued changes, then the due deadlines. */
function createPass(ctx: Ctx, liveness: NodeLiveness) {
  const { db } = ctx
  const changes = createLedgerChangesRepo(db)
  const applier = createChangeApplier(ctx, liveness)

  const drainOnce = (now: number): number =>
    db.transaction(() => {
      const rows = changes.take(BATCH)
      for (const { change } of rows) {
        applier.apply(change, now)
      }
      const last = rows.at(-1)
      if (last !== undefined) {
        changes.doneThrough(last.seq)
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
        applier.runs.deadline(e, now)
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

  return { changes, nextDeadline, once: (now: number): number => drainOnce(now) + deadlinesOnce(now) }
}
