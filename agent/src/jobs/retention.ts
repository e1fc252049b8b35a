import {
  assertValidRetentionPolicy,
  DEFAULT_KEEP,
  planRetention,
  resolveRetentionPolicy,
  type PromotionClass,
  type RetentionDecision,
  type RetentionKeep,
  type RetentionPolicy,
  type RetentionPolicyInput,
} from '@backstop/shared'
import type { PlanLine } from './job.ts'

/**
 * The one bridge between every job kind and the shared GFS engine (shared/src/retention, docs/retention.md):
 * the `retention:` block is resolved and checked the same way for every kind, and each kind's copies are planned
 * by `planCopies`. Kinds differ only in their default counts.
 */

/** Resolves and validates a policy; throws BK_ERR_CONFIG_INVALID naming the job and field. */
export function resolveCheckedPolicy(
  input: RetentionPolicyInput | undefined,
  defaultTimezone: string,
  where: string,
  defaults: RetentionKeep = DEFAULT_KEEP,
): RetentionPolicy {
  const policy = resolveRetentionPolicy(input, defaultTimezone, defaults)
  assertValidRetentionPolicy(policy, where)
  return policy
}

/** One copy a job owns on one location (snapshot, archive file, rear run), as the engine needs it. */
export interface OwnedCopy {
  /** Unique on its location (full ZFS name / absolute path). */
  readonly id: string
  /** As shown to people (`tank/data@backstop_20261122T014500Z`). */
  readonly name: string
  readonly createdAt: Date
  readonly tags: readonly PromotionClass[] | undefined
  readonly held: boolean
  /**
   * Complete and verified (read-only, guid matches, hash matches its manifest …). Only these fill a keep slot or
   * justify deleting older ones: a failed or unverified copy never counts as kept.
   */
  readonly successful: boolean
}

export interface CopyPlan<T extends OwnedCopy = OwnedCopy> {
  readonly keep: readonly T[]
  readonly destroy: readonly { readonly snap: T; readonly rule: string }[]
  readonly lines: readonly PlanLine[]
}

/** Plans one location's copies of one asset; `location` labels the plan lines. */
export function planCopies<T extends OwnedCopy>(
  snaps: readonly T[],
  policy: RetentionPolicy,
  now: Date,
  location: string,
): CopyPlan<T> {
  const decisions = planRetention(
    snaps.map((s) => ({ id: s.id, createdAt: s.createdAt, tags: s.tags, held: s.held, successful: s.successful })),
    policy,
    now,
  )
  const byId = new Map(snaps.map((s) => [s.id, s]))
  const keep: T[] = []
  const destroy: { snap: T; rule: string }[] = []
  const lines: PlanLine[] = []
  for (const d of decisions) {
    const snap = byId.get(d.id)
    if (snap === undefined) {
      continue
    }
    lines.push({
      location,
      name: snap.name,
      createdAt: snap.createdAt.toISOString(),
      action: d.action,
      reasons: d.reasons,
    })
    if (d.action === 'destroy') {
      destroy.push({ snap, rule: ruleText(d) })
    } else {
      keep.push(snap)
    }
  }
  return { keep, destroy, lines }
}

/** The DeletedCopy `rule` (≤ 256 chars): the engine's reason, trimmed. */
function ruleText(d: RetentionDecision): string {
  return d.reasons.join('; ').slice(0, 256)
}
