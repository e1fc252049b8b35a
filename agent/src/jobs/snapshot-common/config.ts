import Type from 'typebox'
import {
  BackstopError,
  MediaType,
  parseTimeWindow,
  RetentionPolicyInput,
  validateSchedule,
  type RetentionPolicy,
  type Schedule,
  type TimeWindow,
} from '@backstop/shared'
import type { MediaType as MediaTypeT } from '@backstop/shared'
import { resolveCheckedPolicy } from '../retention.ts'
import { SiteName } from '../common-config.ts'

/**
 * Config pieces the ZFS and Btrfs snapshot jobs share: the name prefix that marks a snapshot as ours, the
 * retention policy (validated here, so `configcheck` refuses a policy that keeps nothing) and replication
 * targets with their own policy and copy classification.
 */
export const SnapshotPrefix = Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z][A-Za-z0-9-]*$' })
export const TargetName = Type.String({ minLength: 1, maxLength: 48, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' })

/** Fields every replication target has; the kind adds where it lives (`dataset` / `path`). */
export const targetFields = {
  /** Names the target in reports and in the hold tag (`backstop-<job>-<target>`). */
  name: TargetName,
  /** Retention on the target; default: the job's own policy. */
  retention: Type.Optional(RetentionPolicyInput),
  media: MediaType,
  offsite: Type.Optional(Type.Boolean()),
  /** A removable or rotated disk: its newest copy is held (immutable), and its absence is normal. */
  offline: Type.Optional(Type.Boolean()),
  /** Where the target disk or host is (a rotated disk's home, a second building); default: the node's site. */
  site: Type.Optional(SiteName),
  /**
   * `HH:MM-HH:MM` in the agent's `timezone:` (may cross midnight): the target is attempted only by runs inside it (an
   * offsite link used at night). Runs outside take local snapshots and prune as usual; the first run inside sends
   * everything missing, in order.
   */
  window: Type.Optional(Type.String({ maxLength: 16 })),
  /**
   * Cron in the agent's `timezone:`: the target gets new snapshots only when a slot has passed since the newest
   * one it holds (hourly snapshots, a daily offsite send at 02:00). A run that is not due still reports and prunes
   * the target's copies; a slot missed while the node was off is caught up by the next run.
   */
  schedule: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
}

export interface ResolvedTargetCommon {
  readonly name: string
  readonly retention: RetentionPolicy
  readonly media: MediaTypeT
  readonly offsite: boolean
  readonly offline: boolean
  readonly site?: string
  /** Absent: any run may attempt the target. */
  readonly window?: TimeWindow
  /** Absent: every run sends to the target. */
  readonly schedule?: Schedule
}

export function resolveTargetCommon(
  t: {
    name: string
    retention?: RetentionPolicyInput | undefined
    media: MediaTypeT
    offsite?: boolean | undefined
    offline?: boolean | undefined
    site?: string | undefined
    window?: string | undefined
    schedule?: string | undefined
  },
  jobPolicy: RetentionPolicy,
  defaultTimezone: string,
  where: string,
): ResolvedTargetCommon {
  return {
    name: t.name,
    retention:
      t.retention === undefined ? jobPolicy : resolveCheckedPolicy(t.retention, defaultTimezone, `${where}.retention`),
    media: t.media,
    offsite: t.offsite ?? false,
    offline: t.offline ?? false,
    ...(t.site !== undefined ? { site: t.site } : {}),
    ...(t.window !== undefined ? { window: parseTimeWindow(t.window, defaultTimezone, `${where}.window`) } : {}),
    ...(t.schedule !== undefined ? { schedule: targetSchedule(t.schedule, defaultTimezone, `${where}.schedule`) } : {}),
  }
}

function targetSchedule(cron: string, timezone: string, where: string): Schedule {
  const schedule = { cron, timezone }
  try {
    validateSchedule(schedule)
  } catch (e) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${where}: ${(e as Error).message.replace(/\.$/, '')}; a five-field cron such as "0 2 * * *" (daily at 02:00)`,
    )
  }
  return schedule
}

/** Names must be unique: they are part of hold tags and copy ids. */
export function assertUniqueTargetNames(targets: readonly { name: string }[], where: string): void {
  const seen = new Set<string>()
  for (const t of targets) {
    if (seen.has(t.name)) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${where}.targets: target name "${t.name}" is used twice; give each target its own name`,
      )
    }
    seen.add(t.name)
  }
}
