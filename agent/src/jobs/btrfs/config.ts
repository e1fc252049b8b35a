import { posix } from 'node:path'
import Type, { type Static } from 'typebox'
import { BackstopError, RetentionPolicyInput, type MediaType, type RetentionPolicy } from '@backstop/shared'
import { commonJobFields, copyClassFields, resolveCommon, type ResolvedCommonJob } from '../common-config.ts'
import {
  assertUniqueTargetNames,
  resolveTargetCommon,
  SnapshotPrefix,
  targetFields,
  type ResolvedTargetCommon,
} from '../snapshot-common/config.ts'
import { resolveCheckedPolicy } from '../retention.ts'
import { parseSshPathUrl, sshPathTargetFields } from '../../remote/ssh-target.ts'
import type { SshEndpoint } from '../../remote/ssh.ts'

export const AbsPath = Type.String({ minLength: 2, maxLength: 1024, pattern: '^/[^\\0]*[^/]$' })
/** Used in snapshot names: `<name>@<prefix>_<timestamp>_<tags>`. */
const SubvolName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' })

/**
 * `btrfs`: read-only snapshots of subvolumes into a snapshot directory on the same filesystem, calendar GFS
 * retention with the promotion tags in the name, `btrfs send | btrfs receive` to other filesystems.
 */
export const BtrfsJobConfig = Type.Object(
  {
    kind: Type.Literal('btrfs'),
    ...commonJobFields,
    subvolumes: Type.Array(
      Type.Union([
        AbsPath,
        Type.Object({ path: AbsPath, name: Type.Optional(SubvolName) }, { additionalProperties: false }),
      ]),
      { minItems: 1, maxItems: 1024 },
    ),
    /** Where snapshots go; same filesystem as the subvolumes; created if missing. */
    snapshotDir: AbsPath,
    prefix: Type.Optional(SnapshotPrefix),
    retention: Type.Optional(RetentionPolicyInput),
    ...copyClassFields,
    targets: Type.Optional(
      Type.Array(
        Type.Object(
          {
            ...targetFields,
            /** Directory on the target filesystem that receives the snapshots (this host; `url:` for another). */
            path: Type.Optional(AbsPath),
            /** Another host over ssh (`ssh://user@host[:port]/dir`), its key and pinned host key, a rate limit. */
            ...sshPathTargetFields,
            /**
             * Filesystem UUID the target must have. Recommended for removable disks: an unplugged disk leaves an
             * empty mountpoint on the root filesystem, which must never be mistaken for the target.
             */
            fsUuid: Type.Optional(Type.String({ pattern: '^[0-9a-f-]{36}$' })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 16 },
      ),
    ),
  },
  { additionalProperties: false },
)
export type BtrfsJobInput = Static<typeof BtrfsJobConfig>

export interface BtrfsSubvolSpec {
  readonly path: string
  readonly name: string
}

export interface ResolvedBtrfsTarget extends ResolvedTargetCommon {
  /** The receiving directory (on the ssh host when `ssh` is set). */
  readonly path: string
  readonly fsUuid: string | null
  /** Set for a target on another host: every command there runs through ssh and its forced-command gate. */
  readonly ssh: SshEndpoint | null
  /** `pv -L` rate of the stream, or null for no limit. */
  readonly bandwidth: string | null
}

export interface ResolvedBtrfsJob extends ResolvedCommonJob {
  readonly kind: 'btrfs'
  readonly subvolumes: readonly BtrfsSubvolSpec[]
  readonly snapshotDir: string
  readonly prefix: string
  readonly retention: RetentionPolicy
  readonly media: MediaType
  readonly offsite: boolean
  readonly offline: boolean
  readonly targets: readonly ResolvedBtrfsTarget[]
}

export function resolveBtrfsJob(input: BtrfsJobInput, defaultTimezone: string): ResolvedBtrfsJob {
  const where = `jobs.${input.name}`
  const retention = resolveCheckedPolicy(input.retention, defaultTimezone, `${where}.retention`)
  const subvolumes = input.subvolumes.map((s) =>
    typeof s === 'string'
      ? { path: s, name: posix.basename(s) }
      : { path: s.path, name: s.name ?? posix.basename(s.path) },
  )
  const names = new Set<string>()
  for (const s of subvolumes) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s.name)) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${where}.subvolumes: "${s.path}" gives the snapshot name "${s.name}"; set name: to letters, digits, _ . -`,
      )
    }
    if (names.has(s.name)) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${where}.subvolumes: two subvolumes are named "${s.name}"; give one a name: of its own`,
      )
    }
    names.add(s.name)
  }
  const targets = (input.targets ?? []).map((t, i) => {
    const at = `${where}.targets[${i}]`
    if ((t.url === undefined) === (t.path === undefined)) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${at}: give path: (a directory on this host) or url: ssh://user@host/dir (another host), exactly one`,
      )
    }
    if (t.url === undefined && (t.identity ?? t.knownHosts) !== undefined) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${at}: identity: and knownHosts: belong to a url: ssh://… target`,
      )
    }
    const remote = t.url === undefined ? null : parseSshPathUrl({ ...t, url: t.url }, at)
    return {
      ...resolveTargetCommon(t, retention, defaultTimezone, at),
      path: remote?.path ?? t.path!,
      fsUuid: t.fsUuid ?? null,
      ssh: remote?.ssh ?? null,
      bandwidth: t.bandwidth ?? null,
    }
  })
  assertUniqueTargetNames(targets, where)
  return {
    ...resolveCommon(input, defaultTimezone),
    kind: 'btrfs',
    subvolumes,
    snapshotDir: input.snapshotDir,
    prefix: input.prefix ?? 'backstop',
    retention,
    media: input.media,
    offsite: input.offsite ?? false,
    offline: input.offline ?? false,
    targets,
  }
}
