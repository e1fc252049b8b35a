import { Compile } from 'typebox/compile'
import { explainSchemaError as explain, isBackstopError, pointerToPath, validateSchedule } from '@backstop/shared'
import { jobKindNames, jobKinds, type JobKind, type ResolvedJob } from '../jobs/kinds.ts'
import { migrateLegacyRetention } from './legacy-retention.ts'
import type { AgentConfigInput } from './schema.ts'

/**
 * The `jobs:` list of the agent config, checked per kind through the job-kind table (jobs/kinds.ts): old retention
 * keys migrated (legacy-retention.ts), the kind's schema, unique names, the kind's own semantic checks, the
 * schedule. Every issue is reported at its field through `at`; outdated settings through `warn`.
 */
export type Report = (path: (string | number)[], message: string) => void

const jobChecks = Object.fromEntries(jobKindNames.map((k) => [k, Compile(jobKinds[k].schema)])) as Record<
  JobKind,
  ReturnType<typeof Compile>
>

export function resolveJobs(jobs: AgentConfigInput['jobs'], timezone: string, at: Report, warn: Report): ResolvedJob[] {
  const seen = new Map<string, number>()
  return jobs.flatMap((given, i) => {
    const resolved = resolveJob(given, i, timezone, at, warn, seen)
    return resolved === null ? [] : [resolved]
  })
}

function resolveJob(
  given: AgentConfigInput['jobs'][number],
  i: number,
  timezone: string,
  at: Report,
  warn: Report,
  seen: Map<string, number>,
): ResolvedJob | null {
  const kind = given.kind as JobKind
  if (!jobKindNames.includes(kind)) {
    at(['jobs', i, 'kind'], `unknown job kind "${given.kind}"; known kinds: ${jobKindNames.join(', ')}`)
    return null
  }
  const job = migrateLegacyRetention(kind, given, (key, message, fatal) =>
    (fatal ? at : warn)(['jobs', i, key], message),
  ) as typeof given | null
  if (job === null) {
    return null
  }
  const check = jobChecks[kind]
  if (!check.Check(job)) {
    for (const e of check.Errors(job)) {
      at(['jobs', i, ...pointerToPath(e.instancePath)], explain(e))
    }
    return null
  }
  if (seen.has(job.name)) {
    at(['jobs', i, 'name'], `duplicate job name "${job.name}" (also jobs[${seen.get(job.name)}])`)
  }
  seen.set(job.name, i)
  let resolved: ResolvedJob
  try {
    resolved = (jobKinds[kind].resolve as (input: unknown, tz: string) => ResolvedJob)(job, timezone)
  } catch (e) {
    // A kind's own semantic checks (e.g. a retention policy that would delete everything) name the job here.
    if (isBackstopError(e, 'BK_ERR_CONFIG_INVALID')) {
      at(['jobs', i], e.detail ?? e.message)
      return null
    }
    throw e
  }
  if (resolved.schedule) {
    try {
      validateSchedule(resolved.schedule)
    } catch (e) {
      at(
        ['jobs', i, resolved.schedule.timezone === timezone && !('timezone' in job) ? 'schedule' : 'timezone'],
        (e as Error).message,
      )
    }
  }
  return resolved
}
