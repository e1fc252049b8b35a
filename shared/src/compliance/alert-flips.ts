import type { Tier } from './policy.ts'

/**
 * Alerts as transitions (flips). A condition ("asset X missed its backup") is evaluated over and over; only a
 * change of state or severity is a flip, so re-evaluating is idempotent and notifications are deduplicated by
 * the alert key. Acks last until the alert resolves or escalates; silences and maintenance windows only hold
 * back notifications — the state is still recorded and published.
 */
export const alertKinds = [
  'missed-backup',
  'run-failed',
  'run-anomaly',
  'non-compliant',
  'node-down',
  'coverage-gap',
  'unhealthy-device',
  'outbox-backlog',
  'outbox-uncovered',
  'self-backup-failed',
  'self-backup-overdue',
  'collector-disk-fill',
  'collector-disk-forecast',
  'immutability-lost',
  'replica-diverged',
  'replication-failed',
] as const
export type AlertKind = (typeof alertKinds)[number]

export const severities = ['info', 'warning', 'critical'] as const
export type Severity = (typeof severities)[number]

export function severityRank(s: Severity): number {
  return severities.indexOf(s)
}

export function severityForTier(t: Tier): Severity {
  return t === 'critical' ? 'critical' : t === 'standard' ? 'warning' : 'info'
}

/** Stable dedupe key; also an MQTT topic suffix (alertTopics.state), so levels are separated by '/'. */
export function alertKey(kind: AlertKind, node: string, subject?: string): string {
  return subject === undefined ? `${kind}/${node}` : `${kind}/${node}/${subject}`
}

/** How many leading subject levels come before `<asset kind>/<asset id>`, or undefined when a kind is not per asset. */
function assetSubjectOffset(kind: AlertKind): number | undefined {
  switch (kind) {
    case 'missed-backup':
      return 1 // <job>/<asset kind>/<asset id> (job names never contain '/')
    case 'non-compliant':
      return 0 // <asset kind>/<asset id>
    case 'run-failed':
    case 'run-anomaly':
    case 'node-down':
    case 'coverage-gap':
    case 'unhealthy-device':
    case 'outbox-backlog':
    case 'outbox-uncovered':
    case 'self-backup-failed':
    case 'self-backup-overdue':
    case 'collector-disk-fill':
    case 'collector-disk-forecast':
    case 'immutability-lost':
    case 'replica-diverged':
    case 'replication-failed':
      return undefined
    default: {
      const unknownKind: never = kind
      return unknownKind
    }
  }
}

/** Kinds raised per asset, whose subject ends in `<asset kind>/<asset id>` (missed-backup, non-compliant). */
export const assetAlertKinds: readonly AlertKind[] = alertKinds.filter((k) => assetSubjectOffset(k) !== undefined)

/** The asset (`<node>/<asset kind>/<asset id>`) that a key of an assetAlertKinds alert is about; else undefined. */
export function alertAsset(key: string): string | undefined {
  const [kind, node, ...subject] = key.split('/')
  const offset = (alertKinds as readonly string[]).includes(kind ?? '')
    ? assetSubjectOffset(kind as AlertKind)
    : undefined
  if (offset === undefined || node === undefined || subject.length < offset + 2) {
    return undefined
  }
  return `${node}/${subject.slice(offset).join('/')}`
}

export type AlertState = 'firing' | 'resolved'

export interface AlertCondition {
  readonly key: string
  readonly kind: AlertKind
  readonly severity: Severity
  readonly node?: string | undefined
  readonly summary: string
  readonly firing: boolean
}

export interface AlertRecord {
  readonly key: string
  readonly kind: AlertKind
  readonly node?: string | undefined
  readonly state: AlertState
  readonly severity: Severity
  readonly summary: string
  /** When the current state began. */
  readonly since: number
  readonly ackedAt: number | null
  readonly ackedBy: string | null
  readonly silencedUntil: number | null
}

export interface AlertFlip {
  readonly key: string
  readonly kind: AlertKind
  readonly node?: string | undefined
  readonly from: AlertState | 'none'
  readonly to: AlertState
  readonly severity: Severity
  readonly summary: string
  readonly at: number
}

export interface Applied {
  readonly record: AlertRecord | undefined
  readonly flip: AlertFlip | null
}

export function applyCondition(rec: AlertRecord | undefined, c: AlertCondition, at: number): Applied {
  const flip = (from: AlertFlip['from'], to: AlertState): AlertFlip => ({
    key: c.key,
    kind: c.kind,
    node: c.node,
    from,
    to,
    severity: c.severity,
    summary: c.summary,
    at,
  })
  if (rec === undefined) {
    if (!c.firing) {
      return { record: undefined, flip: null }
    }
    const record: AlertRecord = {
      key: c.key,
      kind: c.kind,
      node: c.node,
      state: 'firing',
      severity: c.severity,
      summary: c.summary,
      since: at,
      ackedAt: null,
      ackedBy: null,
      silencedUntil: null,
    }
    return { record, flip: flip('none', 'firing') }
  }
  if (rec.state === 'firing' && c.firing) {
    if (rec.severity === c.severity) {
      // Same condition again: refresh the text, no flip, no notification.
      return { record: { ...rec, summary: c.summary }, flip: null }
    }
    const escalated = severityRank(c.severity) > severityRank(rec.severity)
    const record: AlertRecord = {
      ...rec,
      severity: c.severity,
      summary: c.summary,
      ackedAt: escalated ? null : rec.ackedAt,
      ackedBy: escalated ? null : rec.ackedBy,
    }
    return { record, flip: flip('firing', 'firing') }
  }
  if (rec.state === 'firing' && !c.firing) {
    return {
      record: { ...rec, state: 'resolved', since: at, summary: c.summary, ackedAt: null, ackedBy: null },
      flip: flip('firing', 'resolved'),
    }
  }
  if (c.firing) {
    const record: AlertRecord = {
      ...rec,
      state: 'firing',
      severity: c.severity,
      summary: c.summary,
      since: at,
      ackedAt: null,
      ackedBy: null,
    }
    return { record, flip: flip('resolved', 'firing') }
  }
  return { record: rec, flip: null }
}

export interface MaintenanceWindow {
  readonly start: number
  readonly end: number
  /** Limit to one node; absent = whole fleet. */
  readonly node?: string | undefined
  /** Limit to alert keys starting with this; absent = every key. */
  readonly keyPrefix?: string | undefined
}

export function inMaintenance(
  flip: Pick<AlertFlip, 'key' | 'node' | 'at'>,
  windows: readonly MaintenanceWindow[],
): boolean {
  return windows.some(
    (w) =>
      flip.at >= w.start &&
      flip.at < w.end &&
      (w.node === undefined || w.node === flip.node) &&
      (w.keyPrefix === undefined || flip.key.startsWith(w.keyPrefix)),
  )
}

export type NotifyDecision = 'notify' | 'acked' | 'silenced' | 'maintenance' | 'below-threshold'

/**
 * Whether a flip goes out to the notification channels. Severity changes of an acked alert stay quiet unless
 * they escalate (applyCondition clears the ack then); resolutions go out so receivers can close what they opened.
 */
export function notifyDecision(
  flip: AlertFlip,
  rec: AlertRecord | undefined,
  windows: readonly MaintenanceWindow[],
  minSeverity: Severity = 'warning',
): NotifyDecision {
  if (severityRank(flip.severity) < severityRank(minSeverity)) {
    return 'below-threshold'
  }
  if (rec !== undefined && rec.silencedUntil !== null && flip.at < rec.silencedUntil) {
    return 'silenced'
  }
  if (inMaintenance(flip, windows)) {
    return 'maintenance'
  }
  if (flip.to === 'firing' && flip.from === 'firing' && rec?.ackedAt !== null && rec?.ackedAt !== undefined) {
    return 'acked'
  }
  return 'notify'
}
