import Type from 'typebox'
import { BackstopError, MediaType, RetentionPolicyInput, type RetentionPolicy } from '@backstop/shared'
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
}

export interface ResolvedTargetCommon {
  readonly name: string
  readonly retention: RetentionPolicy
  readonly media: MediaTypeT
  readonly offsite: boolean
  readonly offline: boolean
  readonly site?: string
}

export function resolveTargetCommon(
  t: {
    name: string
    retention?: RetentionPolicyInput | undefined
    media: MediaTypeT
    offsite?: boolean | undefined
    offline?: boolean | undefined
    site?: string | undefined
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
  }
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
