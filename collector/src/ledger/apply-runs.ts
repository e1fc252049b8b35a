import {
  alertAfter,
  alertKey,
  onDeadline,
  onRunFinished,
  onRunStarted,
  runAnomalies,
  severityForTier,
  type ExpectationFlip,
  type RunSample,
  type Tier,
} from '@backstop/shared'
import type { LedgerContext } from './context.ts'
import { runErrorAlerts } from './run-error-alerts.ts'
import type { ExpectationRow } from '../store/expectations-repo.ts'

interface RunRow {
  node: string
  run_id: string
  job: string
  job_kind: string
  status: string
  started_at: string
  finished_at: string | null
  duration_ms: number | null
  bytes: number | null
  error_code: string | null
  error_message: string | null
}

/**
 * Feeds job runs into the expectations of (node, job, asset) and raises the run-level alerts (failed run,
 * anomalous run). A run meets an asset's expectation only if it produced a copy of that asset; "saw an old
 * snapshot" is not a backup. Produced means the agent tagged the copy with this run's id (Copy.runId). Agents that
 * tag nothing get the old clock test, at whole seconds on both sides: a snapshot's time comes from its name in
 * whole seconds while the run's start keeps milliseconds.
 */
export function createRunApplier(ctx: LedgerContext) {
  const { db } = ctx
  const getRun = db.prepare<[string, string], RunRow>('SELECT * FROM runs WHERE node = ? AND run_id = ?')
  const runAssets = db.prepare<[string, string], { asset_kind: string; asset_id: string }>(
    'SELECT asset_kind, asset_id FROM ledger_run_assets WHERE node = ? AND run_id = ?',
  )
  const dropRunAssets = db.prepare('DELETE FROM ledger_run_assets WHERE node = ? AND run_id = ?')
  const newest = db.prepare<[string, string, string], { t: string | null }>(
    'SELECT max(created_at) AS t FROM copies WHERE node = ? AND asset_kind = ? AND asset_id = ? AND deleted_at IS NULL',
  )
  const createdBy = db.prepare<[string, string, string, string], { n: number }>(
    'SELECT 1 AS n FROM copies WHERE node = ? AND asset_kind = ? AND asset_id = ? AND created_run_id = ? LIMIT 1',
  )
  const tagsCopies = db.prepare<[string, string], { n: number }>(
    'SELECT 1 AS n FROM copies WHERE node = ? AND created_run_id = ? LIMIT 1',
  )
  const history = db.prepare<[string, string, string, number], { duration_ms: number | null; bytes: number | null }>(
    'SELECT duration_ms, bytes FROM runs WHERE node = ? AND job = ? AND started_at < ? ' +
      `AND status = 'success' ORDER BY started_at DESC LIMIT ?`,
  )

  const tierOf = (node: string, kind: string, id: string): Tier =>
    ctx.assets.get({ node, kind, id })?.tier ?? ctx.config.defaultTier

  /** Saves a transition and turns its flips into the asset's missed-backup alert. */
  const apply = (
    e: ExpectationRow,
    t: { state: ExpectationRow['state']; flips: readonly ExpectationFlip[]; alertAfter: number | null },
  ): void => {
    const last = t.flips[t.flips.length - 1]
    ctx.expectations.save(e.id, t.state, t.alertAfter, last?.at ?? null)
    for (const f of t.flips) {
      missedAlert(e, f)
    }
  }

  const missedAlert = (e: ExpectationRow, f: ExpectationFlip): void => {
    // A failed run is reported as run-failed; missed-backup is about time (timeout, overrun) and its recovery.
    if (f.reason === 'fail' || f.reason === 'pause' || f.reason === 'resume') {
      return
    }
    const firing = f.to === 'down'
    const what = `${e.assetKind} ${e.assetId} on ${e.node}, job ${e.job}`
    ctx.alerts.raise(
      {
        key: alertKey('missed-backup', e.node, `${e.job}/${e.assetKind}/${e.assetId}`),
        kind: 'missed-backup',
        node: e.node,
        severity: severityForTier(tierOf(e.node, e.assetKind, e.assetId)),
        firing,
        summary: firing
          ? `${what}: ${f.reason === 'overrun' ? 'run still going past its grace time' : 'no backup'} ` +
            `since the deadline ${new Date(f.at).toISOString()}`
          : `${what}: backed up again at ${new Date(f.at).toISOString()}`,
      },
      f.at,
    )
  }

  const ensureExpectation = (
    node: string,
    job: string,
    assetKind: string,
    assetId: string,
    now: number,
  ): ExpectationRow => {
    const k = { node, job, assetKind, assetId }
    const existing = ctx.expectations.get(k)
    if (existing !== undefined) {
      return existing
    }
    const schedule = { kind: 'period', periodS: ctx.config.defaultPeriodS } as const
    const due = alertAfter({ schedule, graceS: ctx.config.defaultGraceS, status: 'new', createdAt: now })
    return ctx.expectations.create(k, schedule, ctx.config.defaultGraceS, now, due, 'auto')
  }

  return {
    /** From inventory: job J covers this asset, so a backup is expected even before the first run. */
    ensureExpectation(node: string, job: string, assetKind: string, assetId: string, now: number): void {
      ensureExpectation(node, job, assetKind, assetId, now)
    },

    started(node: string, runId: string, _now: number): void {
      const run = getRun.get(node, runId)
      if (run === undefined) {
        return
      }
      const at = Date.parse(run.started_at)
      for (const e of ctx.expectations.ofJob(node, run.job)) {
        apply(e, onRunStarted(e.state, runId, at))
      }
    },

    finished(node: string, runId: string, now: number): void {
      const run = getRun.get(node, runId)
      if (run === undefined || run.status === 'running') {
        return
      }
      const at = run.finished_at ? Date.parse(run.finished_at) : now
      const failed = run.status === 'failed'
      const byRunId = tagsCopies.get(node, runId) !== undefined
      const produced = (kind: string, id: string): boolean =>
        byRunId
          ? createdBy.get(node, kind, id, runId) !== undefined
          : producedByClock(newest.get(node, kind, id)?.t ?? null, run.started_at)
      const seen = new Set<string>()
      for (const a of runAssets.all(node, runId)) {
        seen.add(`${a.asset_kind}\u0000${a.asset_id}`)
        ctx.assets.ensure({ node, kind: a.asset_kind, id: a.asset_id }, null, ctx.config.defaultTier, now)
        const e = ensureExpectation(node, run.job, a.asset_kind, a.asset_id, now)
        if (failed || produced(a.asset_kind, a.asset_id)) {
          apply(e, onRunFinished(e.state, { runId, at, ok: !failed }))
        }
      }
      dropRunAssets.run(node, runId)
      for (const e of ctx.expectations.ofJob(node, run.job)) {
        if (seen.has(`${e.assetKind}\u0000${e.assetId}`)) {
          continue
        }
        if (failed) {
          apply(e, onRunFinished(e.state, { runId, at, ok: false }))
        } else if (e.state.runningRunId === runId) {
          // A success without a copy of this asset does not meet its expectation; it only ends the pending start.
          const missed = onDeadline(e.state, at)
          const state = { ...missed.state, runningSince: undefined, runningRunId: undefined }
          apply(e, { state, flips: missed.flips, alertAfter: alertAfter(state) })
        }
      }
      const jobSubject = run.job
      ctx.alerts.raise(
        {
          key: alertKey('run-failed', node, jobSubject),
          kind: 'run-failed',
          node,
          severity: 'warning',
          firing: failed,
          summary: failed
            ? `job ${run.job} on ${node} failed: ${run.error_code ?? 'error'} ${run.error_message ?? ''}`.trim()
            : `job ${run.job} on ${node} succeeded`,
        },
        at,
      )
      for (const a of runErrorAlerts) {
        const firing = run.error_code !== null && (a.codes as readonly string[]).includes(run.error_code)
        ctx.alerts.raise(
          {
            key: alertKey(a.kind, node, jobSubject),
            kind: a.kind,
            node,
            severity: a.severity,
            firing,
            summary: `job ${run.job} on ${node}: ${firing ? (run.error_message ?? a.firing) : a.resolved}`,
          },
          at,
        )
      }
      if (!failed && run.duration_ms !== null) {
        const hist: RunSample[] = history
          .all(node, run.job, run.started_at, 20)
          .reverse()
          .map((h) => ({ durationMs: h.duration_ms ?? 0, bytes: h.bytes ?? undefined }))
        const anomalies = runAnomalies(hist, { durationMs: run.duration_ms, bytes: run.bytes ?? undefined })
        ctx.alerts.raise(
          {
            key: alertKey('run-anomaly', node, jobSubject),
            kind: 'run-anomaly',
            node,
            severity: 'warning',
            firing: anomalies.length > 0,
            summary:
              anomalies.length > 0
                ? `job ${run.job} on ${node} looks wrong: ${anomalies.map((a) => a.message).join('; ')}`
                : `job ${run.job} on ${node} looks normal`,
          },
          at,
        )
      }
      ctx.telemetry?.run({
        node,
        job: run.job,
        jobKind: run.job_kind,
        status: run.status,
        durationMs: run.duration_ms,
        bytes: run.bytes,
        at,
      })
    },

    deadline(e: ExpectationRow, now: number): void {
      apply(e, onDeadline(e.state, now))
    },
  }
}
export type RunApplier = ReturnType<typeof createRunApplier>

/** Fallback for agents that send no Copy.runId: the newest copy is the run's if not older, in whole seconds. */
export function producedByClock(newestCopyAt: string | null, runStartedAt: string): boolean {
  if (newestCopyAt === null) {
    return false
  }
  const wholeSeconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000)
  return wholeSeconds(newestCopyAt) >= wholeSeconds(runStartedAt)
}
