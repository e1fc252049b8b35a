import Type from 'typebox'
import { JobName, MediaType } from '@backstop/shared'

/** A site name (`site:` of the node or a target): copies are offsite when their site differs from production's. */
export const SiteName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 _.:-]*$' })

/**
 * Fields every job kind shares. Each kind's config schema spreads these in, so `name`, `schedule` and the
 * copy classification (media/offsite/offline) mean the same thing everywhere.
 */
export const commonJobFields = {
  name: JobName,
  /** Cron expression (5 or 6 fields) evaluated in `timezone`; omit for jobs run only by `once`/commands/hooks. */
  schedule: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** IANA zone for the schedule; defaults to the agent's `timezone`. */
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  /** Run once at start-up if a slot was missed while the agent was down. Default true. */
  catchUp: Type.Optional(Type.Boolean()),
  /** Kill the run after this many seconds. Default 6 hours. */
  timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86400 })),
  /** Site of the job's own destination when it is not the node's (a NAS mount in another building). */
  site: Type.Optional(SiteName),
}

/** How the copies a job writes are classified for 3-2-1-1-0. */
export const copyClassFields = {
  media: MediaType,
  offsite: Type.Optional(Type.Boolean()),
  offline: Type.Optional(Type.Boolean()),
}

export interface ResolvedCommonJob {
  readonly name: string
  readonly schedule: { readonly cron: string; readonly timezone: string } | null
  readonly catchUp: boolean
  readonly timeoutMs: number
  /** `site:` of the job's destination; absent = the node's site. */
  readonly site?: string
}

export function resolveCommon(
  input: {
    name: string
    schedule?: string | undefined
    timezone?: string | undefined
    catchUp?: boolean | undefined
    timeoutSeconds?: number | undefined
    site?: string | undefined
  },
  defaultTimezone: string,
): ResolvedCommonJob {
  return {
    name: input.name,
    schedule:
      input.schedule === undefined ? null : { cron: input.schedule, timezone: input.timezone ?? defaultTimezone },
    catchUp: input.catchUp ?? true,
    timeoutMs: (input.timeoutSeconds ?? 6 * 3600) * 1000,
    ...(input.site !== undefined ? { site: input.site } : {}),
  }
}
