import { BackstopError } from '../errors.ts'
import { calendarPeriods, PROMOTION_CLASSES } from './calendar.ts'
import { assertComputablePolicy, type RetentionPolicy } from './policy.ts'
import {
  type Candidate,
  compareCandidates,
  keepLast,
  keepPeriodic,
  type KeepRule,
  type RetentionSnapshot,
} from './rules.ts'

export type { RetentionSnapshot } from './rules.ts'

/** One snapshot/backup of one job on one target (pass each target's copies separately). */
export interface RetentionDecision {
  readonly id: string
  readonly action: 'keep' | 'destroy'
  /** Why, naming the rule: `held`, `newest successful copy`, `last(5)`, `daily(30): 2026-11-20`, … */
  readonly reasons: readonly string[]
}

/**
 * Decide keep/destroy for every snapshot of one target. Pure and deterministic: the same snapshots, policy
 * and `now` give the same decisions, in the input order. Rules only keep (zrepl's structure); a snapshot is
 * destroyed only if no rule keeps it, it is not held, it is not newer than `now`, and a newer successful
 * copy — which this plan keeps — exists. Hence: never the last copy, never a held copy, never an old copy
 * without a newer good one, and planning again over the kept set destroys nothing (idempotent).
 */
export function planRetention(
  snapshots: readonly RetentionSnapshot[],
  policy: RetentionPolicy,
  now: Date,
): RetentionDecision[] {
  assertComputablePolicy(policy)
  const nowMs = now.getTime()
  if (!Number.isFinite(nowMs)) {
    throw new BackstopError('BK_ERR_INTERNAL_ERROR', 'planRetention: `now` is not a valid Date')
  }
  const reasons = new Map<string, string[]>()
  const candidates: Candidate[] = []
  for (const snap of snapshots) {
    const ms = snap.createdAt instanceof Date ? snap.createdAt.getTime() : Number.NaN
    if (!Number.isFinite(ms)) {
      throw new BackstopError(
        'BK_ERR_INTERNAL_ERROR',
        `planRetention: snapshot "${snap.id}" has no valid createdAt; the caller must parse it first`,
      )
    }
    if (reasons.has(snap.id)) {
      throw new BackstopError(
        'BK_ERR_INTERNAL_ERROR',
        `planRetention: snapshot id "${snap.id}" appears twice; ids must be unique per target`,
      )
    }
    const own: string[] = []
    reasons.set(snap.id, own)
    if (snap.held) {
      own.push('held')
    }
    if (ms > nowMs) {
      // A clock that jumped back (or a peer's clock ahead): no rule can place it, and it is not ours to judge.
      own.push('created after now (clock skew?)')
    } else if (snap.successful) {
      candidates.push({ snap, ms, periods: calendarPeriods(snap.createdAt, policy) })
    }
  }
  candidates.sort((a, b) => compareCandidates(b, a))
  const newest = candidates[0]
  if (newest !== undefined) {
    reasons.get(newest.snap.id)?.push('newest successful copy')
  }
  for (const rule of rulesOf(policy)) {
    for (const [id, why] of rule(candidates)) {
      reasons.get(id)?.push(why)
    }
  }
  return snapshots.map((snap) => {
    const own = reasons.get(snap.id) ?? []
    if (own.length === 0 && (newest === undefined || snap.createdAt.getTime() >= newest.ms)) {
      // Nothing newer and good exists: an older or failed copy is still the best there is.
      own.push('no newer successful copy')
    }
    if (own.length > 0) {
      return { id: snap.id, action: 'keep', reasons: own }
    }
    const why = snap.successful ? 'kept by no rule' : 'failed copy'
    return { id: snap.id, action: 'destroy', reasons: [`${why}; newer successful copy ${newest?.snap.id ?? ''} kept`] }
  })
}

function rulesOf(policy: RetentionPolicy): KeepRule[] {
  const rules: KeepRule[] = []
  if (policy.keep.last > 0) {
    rules.push(keepLast(policy.keep.last))
  }
  for (const cls of PROMOTION_CLASSES) {
    if (policy.keep[cls] > 0) {
      rules.push(keepPeriodic(cls, policy.keep[cls]))
    }
  }
  return rules
}
