import { BackstopError } from '../errors.ts'
import { nextRunAfter, validateSchedule } from '../schedule/next-run.ts'

/**
 * Missed-backup detection with Healthchecks semantics (hc/api/models.py, sendalerts.py). Each expectation
 * stores a precomputed `alertAfter`; the collector keeps those in an index and arms ONE timer for the earliest,
 * so nothing is ever scanned periodically. Every function here is pure and takes `now` (epoch ms).
 *
 * One deliberate difference from Healthchecks: a `new` expectation (never reported) also goes down, counted
 * from its creation — "a backup that never ran" is the case a backup monitor must catch.
 */
export const expectationStatuses = ['new', 'up', 'grace', 'down', 'paused'] as const
export type ExpectationStatus = (typeof expectationStatuses)[number]
/** What is stored; `grace` is only ever computed. */
export type StoredExpectationStatus = Exclude<ExpectationStatus, 'grace'>

export type ExpectationSchedule =
  | { readonly kind: 'period'; readonly periodS: number }
  | { readonly kind: 'cron'; readonly cron: string; readonly timezone: string }

export interface ExpectationState {
  readonly schedule: ExpectationSchedule
  readonly graceS: number
  readonly status: StoredExpectationStatus
  readonly createdAt: number
  /** Finish of the last run, successful or not (Healthchecks' last_ping). */
  readonly lastFinishAt?: number | undefined
  /** Start of a run that has not finished yet. */
  readonly runningSince?: number | undefined
  readonly runningRunId?: string | undefined
}

export const flipReasons = ['success', 'fail', 'timeout', 'overrun', 'pause', 'resume'] as const
export type FlipReason = (typeof flipReasons)[number]

export interface ExpectationFlip {
  readonly from: ExpectationStatus
  readonly to: StoredExpectationStatus
  /** The true time of the change: for a timeout, the deadline itself, not the moment it was noticed. */
  readonly at: number
  readonly reason: FlipReason
}

export interface Transition {
  readonly state: ExpectationState
  /** Zero, one, or two flips (a run that arrives after an unprocessed deadline: the down flip first). */
  readonly flips: readonly ExpectationFlip[]
  /** The next deadline to index, or null when nothing can go down any more (down, paused). */
  readonly alertAfter: number | null
}

const MIN_S = 60
const MAX_S = 365 * 86400

export function validateExpectation(schedule: ExpectationSchedule, graceS: number): void {
  if (schedule.kind === 'period' && !(schedule.periodS >= MIN_S && schedule.periodS <= MAX_S)) {
    throw new BackstopError(
      'BK_ERR_SCHEDULE_INVALID',
      `period ${schedule.periodS}s is outside ${MIN_S}s…${MAX_S}s; use e.g. 86400 for daily`,
    )
  }
  if (schedule.kind === 'cron') {
    validateSchedule({ cron: schedule.cron, timezone: schedule.timezone })
  }
  if (!(graceS >= MIN_S && graceS <= MAX_S)) {
    throw new BackstopError('BK_ERR_SCHEDULE_INVALID', `grace ${graceS}s is outside ${MIN_S}s…${MAX_S}s; use e.g. 3600`)
  }
}

/** When the backup is due: the next slot after the last finish (or creation), earlier if a run is pending. */
export function graceStart(s: ExpectationState): number {
  const base = s.lastFinishAt ?? s.createdAt
  let due: number
  if (s.schedule.kind === 'period') {
    due = base + s.schedule.periodS * 1000
  } else {
    // croner evaluates the expression in the zone, so DST shifts are handled there.
    const next = nextRunAfter({ cron: s.schedule.cron, timezone: s.schedule.timezone }, new Date(base))
    due = next === null ? Number.POSITIVE_INFINITY : next.getTime()
  }
  return s.runningSince !== undefined ? Math.min(due, s.runningSince) : due
}

/** The deadline after which the expectation is down (Healthchecks' going_down_after). */
export function goingDownAfter(s: ExpectationState): number {
  return graceStart(s) + s.graceS * 1000
}

/** The value to keep in the deadline index, or null when no timer is needed. */
export function alertAfter(s: ExpectationState): number | null {
  if (s.status === 'down' || s.status === 'paused') {
    return null
  }
  const t = goingDownAfter(s)
  return Number.isFinite(t) ? t : null
}

/** Status as shown to people: adds the computed `grace` (late but not yet down). */
export function statusAt(s: ExpectationState, now: number): ExpectationStatus {
  if (s.status === 'down' || s.status === 'paused') {
    return s.status
  }
  const down = goingDownAfter(s)
  if (now >= down) {
    return 'down'
  }
  if (now >= graceStart(s)) {
    return 'grace'
  }
  return s.status
}

function transition(prev: ExpectationState, state: ExpectationState, at: number, reason: FlipReason): Transition {
  const from = statusAt(prev, at)
  const flips =
    from !== state.status && !(from === 'grace' && state.status === 'up')
      ? [{ from, to: state.status, at, reason }]
      : []
  return { state, flips, alertAfter: alertAfter(state) }
}

export function onRunStarted(prev: ExpectationState, runId: string, at: number): Transition {
  const missed = onDeadline(prev, at)
  const s = missed.state
  if (s.status === 'paused') {
    return { state: s, flips: [], alertAfter: null }
  }
  const state: ExpectationState = { ...s, runningSince: at, runningRunId: runId }
  return { state, flips: missed.flips, alertAfter: alertAfter(state) }
}

/**
 * A finished run. Success → up, failure → down. A paused expectation records the run but stays paused
 * (the operator resumes it). Finishing a run clears the pending start only when it is the same run.
 */
export function onRunFinished(prev: ExpectationState, run: { runId: string; at: number; ok: boolean }): Transition {
  // A deadline that passed before this run finished is a real outage: record it first, dated at the deadline.
  const missed = onDeadline(prev, run.at)
  const s = missed.state
  const clears = s.runningRunId === undefined || s.runningRunId === run.runId
  const base: ExpectationState = {
    ...s,
    lastFinishAt: Math.max(run.at, s.lastFinishAt ?? run.at),
    runningSince: clears ? undefined : s.runningSince,
    runningRunId: clears ? undefined : s.runningRunId,
  }
  if (s.status === 'paused') {
    return { state: base, flips: [], alertAfter: null }
  }
  const state: ExpectationState = { ...base, status: run.ok ? 'up' : 'down' }
  const t = transition(s, state, run.at, run.ok ? 'success' : 'fail')
  return { ...t, flips: [...missed.flips, ...t.flips] }
}

/**
 * Called by the single timer when `now` ≥ the indexed alertAfter. Flips to down dated at the deadline itself;
 * returns no flips when nothing is due (the index was stale: a run arrived meanwhile).
 */
export function onDeadline(s: ExpectationState, now: number): Transition {
  const after = alertAfter(s)
  if (after === null || now < after) {
    return { state: s, flips: [], alertAfter: after }
  }
  const reason: FlipReason =
    s.runningSince !== undefined && s.runningSince <= graceStart({ ...s, runningSince: undefined })
      ? 'overrun'
      : 'timeout'
  const state: ExpectationState = { ...s, status: 'down' }
  return { state, flips: [{ from: s.status, to: 'down', at: after, reason }], alertAfter: null }
}

export function pause(s: ExpectationState, at: number): Transition {
  if (s.status === 'paused') {
    return { state: s, flips: [], alertAfter: null }
  }
  const state: ExpectationState = { ...s, status: 'paused' }
  return { state, flips: [{ from: statusAt(s, at), to: 'paused', at, reason: 'pause' }], alertAfter: null }
}

/** Resuming starts a fresh period from now, like a new check: it does not go down for the time it was paused. */
export function resume(s: ExpectationState, at: number): Transition {
  if (s.status !== 'paused') {
    return { state: s, flips: [], alertAfter: alertAfter(s) }
  }
  const state: ExpectationState = {
    ...s,
    status: 'new',
    createdAt: at,
    lastFinishAt: undefined,
    runningSince: undefined,
    runningRunId: undefined,
  }
  return { state, flips: [{ from: 'paused', to: 'new', at, reason: 'resume' }], alertAfter: alertAfter(state) }
}
