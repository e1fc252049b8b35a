import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Compile } from 'typebox/compile'
import { LineCounter, parseDocument } from 'yaml'
import { lookupGroup } from '@backstop/node-io'
import {
  BackstopError,
  ConfigError,
  explainSchemaError as explain,
  fieldName,
  formatIssue,
  isValidNodeId,
  isValidTimeZone,
  pointerToPath,
  yamlPosition as position,
  type ConfigIssue,
} from '@backstop/shared'
import type { KeepBounds } from '../outbox/keep-bounds.ts'
import { checkCollectorSection } from './collector-checks.ts'
import { resolveJobs } from './resolve-jobs.ts'
import { AgentConfigInput, type ResolvedAgentConfig, type ResolvedHealthConfig } from './schema.ts'

export interface LoadEnv {
  /** Used for the default node id. */
  readonly hostname: string
}

export function loadAgentConfig(file: string, env: LoadEnv): ResolvedAgentConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new BackstopError('BK_ERR_CONFIG_NOT_FOUND', `${file}: ${(e as Error).message}; pass --config <file>`)
  }
  return parseAgentConfig(text, file, env)
}

const topCheck = Compile(AgentConfigInput)

export function parseAgentConfig(text: string, file: string, env: LoadEnv): ResolvedAgentConfig {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const issues: ConfigIssue[] = []
  const at = (path: (string | number)[], message: string): void => {
    issues.push({ file, ...position(doc, lines, path), field: fieldName(path), message })
  }
  const warnings: ConfigIssue[] = []
  const warn = (path: (string | number)[], message: string): void => {
    warnings.push({ file, ...position(doc, lines, path), field: fieldName(path), message })
  }
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0])
    issues.push({ file, line: pos.line, column: pos.col, field: '', message: `YAML: ${e.message.split('\n')[0]}` })
  }
  if (issues.length > 0) {
    throw new ConfigError(issues)
  }
  const raw: unknown = doc.toJS() ?? {}
  if (!topCheck.Check(raw)) {
    for (const e of topCheck.Errors(raw)) {
      if (!e.instancePath.startsWith('/jobs/') || e.instancePath.split('/').length <= 3) {
        at(pointerToPath(e.instancePath), explain(e))
      }
    }
    throw new ConfigError(dedupe(issues))
  }
  const input = raw as AgentConfigInput
  const timezone = input.timezone ?? 'UTC'
  if (!isValidTimeZone(timezone)) {
    at(['timezone'], `unknown IANA time zone "${timezone}" (e.g. "UTC", "Europe/Amsterdam")`)
  }
  const node = input.node ?? env.hostname.toLowerCase()
  if (!isValidNodeId(node)) {
    at(['node'], `"${node}" is not a valid node id; set node: to lowercase letters, digits, '.', '_' or '-'`)
  }
  checkCollectorSection(input.collector, at)
  const group = input.group === undefined ? undefined : lookupGroup(input.group)
  if (input.group !== undefined && group === undefined) {
    at(
      ['group'],
      `no group ${JSON.stringify(input.group)} on this machine (/etc/group); create it (groupadd ${input.group}), ` +
        'give its numeric id, or remove group: to keep copies and state owner-only (0600)',
    )
  }
  if (input.collector.enrollmentToken && input.collector.enrollmentTokenFile) {
    at(['collector', 'enrollmentTokenFile'], 'set enrollmentToken or enrollmentTokenFile, not both')
  }
  const jobs = resolveJobs(input.jobs, timezone, at, warn)
  const health = resolveHealth(input.health, at)
  const keep = input.outbox?.keep
  if (keep?.alertAfterHours !== undefined && keep.alertAfterHours >= (keep.maxAgeHours ?? 720)) {
    at(
      ['outbox', 'keep', 'alertAfterHours'],
      `${keep.alertAfterHours} is not below maxAgeHours (${keep.maxAgeHours ?? 720}): kept events are released at ` +
        'maxAgeHours, so outbox-backlog would never warn before they go; lower alertAfterHours or raise maxAgeHours',
    )
  }
  if (issues.length > 0) {
    throw new ConfigError(dedupe(issues))
  }
  const stateDir = input.stateDir ?? '/var/lib/backstop-agent'
  return {
    file,
    node,
    site: input.site ?? 'default',
    ...(input.role !== undefined ? { role: input.role } : {}),
    stateDir,
    ...(group !== undefined ? { group } : {}),
    ...(input.sshKeys !== undefined ? { sshKeys: input.sshKeys } : {}),
    timezone,
    collector: {
      url: input.collector.url,
      enrollmentToken: input.collector.enrollmentToken ?? null,
      enrollmentTokenFile: input.collector.enrollmentTokenFile ?? null,
      fingerprint: input.collector.fingerprint ?? null,
    },
    commands: { allow: input.commands?.allow ?? [] },
    outbox: {
      dir: join(stateDir, 'outbox'),
      maxBytes: input.outbox?.maxBytes ?? 256 * 1024 * 1024,
      ...resolveKeep(input.outbox?.keep),
    },
    heartbeatMs: (input.heartbeatSeconds ?? 30) * 1000,
    logLevel: input.log?.level ?? 'info',
    jobs,
    health,
    warnings: warnings.map(formatIssue),
  }
}

/** `outbox.keep` with its defaults (docs/reliability.md "Outbox retention"); on unless `enabled: false`. */
function resolveKeep(k: NonNullable<AgentConfigInput['outbox']>['keep']): { keep?: KeepBounds } {
  if (k?.enabled === false) {
    return {}
  }
  const hours = 3600_000
  return {
    keep: {
      maxBytes: k?.maxBytes ?? 256 * 1024 * 1024,
      maxAgeMs: (k?.maxAgeHours ?? 720) * hours,
      // By default well before the age bound, however short that is set.
      alertAfterMs: (k?.alertAfterHours ?? Math.min(48, Math.ceil((k?.maxAgeHours ?? 720) / 2))) * hours,
    },
  }
}

/** The `health:` section with its defaults; an interval that is no clean cron step is reported at its line. */
export function resolveHealth(
  h: AgentConfigInput['health'],
  at: (path: (string | number)[], message: string) => void = () => undefined,
): ResolvedHealthConfig {
  const intervalMinutes = h?.intervalMinutes ?? 60
  if (healthCron(intervalMinutes) === null) {
    at(
      ['health', 'intervalMinutes'],
      `${intervalMinutes} does not divide an hour or a day evenly; use e.g. 15, 30, 60, 120, 360 or 1440`,
    )
  }
  return {
    intervalMinutes,
    smartctl: h?.smartctl ?? null,
    backupTargets: h?.backupTargets ?? null,
    deviceTypes: h?.deviceTypes ?? {},
    skip: h?.skip ?? [],
    extra: h?.extra ?? [],
  }
}

/**
 * The cron for a health interval: `*\/N` minutes when N divides 60, `0 *\/H` hours when N is whole hours dividing 24.
 */
export function healthCron(intervalMinutes: number): string | null {
  if (intervalMinutes >= 1 && 60 % intervalMinutes === 0) {
    return intervalMinutes === 60 ? '0 * * * *' : `*/${intervalMinutes} * * * *`
  }
  if (intervalMinutes % 60 === 0 && 1440 % intervalMinutes === 0) {
    return intervalMinutes === 1440 ? '0 0 * * *' : `0 */${intervalMinutes / 60} * * *`
  }
  return null
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>()
  return issues.filter((i) => {
    const key = formatIssue(i)
    return seen.has(key) ? false : (seen.add(key), true)
  })
}
