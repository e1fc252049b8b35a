import { readFileSync } from 'node:fs'
import { availableParallelism, hostname } from 'node:os'
import { join } from 'node:path'
import { Compile } from 'typebox/compile'
import { LineCounter, parseDocument } from 'yaml'
import {
  BackstopError,
  isBackstopError,
  ConfigError,
  explainSchemaError as explain,
  fieldName,
  formatIssue,
  pointerToPath,
  yamlPosition as position,
  type ConfigIssue,
} from '@backstop/shared'
import { checkApiExposure } from './api-exposure.ts'
import { resolveFileAccess } from './group-input.ts'
import { resolveLedger } from './ledger-input.ts'
import { resolveEnrollment } from './enrollment.ts'
import { resolveSelfBackup } from './self-backup-input.ts'
import { resolveDatabase, resolveRetention } from './retention.ts'
import { resolveMqttLimits } from './mqtt-limits-input.ts'
import {
  CollectorConfigInput,
  OFF_ON_NETWORK,
  type InfluxExportOptions,
  type ResolvedCollectorConfig,
} from './schema.ts'

export function loadCollectorConfig(file: string): ResolvedCollectorConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new BackstopError(
      'BK_ERR_CONFIG_NOT_FOUND',
      `${file}: ${(e as Error).message}; pass --config <file> (see deploy/config/collector.example.yaml)`,
    )
  }
  return parseCollectorConfig(text, file)
}

const check = Compile(CollectorConfigInput)

export function parseCollectorConfig(text: string, file: string): ResolvedCollectorConfig {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const issues: ConfigIssue[] = doc.errors.map((e) => {
    const pos = lines.linePos(e.pos[0])
    return { file, line: pos.line, column: pos.col, field: '', message: `YAML: ${e.message.split('\n')[0]}` }
  })
  if (issues.length > 0) {
    throw new ConfigError(issues)
  }
  const raw: unknown = doc.toJS() ?? {}
  if (!check.Check(raw)) {
    const seen = new Set<string>()
    for (const e of check.Errors(raw)) {
      // An unknown key is reported twice (additionalProperties on the parent, a `false` schema on the key); keep one.
      if (e.message === 'schema is false') {
        continue
      }
      const path = pointerToPath(e.instancePath)
      const unknown =
        e.keyword === 'additionalProperties'
          ? (e.params['additionalProperties'] as string[] | undefined)?.[0]
          : undefined
      const at = position(doc, lines, unknown === undefined ? path : [...path, unknown])
      const issue = {
        file,
        ...at,
        field: fieldName(path),
        message:
          valueHints[fieldName(path)] ??
          (patternHints[fieldName(path)] !== undefined && e.keyword === 'pattern'
            ? patternHints[fieldName(path)]!
            : explain(e)),
      }
      const key = formatIssue(issue)
      if (!seen.has(key)) {
        seen.add(key)
        issues.push(issue)
      }
    }
    throw new ConfigError(issues)
  }
  const input = raw as CollectorConfigInput
  const warnings: ConfigIssue[] = []
  const report =
    (into: ConfigIssue[]) =>
    (path: (string | number)[], message: string): void => {
      into.push({ file, ...position(doc, lines, path), field: fieldName(path), message })
    }
  const enrollment = resolveEnrollment(input.enrollment, report(issues), report(warnings))
  const dataDir = input.dataDir ?? '/var/lib/backstop-collector'
  const selfBackup = resolveSelfBackup(input.selfBackup, dataDir, report(issues))
  const access = resolveFileAccess(input, report(issues))
  if (issues.length > 0) {
    throw new ConfigError(issues)
  }
  const api = {
    host: input.api?.host ?? '127.0.0.1',
    port: input.api?.port ?? 8080,
    auth: input.api?.auth ?? 'required',
  }
  exposureIssue(api, doc, lines, file)
  return {
    file,
    dataDir,
    dataDirAccess: access.dataDirAccess,
    group: access.group,
    dbFile: join(dataDir, 'collector.db'),
    mqtt: {
      host: input.mqtt?.host ?? '0.0.0.0',
      port: input.mqtt?.port ?? 1883,
      limits: resolveMqttLimits(input.mqtt?.limits),
    },
    api,
    enrollment,
    warnings: warnings.map(formatIssue),
    logLevel: input.log?.level ?? 'info',
    tls: {
      plaintext: input.tls?.plaintext ?? false,
      names: input.tls?.names ?? ['localhost', '127.0.0.1', '::1', hostname()],
      certFile: input.tls?.certFile,
      keyFile: input.tls?.keyFile,
      caFile: input.tls?.caFile,
    },
    ingest: {
      batchSize: input.ingest?.batchSize ?? 1000,
      batchIntervalMs: input.ingest?.batchIntervalMs ?? 5,
      // One core stays with the main thread (aedes, SQLite); the others verify signatures.
      verifyWorkers: input.ingest?.verifyWorkers ?? Math.max(1, Math.min(4, availableParallelism() - 1)),
    },
    export: { influx: influxOptions(input.export?.influx) },
    retention: resolveRetention(input.retention, dataDir),
    database: resolveDatabase(input.database),
    ledger: {
      ...resolveLedger(input.ledger),
      ...(input.coverage?.bareMetalImageRoles !== undefined
        ? { bareMetalImageRoles: input.coverage.bareMetalImageRoles }
        : {}),
    },
    selfBackup,
  }
}

/** Only the fields that are set, so the exporter's own defaults apply; no token = '' (the client sends none). */
function influxOptions(
  i: NonNullable<NonNullable<CollectorConfigInput['export']>['influx']> | undefined,
): InfluxExportOptions | undefined {
  if (i === undefined) {
    return undefined
  }
  return {
    url: i.url,
    token: i.token ?? '',
    org: i.org,
    bucket: i.bucket,
    ...(i.batchLines !== undefined ? { batchLines: i.batchLines } : {}),
    ...(i.maxQueueLines !== undefined ? { maxQueueLines: i.maxQueueLines } : {}),
    ...(i.timeoutMs !== undefined ? { timeoutMs: i.timeoutMs } : {}),
  }
}

/** Auth off on a non-loopback api.host is refused at configcheck, pointing at api.auth (config/api-exposure.ts). */
function exposureIssue(
  api: Parameters<typeof checkApiExposure>[0],
  doc: Parameters<typeof position>[0],
  lines: LineCounter,
  file: string,
): void {
  try {
    checkApiExposure(api)
  } catch (e) {
    const at = position(doc, lines, ['api', 'auth'])
    const message = isBackstopError(e) ? (e.detail ?? e.message) : String(e)
    throw new ConfigError([{ file, ...at, field: 'api.auth', message }])
  }
}

/** Fields whose every schema error has one explanation (a removed value, a choice between words). */
const valueHints: Readonly<Record<string, string>> = {
  'api.auth':
    `must be required (the default), off (loopback api.host only) or ${OFF_ON_NETWORK}; "auto" was removed: the ` +
    'API needs a token from the start (create the first with "backstop-collector apitoken create --name admin ' +
    '--role admin")',
}

/** A regex in an error message helps nobody; these fields say what they want instead. */
const patternHints: Readonly<Record<string, string>> = {
  group: 'must be a group name (letters, digits, _ . -) or a numeric gid, e.g. backstop-readers',
  'export.influx.url': 'must be an http:// or https:// URL with a host and no query, e.g. http://127.0.0.1:8428',
  'retention.audit.exportDir': 'must be an absolute path, e.g. /srv/backstop/audit-segments (better on another disk)',
}
