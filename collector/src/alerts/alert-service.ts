import {
  alertTopics,
  applyCondition,
  isSuppressedByNode,
  notifyDecision,
  type AlertCondition,
  type Severity,
} from '@backstop/shared'
import type { Logger } from 'pino'
import type { AlertsRepo, StoredAlert, StoredFlip } from '../store/alerts-repo.ts'
import type { NotifyRepo } from '../store/notify-repo.ts'

/** The broker seam: main.ts binds it to aedes.publish (QoS 1). */
export type MqttPublish = (topic: string, payload: string, opts: { retain: boolean }) => void

export interface AlertServiceDeps {
  readonly alerts: AlertsRepo
  readonly notify: NotifyRepo
  readonly publish: MqttPublish
  readonly minSeverity: Severity
  /**
   * Nodes whose asset alerts are folded (ledger/node-liveness.ts foldingNodes: away or within catch-up grace), each
   * with what folds them (the node's node-down alert key, or node-away / catch-up: ledger/node-liveness.ts), the
   * alert's `suppressedBy`.
   */
  readonly foldingNodes: () => ReadonlyMap<string, string>
  readonly log: Logger
  /** The hash-chained audit log (audit/audit-log.ts); ack and silence are recorded there. */
  readonly audit?: (actor: string, action: string, target: string, detail: Record<string, unknown>) => void
  /** Wakes the notification deliverer after new queue rows committed. */
  readonly onQueued?: () => void
}

export function retainedState(a: StoredAlert): string {
  return JSON.stringify({
    key: a.key,
    kind: a.kind,
    node: a.node ?? null,
    state: a.state,
    severity: a.severity,
    summary: a.summary,
    since: new Date(a.since).toISOString(),
    acked: a.ackedAt !== null,
    ackedBy: a.ackedBy,
    silencedUntil: a.silencedUntil === null ? null : new Date(a.silencedUntil).toISOString(),
    suppressedBy: a.suppressedBy,
  })
}

export function flipEvent(f: StoredFlip): string {
  return JSON.stringify({
    id: f.id,
    key: f.key,
    kind: f.kind,
    node: f.node ?? null,
    from: f.from,
    to: f.to,
    severity: f.severity,
    summary: f.summary,
    at: new Date(f.at).toISOString(),
    decision: f.decision,
  })
}

/**
 * Alert state in SQLite, flips as the history, notifications through the durable queue, and MQTT as the
 * broadcast: `raise` runs inside the ledger's transaction, `publishPending` after it committed, so a crash in
 * between re-publishes on the next start (flips carry `published = 0`) and nothing goes out that was rolled back.
 */
export function createAlertService(deps: AlertServiceDeps) {
  const { alerts, notify } = deps
  let queued = false
  const record = (cond: AlertCondition, at: number): StoredFlip | null => {
    const rec = alerts.get(cond.key)
    const applied = applyCondition(rec, cond, at)
    if (applied.record === undefined) {
      return null
    }
    const folding = deps.foldingNodes()
    const suppressedBy =
      applied.record.state === 'firing' && cond.node !== undefined && isSuppressedByNode(cond, folding)
        ? (folding.get(cond.node) ?? null)
        : null
    alerts.put(applied.record, suppressedBy, at)
    if (applied.flip === null) {
      if (
        rec !== undefined &&
        rec.suppressedBy !== null &&
        suppressedBy === null &&
        applied.record.state === 'firing'
      ) {
        // The node is back and the condition still holds: the folded alert speaks for itself now.
        return addFlip(
          {
            key: cond.key,
            kind: cond.kind,
            node: cond.node,
            from: 'firing',
            to: 'firing',
            severity: cond.severity,
            summary: cond.summary,
            at,
          },
          null,
          at,
        )
      }
      return null
    }
    return addFlip(applied.flip, suppressedBy ?? quietResolution(rec, applied.flip.to), at)
  }
  /**
   * Nobody was told it fired, so nobody is told it resolved: the catch-up run that clears a folded missed-backup
   * must not page "resolved" for an alert that never paged. One that paged before its node went away still does.
   */
  const quietResolution = (rec: StoredAlert | undefined, to: string): string | null => {
    if (to !== 'resolved' || rec === undefined || rec.suppressedBy === null) {
      return null
    }
    return alerts.flips(rec.key, 1)[0]?.decision === 'suppressed' ? rec.suppressedBy : null
  }
  const addFlip = (flip: Parameters<AlertsRepo['addFlip']>[0], suppressedBy: string | null, at: number): StoredFlip => {
    const rec = alerts.get(flip.key)
    const decision =
      suppressedBy !== null ? 'suppressed' : notifyDecision(flip, rec, alerts.activeWindows(at), deps.minSeverity)
    const id = alerts.addFlip(flip, decision)
    if (decision === 'notify') {
      notify.enqueue(id, flip, at)
      queued = true
    }
    return { ...flip, id, decision }
  }
  return {
    /** Call inside a transaction. Returns the flip when the condition changed the alert. */
    raise: record,
    ack(key: string, by: string, at: number): StoredAlert | undefined {
      const a = alerts.get(key)
      if (a === undefined) {
        return undefined
      }
      alerts.put({ ...a, ackedAt: at, ackedBy: by }, a.suppressedBy, at)
      deps.audit?.(by, 'alert.ack', key, {})
      return alerts.get(key)
    },
    silence(key: string, until: number, by: string, at: number): StoredAlert | undefined {
      const a = alerts.get(key)
      if (a === undefined) {
        return undefined
      }
      alerts.put({ ...a, silencedUntil: until }, a.suppressedBy, at)
      deps.audit?.(by, 'alert.silence', key, { until: new Date(until).toISOString() })
      return alerts.get(key)
    },
    firingOfNode: (node: string): StoredAlert[] => alerts.firingOfNode(node),
    /**
     * Call inside a transaction. A node's fold changed its cause (node-down resolved, its catch-up grace began): the
     * alerts folded under it name the new one, never an alert that has resolved. Not a flip: nothing is notified.
     */
    refold(node: string, by: string, at: number): void {
      for (const a of alerts.firingOfNode(node)) {
        if (a.suppressedBy !== null && a.suppressedBy !== by) {
          alerts.put(a, by, at)
        }
      }
    },
    /** Re-publishes one key's retained state (after an ack or silence, which are not flips). */
    publishState(key: string): void {
      const a = alerts.get(key)
      if (a !== undefined) {
        deps.publish(alertTopics.state(key), retainedState(a), { retain: true })
      }
    },
    /**
     * On collector start: the embedded broker keeps retained messages in memory only, so every alert's retained
     * state is published again (resolved ones too: a subscriber that saw them fire must see them resolved).
     */
    republishRetained(): number {
      let n = 0
      for (const a of alerts.each()) {
        deps.publish(alertTopics.state(a.key), retainedState(a), { retain: true })
        n++
      }
      return n
    },
    /** After commit: retained state per key plus the event stream, in flip order. */
    publishPending(): number {
      const pending = alerts.unpublishedFlips()
      for (const f of pending) {
        const a = alerts.get(f.key)
        try {
          if (a !== undefined) {
            deps.publish(alertTopics.state(f.key), retainedState(a), { retain: true })
          }
          deps.publish(alertTopics.events, flipEvent(f), { retain: false })
          alerts.markPublished(f.id)
        } catch (e) {
          deps.log.warn({ err: e, key: f.key }, 'alert publish failed; retried on the next change')
          break
        }
      }
      if (queued) {
        queued = false
        deps.onQueued?.()
      }
      return pending.length
    },
  }
}
export type AlertService = ReturnType<typeof createAlertService>
