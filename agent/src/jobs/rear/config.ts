import Type, { type Static } from 'typebox'
import { BackstopError, keepLastOnly, RetentionPolicyInput, type RetentionPolicy } from '@backstop/shared'
import { commonJobFields, resolveCommon, type ResolvedCommonJob } from '../common-config.ts'
import { resolveCheckedPolicy } from '../retention.ts'

/** Omitted keep counts: the 2 newest verified runs of each kind (rear's USB_RETAIN_BACKUP_NR), no calendar. */
export const REAR_KEEP_DEFAULTS = keepLastOnly(2)

/**
 * `rear`: a Relax-and-Recover rescue image (+ system backup with `mkbackup`) on a USB stick found by its
 * filesystem label. Copies are media `usb`, offline while the stick is unplugged. The agent generates
 * local.conf into its own config dir (`rear -c`), or uses `configDir` as given.
 */
export const RearJobConfig = Type.Object(
  {
    kind: Type.Literal('rear'),
    ...commonJobFields,
    workflow: Type.Optional(Type.Enum(['mkbackup', 'mkrescue'])),
    /** Filesystem label of the stick's data partition (`rear format` writes REAR-000). */
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 16 })),
    /** Run `rear checklayout` first; exit 1 (layout changed, rescue image stale) becomes a warning event. */
    checkLayout: Type.Optional(Type.Boolean()),
    /** With checkLayout and `mkrescue`: skip the run when the layout is unchanged. */
    onlyIfLayoutChanged: Type.Optional(Type.Boolean()),
    /**
     * GFS retention of the runs on the stick, per kind (backup / rescue-only); only verified runs fill a slot.
     * Omitted counts default to `keep: { last: 2 }`, calendar classes 0.
     */
    retention: Type.Optional(RetentionPolicyInput),
    /** BACKUP_INTEGRITY_CHECK=1 (rear writes backup.tar.gz.md5; the agent checks it). Default true. */
    integrityCheck: Type.Optional(Type.Boolean()),
    /** Use this rear config dir as is (its local.conf must point BACKUP_URL at the stick). */
    configDir: Type.Optional(Type.String({ minLength: 1, pattern: '^/' })),
    /** Lines appended to the generated local.conf (exclusions, KERNEL_FILE, BOOTLOADER …). */
    extraConfig: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 200 })),
    /** Report a stick not seen for this many days (rotation overdue). Default 14. */
    staleAfterDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    /** rear's HOSTNAME (the run directory's parent). Default: the short hostname. */
    rearHostname: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** The node's zone, in which rear names run directories. Default: the system zone. */
    nodeTimezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** A stick that leaves the building between runs. Default false. */
    offsite: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export type RearJobInput = Static<typeof RearJobConfig>

export interface ResolvedRearJob extends ResolvedCommonJob {
  readonly kind: 'rear'
  readonly workflow: 'mkbackup' | 'mkrescue'
  readonly label: string
  readonly checkLayout: boolean
  readonly onlyIfLayoutChanged: boolean
  readonly retention: RetentionPolicy
  readonly integrityCheck: boolean
  readonly configDir: string | null
  readonly extraConfig: readonly string[]
  readonly staleAfterDays: number
  readonly rearHostname: string | null
  readonly nodeTimezone: string
  readonly offsite: boolean
}

export function resolveRearJob(input: RearJobInput, defaultTimezone: string): ResolvedRearJob {
  if (input.configDir !== undefined && input.extraConfig !== undefined) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `job "${input.name}": extraConfig: only applies to the generated config; ` +
        `put the lines in ${input.configDir}/local.conf instead`,
    )
  }
  if (
    input.onlyIfLayoutChanged === true &&
    (input.checkLayout !== true || (input.workflow ?? 'mkbackup') !== 'mkrescue')
  ) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `job "${input.name}": onlyIfLayoutChanged: needs checkLayout: true and workflow: mkrescue ` +
        '(a backup must run every time)',
    )
  }
  return {
    ...resolveCommon({ ...input, timeoutSeconds: input.timeoutSeconds ?? 4 * 3600 }, defaultTimezone),
    kind: 'rear',
    workflow: input.workflow ?? 'mkbackup',
    label: input.label ?? 'REAR-000',
    checkLayout: input.checkLayout ?? false,
    onlyIfLayoutChanged: input.onlyIfLayoutChanged ?? false,
    retention: resolveCheckedPolicy(
      input.retention,
      defaultTimezone,
      `jobs.${input.name}.retention`,
      REAR_KEEP_DEFAULTS,
    ),
    integrityCheck: input.integrityCheck ?? true,
    configDir: input.configDir ?? null,
    extraConfig: input.extraConfig ?? [],
    staleAfterDays: input.staleAfterDays ?? 14,
    rearHostname: input.rearHostname ?? null,
    nodeTimezone: input.nodeTimezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
    offsite: input.offsite ?? false,
  }
}
